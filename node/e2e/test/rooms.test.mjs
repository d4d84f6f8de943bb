// Rooms: join rights from the token, room pushes, replay to late joiners.
import assert from 'node:assert/strict';
import { test, before, after, afterEach } from 'node:test';
import {
  useServer, testWith, connectClient, disconnected, push, api, uid, cliToken, request,
  waitUntil, assertMeta, QUIET_MS,
} from '../lib/courier.mjs';

const server = useServer({ before, after, afterEach });
const t = testWith(test, server);

async function join(socket, room) {
  const ack = await request(socket, 'join', { room });
  assert.deepEqual(ack?.ok, true, `join ${room} answered ${JSON.stringify(ack)}`);
  return ack;
}

async function roomInfo(room) {
  return api(server(), 'GET', `/v1/rooms/${encodeURIComponent(room)}`);
}

t('9. join is allowed by the token rooms patterns, otherwise forbidden', async () => {
  const user = uid('player');
  const token = await cliToken({ user, rooms: 'game:*', ttl: '1h' });
  const { socket } = await connectClient(server(), { token, device: 'd' });

  const ok = await request(socket, 'join', { room: 'game:1' });
  assert.equal(ok?.ok, true, `join game:1 answered ${JSON.stringify(ok)}`);

  const no = await request(socket, 'join', { room: 'other' });
  assert.equal(no?.ok, false, `join other answered ${JSON.stringify(no)}`);
  assert.equal(no.error?.code, 'forbidden', `join other answered ${JSON.stringify(no)}`);
  assert.equal(typeof no.error.message, 'string', `join other answered ${JSON.stringify(no)}`);

  // a pattern is a prefix wildcard, not a substring match
  const no2 = await request(socket, 'join', { room: 'xgame:1' });
  assert.equal(no2?.ok, false, `join xgame:1 answered ${JSON.stringify(no2)}`);
  assert.equal(no2.error?.code, 'forbidden');

  // a token without rooms may join nothing
  const bare = await connectClient(server(), { user: uid('bare'), device: 'd' });
  const no3 = await request(bare.socket, 'join', { room: 'game:1' });
  assert.equal(no3?.ok, false, `join without rights answered ${JSON.stringify(no3)}`);
  assert.equal(no3.error?.code, 'forbidden');
});

t('10. room push reaches members with meta.room, not non-members', async () => {
  const room = `game:${uid('r')}`;
  const member = await connectClient(server(), { user: uid('member'), rooms: ['game:*'], device: 'd' });
  const outsider = await connectClient(server(), { user: uid('outsider'), rooms: ['game:*'], device: 'd' });
  await join(member.socket, room);

  const info = await roomInfo(room);
  assert.equal(info.status, 200, `GET /v1/rooms/${room} -> ${info.status} ${info.text}`);
  assert.equal(info.json.room, room);
  assert.equal(info.json.members, 1, info.text);
  assert.ok(Array.isArray(info.json.nodes), info.text);

  const id = await push(server(), { to: { rooms: [room] }, event: 'move', data: { x: 3 }, ttl: 60 });
  const m = await member.inbox.next();
  assert.equal(m.event, 'move');
  assert.deepEqual(m.data, { x: 3 });
  assertMeta(m.meta, { id, room });
  assert.equal(typeof m.ack, 'function');
  await outsider.inbox.expectNone(() => true, QUIET_MS, 'room message at a non-member');

  // seq rises by one within the room log
  const id2 = await push(server(), { to: { rooms: [room] }, event: 'move', data: { x: 4 }, ttl: 60 });
  const m2 = await member.inbox.next();
  assertMeta(m2.meta, { id: id2, room });
  assert.equal(m2.meta.seq, m.meta.seq + 1);
});

t('10b. leave: a member that left gets no more room messages', async () => {
  const room = `game:${uid('r')}`;
  const c = await connectClient(server(), { user: uid('leaver'), rooms: ['game:*'], device: 'd' });
  await join(c.socket, room);
  const id1 = await push(server(), { to: { rooms: [room] }, event: 'm', data: 1, ttl: 60 });
  assertMeta((await c.inbox.next()).meta, { id: id1, room });

  const ack = await request(c.socket, 'leave', { room });
  assert.equal(ack?.ok, true, `leave answered ${JSON.stringify(ack)}`);
  await waitUntil(async () => (await roomInfo(room)).json?.members === 0, { what: `GET /v1/rooms/${room} members 0` });

  const id2 = await push(server(), { to: { rooms: [room] }, event: 'm', data: 2, ttl: 60 });
  await c.inbox.expectNone((m) => m.meta?.id === id2, QUIET_MS, 'room message after leave');
});

