// Building the page from data: every string goes in as text (textContent
// or a text node), never as HTML.

/**
 * el('td', {class: 'mono', text: id}), el('a', {href: '#/x', onclick: f}, child, 'text').
 * Props: class, text, on<event> listeners, anything else as an attribute.
 */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/** Empties node and puts children in. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

/**
 * A table: heads are strings (a leading '#' right-aligns the column);
 * rows are arrays of cells, each a string, a number or a node.
 */
export function table(heads, rows, { empty = 'none', cls = 'grid' } = {}) {
  const num = heads.map((h) => h.startsWith('#'));
  const head = el('tr', {}, heads.map((h, i) => el('th', { class: num[i] ? 'num' : undefined, text: num[i] ? h.slice(1) : h })));
  const body = rows.length
    ? rows.map((r) => el('tr', {}, r.map((c, i) => el('td', { class: num[i] ? 'num' : undefined }, c ?? ''))))
    : [el('tr', {}, el('td', { class: 'dim', colspan: heads.length, text: empty }))];
  return el('table', { class: cls }, el('thead', {}, head), el('tbody', {}, body));
}

/** Monospace text, for ids. */
export const mono = (s) => el('span', { class: 'mono', text: s ?? '' });

/** A coloured label: kind picks the colour (a node state, a trace type). */
export const badge = (text, kind = text) => el('span', { class: `badge b-${String(kind).replace(/[^a-z_-]/gi, '')}`, text });

/** An RFC 3339 time as local "YYYY-MM-DD HH:MM:SS"; the input itself when unparsable. */
export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A time of day with milliseconds, for the trace timeline. */
export function fmtClock(s) {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s ?? '');
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A number for a table; '' when absent. */
export function fmtNum(n, digits = 0) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
