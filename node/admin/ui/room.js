// Room page: members per node and the room's recent log.
import { api, seg } from './api.js';
import { el, fill, table, mono, fmtTime, fmtNum } from './dom.js';

const $ = (id) => document.getElementById(id);
let room = '';

export function show(arg) {
  room = arg;
  $('room-input').value = arg;
  $('room-view').hidden = !arg;
  if (arg) load();
  else $('room-input').focus();
}

export function hide() {}

async function load() {
  const r0 = room;
  $('room-title').textContent = r0;
  let r;
  try {
    r = await api('GET', `/v1/rooms/${seg(r0)}`);
  } catch (err) {
    if (r0 !== room) return;
    $('room-summary').textContent = '';
    fill($('room-nodes'), el('p', { class: 'error-text', text: err.message }));
    fill($('room-recent'));
    return;
  }
  if (r0 !== room) return;
  const nodes = Array.isArray(r.nodes) ? r.nodes : [];
  const seq = typeof r.last_seq === 'number' ? ` · last seq ${r.last_seq}` : '';
  $('room-summary').textContent = `${fmtNum(r.members ?? 0)} member session${r.members === 1 ? '' : 's'} on ${nodes.length} node${nodes.length === 1 ? '' : 's'}${seq}`;
  // without members_by_node the count per node is known only for one node
  const byNode = r.members_by_node && typeof r.members_by_node === 'object'
    ? Object.entries(r.members_by_node).map(([n, c]) => [mono(n), fmtNum(c)])
    : nodes.map((n) => [mono(n), nodes.length === 1 ? fmtNum(r.members) : '—']);
  fill($('room-nodes'), table(['Node', '#Members'], byNode, { empty: 'no members' }));
  fill($('room-recent'), Array.isArray(r.recent)
    ? table(['Id', '#Seq', 'Event', 'Time', 'Expires'],
      r.recent.map((m) => [mono(m.id), m.seq, mono(m.event), fmtTime(m.ts), fmtTime(m.expires_at)]), { empty: 'no cached messages' })
    : el('p', { class: 'dim', text: 'this node does not report the room log' }));
}

$('room-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('room-input').value.trim();
  if (!name) return;
  const hash = `#/room/${seg(name)}`;
  if (location.hash === hash) show(name);
  else location.hash = hash;
});