t('11. a member joining within the ttl gets what was pushed to the room before', async () => {
  const room = `game:${uid('r')}`;
  const id = await push(server(), { to: { rooms: [room] }, event: 'state', data: { board: 'x' }, ttl: 60 });

  const user = uid('late');
  const first = await connectClient(server(), { user, rooms: ['game:*'], device: 'd', autoAck: false });
  assert.equal(first.inbox.items.length, 0, 'room message before joining');
  await join(first.socket, room);
  const m = await first.inbox.next();
  assert.equal(m.event, 'state');
  assert.deepEqual(m.data, { board: 'x' });
  assertMeta(m.meta, { id, room });

  // not acknowledged: a reconnect (and re-join) within the ttl gets it again
  const gone = disconnected(first.socket);
  first.socket.disconnect();
  await gone;
  const second = await connectClient(server(), { user, rooms: ['game:*'], device: 'd' });
  await join(second.socket, room);
  const again = await second.inbox.next();
  assertMeta(again.meta, { id, room, what: 'replay after reconnect' });

  // acknowledged now (autoAck): no resend after --ack-timeout 1s shows the ack was taken
  await second.inbox.expectNone((x) => x !== again && x.meta?.id === id, QUIET_MS, `resend of acknowledged room message ${id}`);
  const gone2 = disconnected(second.socket);
  second.socket.disconnect();
  await gone2;
  const third = await connectClient(server(), { user, rooms: ['game:*'], device: 'd' });
  await join(third.socket, room);
  const fresh = await push(server(), { to: { rooms: [room] }, event: 'state', data: { board: 'y' }, ttl: 60 });
  const m3 = await third.inbox.next();
  assert.equal(m3.meta.id, fresh, `after acking, a re-join first got ${JSON.stringify(m3.meta)} (acked ${id})`);
});

t('11b. a member that reconnects is back in its rooms without asking, and gets what it missed', async () => {
  const room = `game:${uid('r')}`;
  const user = uid('back');
  const first = await connectClient(server(), { user, rooms: ['game:*'], device: 'tablet' });
  await join(first.socket, room);
  const gone = disconnected(first.socket);
  first.socket.disconnect();
  await gone;

  // pushed while the device is away
  const id = await push(server(), { to: { rooms: [room] }, event: 'state', data: 'missed', ttl: 60 });
  const second = await connectClient(server(), { user, rooms: ['game:*'], device: 'tablet' });
  const m = await second.inbox.next(); // no join emitted: the device's rooms are remembered
  assert.equal(m.event, 'state');
  assertMeta(m.meta, { id, room, what: 'replay to a reconnecting member' });
  const live = await push(server(), { to: { rooms: [room] }, event: 'state', data: 'live', ttl: 60 });
  assert.equal((await second.inbox.next()).meta.id, live);

  // a device that left is not put back
  await request(second.socket, 'leave', { room });
  const gone2 = disconnected(second.socket);
  second.socket.disconnect();
  await gone2;
  await push(server(), { to: { rooms: [room] }, event: 'state', data: 'after leave', ttl: 60 });
  const third = await connectClient(server(), { user, rooms: ['game:*'], device: 'tablet' });
  await third.inbox.expectNone((x) => x.event === 'state', QUIET_MS, 'room message after leaving');
});

t('API room join: POST /v1/rooms/{room}/join puts the user\'s sessions into the room', async () => {
  const room = `lobby-${uid('r')}`;
  const user = uid('api-joined');
  const c = await connectClient(server(), { user, device: 'd' });
  const r = await api(server(), 'POST', `/v1/rooms/${encodeURIComponent(room)}/join`, { body: { users: [user] } });
  assert.ok(r.status >= 200 && r.status < 300, `POST /v1/rooms/${room}/join -> ${r.status} ${r.text}`);
  const id = await push(server(), { to: { rooms: [room] }, event: 'lobby', data: 'hi', ttl: 60 });
  const m = await c.inbox.next();
  assertMeta(m.meta, { id, room });

  const l = await api(server(), 'POST', `/v1/rooms/${encodeURIComponent(room)}/leave`, { body: { users: [user] } });
  assert.ok(l.status >= 200 && l.status < 300, `POST /v1/rooms/${room}/leave -> ${l.status} ${l.text}`);
  const id2 = await push(server(), { to: { rooms: [room] }, event: 'lobby', data: 'bye', ttl: 60 });
  await c.inbox.expectNone((x) => x.meta?.id === id2, QUIET_MS, 'room message after API leave');
});
