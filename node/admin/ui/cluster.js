// Cluster page: GET /v1/cluster every 2 s while it is on show.
import { api } from './api.js';
import { el, fill, mono, badge, fmtNum } from './dom.js';
import { report } from './notify.js';

const $ = (id) => document.getElementById(id);
const EVERY_MS = 2000;
let timer = null;
let busy = false;

export function show() {
  hide();
  refresh();
  timer = setInterval(refresh, EVERY_MS);
}

export function hide() {
  clearInterval(timer);
  timer = null;
}

async function refresh() {
  if (busy) return; // a slow answer is not stacked with the next
  busy = true;
  try {
    const r = await api('GET', '/v1/cluster');
    if (timer !== null) render(Array.isArray(r.nodes) ? r.nodes : []);
    $('cluster-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $('cluster-updated').textContent = 'update failed';
    report(err);
  } finally {
    busy = false;
  }
}

const mib = (bytes) => (typeof bytes === 'number' ? bytes / (1 << 20) : undefined);

function render(nodes) {
  const t = $('cluster-table');
  const rows = [...nodes].sort((a, b) => String(a.id).localeCompare(String(b.id)));
  fill(t.tBodies[0], rows.map((n) => el('tr', { 'data-node': n.id },
    el('td', {}, mono(n.id)),
    el('td', {}, mono(n.addr)),
    el('td', {}, badge(n.state)),
    el('td', { class: 'num', text: fmtNum(n.sessions) }),
    el('td', { class: 'num', text: fmtNum(n.msgs_per_s, 1) || '—' }),
    el('td', { class: 'num', text: fmtNum(mib(n.memory_bytes), 1) || '—' }),
  )));
  const sum = (f) => rows.reduce((s, n) => (typeof f(n) === 'number' ? (s ?? 0) + f(n) : s), undefined);
  const alive = rows.filter((n) => n.state === 'alive').length;
  fill(t.tFoot, el('tr', {},
    el('td', { colspan: 3, text: `${rows.length} node${rows.length === 1 ? '' : 's'}, ${alive} alive` }),
    el('td', { class: 'num', text: fmtNum(sum((n) => n.sessions) ?? 0) }),
    el('td', { class: 'num', text: fmtNum(sum((n) => n.msgs_per_s), 1) || '—' }),
    el('td', { class: 'num', text: fmtNum(mib(sum((n) => n.memory_bytes)), 1) || '—' }),
  ));
}
