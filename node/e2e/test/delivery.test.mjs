// Delivery guarantees of SPEC.md for pushes to users, on one node.
import assert from 'node:assert/strict';
import { test, before, after, afterEach } from 'node:test';
import {
  useServer, testWith, connectClient, openClient, connected, disconnected, push, api, uid, getUser,
  waitPending, waitUntil, assertMeta, sleep, QUIET_MS,
} from '../lib/courier.mjs';

const server = useServer({ before, after, afterEach });
const t = testWith(test, server);

/** Disconnects a client from its side and waits until it is gone. */
async function hangUp(socket) {
  const gone = disconnected(socket);
  socket.disconnect();
  assert.equal(await gone, 'io client disconnect');
}

t('2. push to an online user: 202 {id}, event with (data, meta, ack)', async () => {
  const user = uid('alice');
  const { inbox } = await connectClient(server(), { user, device: 'phone', autoAck: false });

  const before = Date.now();
  const r = await api(server(), 'POST', '/v1/push', {
    body: { to: { users: [user] }, event: 'news', data: { x: 1 }, ttl: 60 },
  });
  assert.equal(r.status, 202, `POST /v1/push -> ${r.status} ${r.text}`);
  assert.equal(typeof r.json?.id, 'string', `body ${r.text}`);
  const id = r.json.id;

  const msg = await inbox.next();
  assert.equal(msg.event, 'news');
  assert.deepEqual(msg.data, { x: 1 });
  assert.equal(msg.args.length, 2, `expected exactly (data, meta) + ack, got ${JSON.stringify(msg.args)}`);
  assertMeta(msg.meta, { id });
  assert.ok(msg.meta.ts >= before - 2000 && msg.meta.ts <= Date.now() + 2000, `meta.ts ${msg.meta.ts} not within the push window`);
  assert.equal(typeof msg.ack, 'function', 'the event carries no acknowledgement callback');

  // unacknowledged: pending counts it; after the ack it does not
  const u = await getUser(server(), user);
  assert.equal(u.status, 200, `GET /v1/users/${user} -> ${u.status} ${u.text}`);
  assert.equal(u.json.user, user);
  assert.equal(u.json.pending, 1, `pending before ack: ${u.text}`);
  assert.equal(u.json.sessions.length, 1, u.text);
  const s = u.json.sessions[0];
  assert.equal(typeof s.id, 'string');
  assert.equal(s.node, server().nodeId, `session node: ${u.text}`);
  assert.equal(s.device, 'phone');
  assert.ok(s.connected_at !== undefined && s.connected_at !== null, `connected_at missing: ${u.text}`);

  msg.ack();
  await waitPending(server(), user, 0);
});

t('3. offline delivery: push first, connect later', async () => {
  const user = uid('offline');
  const id = await push(server(), { to: { users: [user] }, event: 'news', data: { n: 'queued' }, ttl: 60 });
  const u = await getUser(server(), user);
  assert.equal(u.status, 200, `GET /v1/users/${user} of a user with a cached message -> ${u.status} ${u.text}`);
  assert.equal(u.json.sessions.length, 0);

  const { inbox } = await connectClient(server(), { user, device: 'd1' });
  const msg = await inbox.next();
  assert.equal(msg.event, 'news');
  assert.deepEqual(msg.data, { n: 'queued' });
  assertMeta(msg.meta, { id });
  assert.equal(typeof msg.ack, 'function');
  await waitPending(server(), user, 0);
});

t('4. received but unacknowledged is sent again on reconnect, same id', async () => {
  const user = uid('unacked');
  const first = await connectClient(server(), { user, device: 'tab', autoAck: false });
  const id = await push(server(), { to: { users: [user] }, event: 'news', data: 'once', ttl: 60 });
  const m1 = await first.inbox.next();
  assertMeta(m1.meta, { id });
  await hangUp(first.socket);

  const second = await connectClient(server(), { user, device: 'tab' });
  const m2 = await second.inbox.next();
  assert.equal(m2.event, 'news');
  assert.equal(m2.data, 'once');
  assertMeta(m2.meta, { id });
  assert.equal(m2.meta.seq, m1.meta.seq, 'the resent message has another seq');
  await waitPending(server(), user, 0);
});

t('5. acknowledged is not sent again on reconnect', async () => {
  const user = uid('acked');
  const first = await connectClient(server(), { user, device: 'tab' });
  const id = await push(server(), { to: { users: [user] }, event: 'news', data: 'old', ttl: 60 });
  const m1 = await first.inbox.next();
  assertMeta(m1.meta, { id });
  await waitPending(server(), user, 0);
  await hangUp(first.socket);

  const second = await connectClient(server(), { user, device: 'tab' });
  const fresh = await push(server(), { to: { users: [user] }, event: 'news', data: 'fresh', ttl: 60 });
  const m2 = await second.inbox.next();
  assert.equal(m2.meta.id, fresh, `the first message after reconnect was ${JSON.stringify(m2.meta)} (acked id ${id})`);
  assert.equal(m2.data, 'fresh');
  assert.equal(m2.meta.seq, m1.meta.seq + 1, 'seq of the next message of the mailbox');
  await second.inbox.expectNone((m) => m.meta?.id === id, QUIET_MS, `resend of acknowledged ${id}`);
});

