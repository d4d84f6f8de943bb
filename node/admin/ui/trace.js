// The live trace of one user: GET /v1/trace?user=U as Server-Sent Events
// (the session cookie goes along), one JSON event per message, shown as a
// timeline with the newest at the bottom. A trace id opens the events of
// that call (GET /v1/trace?trace=ID) in a panel.
import { api } from './api.js';
import { el, fill, table, mono, badge, fmtClock } from './dom.js';
import { report } from './notify.js';

const $ = (id) => document.getElementById(id);
const MAX_ROWS = 500;
const FIELDS = ['device', 'session', 'id', 'seq', 'event', 'room', 'reason', 'name', 'ms', 'code'];
let source = null;
let count = 0;

export const running = () => source !== null;

export function start(user) {
  stop();
  const url = `/v1/trace?user=${encodeURIComponent(user)}`;
  const es = new EventSource(url, { withCredentials: true });
  source = es;
  $('trace-toggle').textContent = 'Stop trace';
  status('connecting…');
  es.onopen = () => status(`live · ${count} events`);
  es.onmessage = (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch {
      report(`trace: an event that is not JSON: ${String(m.data).slice(0, 200)}`);
      return;
    }
    addRow(ev);
    status(`live · ${count} events`);
  };
  es.onerror = () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      stop('stopped: the stream failed');
      explain(url);
    } else {
      status('reconnecting…');
    }
  };
}

export function stop(why = 'stopped') {
  if (!source) return;
  source.close();
  source = null;
  $('trace-toggle').textContent = 'Start trace';
  status(why);
}

export function clear() {
  fill($('trace-table').tBodies[0]);
  count = 0;
  $('trace-detail').hidden = true;
  if (!source) status('');
}

function status(text) {
  $('trace-status').textContent = text;
}

/**
 * EventSource does not say why a stream failed: ask once with fetch and
 * show the API's error, dropping the stream if it was served after all.
 */
async function explain(url) {
  const abort = new AbortController();
  try {
    const res = await fetch(url, { credentials: 'same-origin', signal: abort.signal, headers: { Accept: 'text/event-stream' } });
    if (res.ok) {
      report(`trace: the stream of ${url} closed; start it again`);
      return;
    }
    const text = await res.text();
    let message = text.trim();
    try {
      message = JSON.parse(text).error.message;
    } catch {
      // plain text
    }
    report(`GET ${url}: ${res.status} ${message}`);
  } catch (err) {
    report(`GET ${url}: ${err.message}`);
  } finally {
    abort.abort();
  }
}

/** The fields of an event beyond time, node and type, as key=value chips. */
function details(ev) {
  return FIELDS.filter((k) => ev[k] !== undefined && ev[k] !== null && ev[k] !== '')
    .map((k) => el('span', { class: 'kv' }, el('span', { class: 'k', text: k }), mono(String(ev[k]))));
}

function traceLink(id) {
  if (!id) return '';
  return el('a', { href: '#', class: 'mono', 'data-trace': id, onclick: (e) => {
    e.preventDefault();
    openTrace(id);
  }, text: id });
}

function addRow(ev) {
  const body = $('trace-table').tBodies[0];
  const scroller = $('trace-scroll');
  const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 24;
  body.append(el('tr', { 'data-type': ev.type },
    el('td', { class: 'mono', text: fmtClock(ev.ts) }),
    el('td', {}, mono(ev.node)),
    el('td', {}, badge(ev.type)),
    el('td', {}, details(ev)),
    el('td', {}, traceLink(ev.trace_id)),
  ));
  count++;
  while (body.rows.length > MAX_ROWS) body.rows[0].remove();
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
}

async function openTrace(id) {
  const panel = $('trace-detail');
  panel.hidden = false;
  const close = el('button', { type: 'button', class: 'ghost', text: 'Close', onclick: () => { panel.hidden = true; } });
  fill(panel, el('div', { class: 'title-row' }, el('h3', {}, 'trace ', mono(id)), close), el('p', { class: 'dim', text: 'loading…' }));
  try {
    const r = await api('GET', `/v1/trace?trace=${encodeURIComponent(id)}`);
    const events = Array.isArray(r.events) ? r.events : [];
    panel.lastChild.replaceWith(table(['Time', 'Node', 'User', 'Type', 'Details'],
      events.map((ev) => [el('span', { class: 'mono', text: fmtClock(ev.ts) }), mono(ev.node), mono(ev.user), badge(ev.type), el('span', {}, details(ev))]),
      { empty: 'no events kept for this trace id' }));
  } catch (err) {
    panel.lastChild.replaceWith(el('p', { class: 'error-text', text: err.message }));
  }
}
