// User page: sessions by node, the mailbox per device, the dye, the
// actions (disconnect, test push, dye / undye) and the live trace.
import { api, seg } from './api.js';
import { el, fill, table, mono, badge, fmtTime } from './dom.js';
import { report } from './notify.js';
import * as trace from './trace.js';

const $ = (id) => document.getElementById(id);
let user = ''; // the user on show

export function show(arg) {
  $('user-input').value = arg;
  if (arg !== user) {
    trace.stop();
    trace.clear();
    setResult('');
  }
  user = arg;
  $('user-view').hidden = !arg;
  if (!arg) {
    $('user-input').focus();
    return;
  }
  $('user-title').textContent = arg;
  load();
}

export function hide() {
  trace.stop();
}

/** Loads the three views of the user at once; each shows its own error. */
async function load() {
  const u = user;
  const [info, mailbox, dyes] = await Promise.allSettled([
    api('GET', `/v1/users/${seg(u)}`),
    api('GET', `/v1/users/${seg(u)}/mailbox`),
    api('GET', '/v1/dye'),
  ]);
  if (u !== user) return; // another user was asked for meanwhile
  renderSessions(info);
  renderMailbox(mailbox);
  renderDye(dyes);
}

const failed = (r) => el('p', { class: 'error-text', text: r.reason?.message || String(r.reason) });

function renderSessions(r) {
  const box = $('user-sessions');
  if (r.status === 'rejected') {
    $('user-pending').textContent = '';
    fill(box, failed(r));
    return;
  }
  const info = r.value;
  $('user-pending').textContent = `${info.pending ?? 0} pending`;
  const sessions = Array.isArray(info.sessions) ? info.sessions : [];
  if (!sessions.length) {
    fill(box, el('p', { class: 'dim', text: 'no sessions' }));
    return;
  }
  const byNode = new Map();
  for (const s of sessions) {
    if (!byNode.has(s.node)) byNode.set(s.node, []);
    byNode.get(s.node).push(s);
  }
  fill(box, [...byNode].map(([node, list]) => el('div', { class: 'group', 'data-node': node },
    el('h3', {}, 'node ', mono(node), el('span', { class: 'dim', text: ` · ${list.length} session${list.length === 1 ? '' : 's'}` })),
    table(['Session', 'Device', 'Connected at'], list.map((s) => [mono(s.id), mono(s.device), fmtTime(s.connected_at)])),
  )));
}

const messageRows = (list) => list.map((m) => [mono(m.id), m.seq, mono(m.event), fmtTime(m.ts), fmtTime(m.expires_at)]);

function renderMailbox(r) {
  const box = $('user-mailbox');
  if (r.status === 'rejected') {
    fill(box, failed(r));
    return;
  }
  const m = r.value;
  const devices = Array.isArray(m.devices) ? m.devices : [];
  fill(box,
    el('p', { class: 'dim', text: `${m.held ?? 0} message${m.held === 1 ? '' : 's'} held · last seq ${m.last_seq ?? 0}` }),
    devices.length ? devices.map((d) => el('div', { class: 'card device', 'data-device': d.device },
      el('h3', {}, 'device ', mono(d.device), el('span', { class: 'dim', text: ` · cursor ${d.cursor ?? 0}` })),
      el('p', {}, 'rooms: ', (d.rooms?.length ? d.rooms.map((room) => badge(room, 'room')) : el('span', { class: 'dim', text: 'none' }))),
      table(['Pending id', '#Seq', 'Event', 'Time', 'Expires'], messageRows(d.pending || []), { empty: 'nothing pending' }),
    )) : el('p', { class: 'dim', text: 'no known devices' }),
  );
}

function renderDye(r) {
  const pill = $('user-dye');
  if (r.status === 'rejected') {
    pill.className = 'pill';
    pill.textContent = 'dye unknown';
    report(r.reason);
    return;
  }
  const d = (Array.isArray(r.value) ? r.value : []).find((x) => x.user === user);
  pill.className = d ? 'pill on' : 'pill';
  pill.textContent = d ? `dyed: ${d.env} until ${fmtTime(d.expires_at)}` : 'not dyed';
  if (d && !$('dye-env').value) $('dye-env').value = d.env;
}

function setResult(text, ok = true) {
  const p = $('act-result');
  p.textContent = text;
  p.className = ok ? 'result ok' : 'result err';
}

/** Runs one action with its button disabled; shows its outcome, then reloads. */
async function act(button, fn) {
  button.disabled = true;
  try {
    setResult(await fn());
    load();
  } catch (err) {
    setResult(err.message, false);
  } finally {
    button.disabled = false;
  }
}

function go(name) {
  const hash = `#/user/${seg(name)}`;
  if (location.hash === hash) show(name);
  else location.hash = hash;
}

$('user-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('user-input').value.trim();
  if (name) go(name);
});

$('user-refresh').addEventListener('click', () => user && load());

$('act-disconnect').addEventListener('click', (e) => {
  if (!window.confirm(`Disconnect every session of ${user}, on every node?`)) return;
  act(e.currentTarget, async () => {
    const r = await api('POST', `/v1/users/${seg(user)}/disconnect`);
    return `disconnected ${r.disconnected} session${r.disconnected === 1 ? '' : 's'}`;
  });
});

$('push-form').addEventListener('submit', (e) => {
  e.preventDefault();
  act($('push-send'), async () => {
    const text = $('push-data').value.trim();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (err) {
        throw new Error(`data is not JSON: ${err.message}`);
      }
    }
    const body = { to: { users: [user] }, event: $('push-event').value.trim(), data, ttl: Number($('push-ttl').value || 0) };
    const r = await api('POST', '/v1/push', body);
    return `push accepted: id ${r.id}`;
  });
});

$('dye-form').addEventListener('submit', (e) => {
  e.preventDefault();
  act($('dye-set'), async () => {
    const env = $('dye-env').value.trim();
    const r = await api('PUT', `/v1/dye/${seg(user)}`, { env, ttl: Number($('dye-ttl').value || 3600) });
    return `dyed ${r.user}: ${r.env} until ${fmtTime(r.expires_at)}`;
  });
});

$('dye-clear').addEventListener('click', (e) => {
  act(e.currentTarget, async () => {
    await api('DELETE', `/v1/dye/${seg(user)}`);
    $('dye-env').value = '';
    return `undyed ${user}`;
  });
});

$('trace-toggle').addEventListener('click', () => (trace.running() ? trace.stop() : trace.start(user)));
$('trace-clear').addEventListener('click', () => trace.clear());