t('6. ttl passed: not delivered', async () => {
  const user = uid('ttl');
  // control: ttl 1 is accepted and delivered while the user is online
  const online = await connectClient(server(), { user, device: 'a' });
  const live = await push(server(), { to: { users: [user] }, event: 'short', data: 'live', ttl: 1 });
  assertMeta((await online.inbox.next()).meta, { id: live });
  await hangUp(online.socket);

  const pushedAt = Date.now();
  const expired = await push(server(), { to: { users: [user] }, event: 'short', data: 'late', ttl: 1 });
  await sleep(Math.max(0, pushedAt + 1500 - Date.now()));

  const { inbox } = await connectClient(server(), { user, device: 'b' });
  const fresh = await push(server(), { to: { users: [user] }, event: 'short', data: 'fresh', ttl: 60 });
  const m = await inbox.next();
  assert.equal(m.meta.id, fresh, `after the ttl passed the device got ${JSON.stringify({ data: m.data, meta: m.meta })}, expired id ${expired}`);
  await inbox.expectNone((x) => x.meta?.id === expired || x.meta?.id === live, QUIET_MS, 'expired or already-acked message');
});

t('7. two devices of one user both receive; each acknowledgement is its own', async () => {
  const user = uid('twodev');
  const a = await connectClient(server(), { user, device: 'A', autoAck: true });
  const b = await connectClient(server(), { user, device: 'B', autoAck: false });
  const id = await push(server(), { to: { users: [user] }, event: 'news', data: 'both', ttl: 60 });
  const ma = await a.inbox.next();
  const mb = await b.inbox.next();
  assertMeta(ma.meta, { id, what: 'device A' });
  assertMeta(mb.meta, { id, what: 'device B' });
  // B's resend after --ack-timeout 1s while A gets none shows A's ack was taken
  await b.inbox.waitCount((m) => m.meta?.id === id, 2, 5000, `resend of ${id} to unacking device B`);
  await sleep(300);
  assert.equal(a.inbox.filter((m) => m.meta?.id === id).length, 1, 'device A got a resend although it acknowledged');

  await hangUp(a.socket);
  await hangUp(b.socket);

  const a2 = await connectClient(server(), { user, device: 'A' });
  const b2 = await connectClient(server(), { user, device: 'B' });
  const again = await b2.inbox.next();
  assertMeta(again.meta, { id, what: 'device B after reconnect' });
  assert.equal(again.data, 'both');

  // control for A: a fresh push reaches A first, the acked one never again
  const fresh = await push(server(), { to: { users: [user] }, event: 'news', data: 'fresh', ttl: 60 });
  const fa = await a2.inbox.next();
  assert.equal(fa.meta.id, fresh, `device A after reconnect first got ${JSON.stringify(fa.meta)} (its acked id ${id})`);
  await b2.inbox.waitFor((m) => m.meta?.id === fresh);
  await a2.inbox.expectNone((m) => m.meta?.id === id, QUIET_MS, `resend to device A of acknowledged ${id}`);
  await waitPending(server(), user, 0);
});

t('8. another user never receives it', async () => {
  const alice = uid('alice');
  const bob = uid('bob');
  const a = await connectClient(server(), { user: alice, device: 'd' });
  const b = await connectClient(server(), { user: bob, device: 'd' });
  const id = await push(server(), { to: { users: [alice] }, event: 'private', data: 'for alice', ttl: 60 });
  assertMeta((await a.inbox.next()).meta, { id });
  await b.inbox.expectNone(() => true, QUIET_MS, 'message for bob');
  // and bob connecting later from another device does not replay it either
  const b2 = await connectClient(server(), { user: bob, device: 'other' });
  const own = await push(server(), { to: { users: [bob] }, event: 'private', data: 'for bob', ttl: 60 });
  const m = await b2.inbox.next();
  assert.equal(m.meta.id, own, `bob's new device first got ${JSON.stringify(m.meta)}`);
  assert.equal(b2.inbox.filter((x) => x.meta?.id === id).length, 0);
});

t('12. idempotent push: the same id answers the same msg id and delivers once', async () => {
  const user = uid('idem');
  const { inbox } = await connectClient(server(), { user, device: 'd' });
  const key = uid('order');
  const body = { to: { users: [user] }, event: 'paid', data: { order: key }, ttl: 60, id: key };
  const id1 = await push(server(), body);
  const first = await inbox.next();
  assertMeta(first.meta, { id: id1 });
  const id2 = await push(server(), body);
  assert.equal(id2, id1, 'a repeated idempotency key answered another msg id');
  // pushes of one publisher arrive in order, so a duplicate would come before this one
  const fresh = await push(server(), { to: { users: [user] }, event: 'paid', data: { order: 'next' }, ttl: 60 });
  const second = await inbox.next();
  assert.equal(second.meta.id, fresh, `after the duplicate push the client got ${JSON.stringify(second.meta)} (first id ${id1})`);
  assert.equal(second.meta.seq, first.meta.seq + 1, 'the duplicate took a seq');
  assert.equal(inbox.filter((m) => m.meta?.id === id1).length, 1);
});

t('13. 1000 sequential pushes arrive in push order, seq +1 each', async () => {
  const user = uid('burst');
  const { inbox } = await connectClient(server(), { user, device: 'd' });
  const N = 1000;
  const ids = [];
  for (let i = 0; i < N; i++) {
    ids.push(await push(server(), { to: { users: [user] }, event: 'tick', data: { i }, ttl: 60 }));
  }
  assert.equal(new Set(ids).size, N, 'msg ids are not unique');
  const msgs = await inbox.waitCount((m) => m.event === 'tick', N, 20000, `${N} ticks`);
  const got = msgs.map((m) => m.data.i);
  for (let i = 0; i < N; i++) {
    assert.equal(got[i], i, `message ${i} out of order: ${JSON.stringify(got.slice(Math.max(0, i - 3), i + 3))}`);
    assert.equal(msgs[i].meta.id, ids[i], `message ${i} carries another id`);
    if (i > 0) assert.equal(msgs[i].meta.seq, msgs[i - 1].meta.seq + 1, `seq gap at ${i}: ${msgs[i - 1].meta.seq} -> ${msgs[i].meta.seq}`);
  }
  await sleep(200);
  assert.equal(inbox.items.length, N, `extra messages: ${inbox.items.length - N}`);
  await waitPending(server(), user, 0);
}, { timeout: 60000 });

t('17. ack timeout: an unacknowledged message is sent again while connected', async () => {
  const user = uid('slow');
  const { socket, inbox } = await connectClient(server(), { user, device: 'd', autoAck: false });
  let dropped = null;
  socket.on('disconnect', (reason) => { dropped = reason; });
  const id = await push(server(), { to: { users: [user] }, event: 'nudge', data: 1, ttl: 60 });
  const [m1, m2] = await inbox.waitCount((m) => m.meta?.id === id, 2, 5000, `a resend of ${id} (--ack-timeout 1s)`);
  assert.equal(dropped, null, `the connection dropped (${dropped})`);
  assert.ok(socket.connected, 'client no longer connected');
  assert.ok(m2.connected, 'the resend arrived on a connection that was not up');
  assert.ok(m2.at - m1.at >= 500, `resent after only ${m2.at - m1.at} ms`);
  assert.equal(m2.meta.seq, m1.meta.seq);
  assert.equal(m2.event, 'nudge');
  assert.equal(m2.data, 1);

  // acknowledging the resend stops further resends
  m2.ack();
  await waitPending(server(), user, 0);
  const count = inbox.filter((m) => m.meta?.id === id).length;
  await sleep(QUIET_MS);
  assert.equal(inbox.filter((m) => m.meta?.id === id).length, count, 'resent after it was acknowledged');
  assert.ok(socket.connected);
});

t('7b. pending counts a message one connected device acked and another did not', async () => {
  const user = uid('pending');
  const a = await connectClient(server(), { user, device: 'A', autoAck: false });
  const b = await connectClient(server(), { user, device: 'B', autoAck: false });
  const id = await push(server(), { to: { users: [user] }, event: 'news', data: 'both', ttl: 60 });
  const ma = await a.inbox.next();
  await b.inbox.next();
  const u0 = await getUser(server(), user);
  assert.equal(u0.json?.pending, 1, `pending before any ack: ${u0.text}`);
  assert.equal(u0.json.sessions.length, 2, u0.text);
  ma.ack();
  // B's resend after --ack-timeout 1s while A gets none shows A's ack was taken
  await b.inbox.waitCount((m) => m.meta?.id === id, 2, 5000, `resend of ${id} to unacking device B`);
  assert.equal(a.inbox.filter((m) => m.meta?.id === id).length, 1, 'device A got a resend although it acknowledged');
  const u = await getUser(server(), user);
  assert.equal(u.json?.pending, 1, `GET /v1/users/${user} after device A acked and device B (connected, received, not acked) did not: ${u.text}`);
});
