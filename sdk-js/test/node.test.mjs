// courier-sdk in Node against a real courier node (the node adapter).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, memoryStorage, CourierError, ErrorCodes } from '../dist/index.js';
import { nodeAdapter } from '../dist/adapters/node.js';
import { startNode, startProxy, token, uid, push, pending, waitFor, recorder, sleep, api } from './helpers/server.mjs';

let node;
let proxy;
const clients = [];
const fast = { initialDelay: 100, maxDelay: 400 };

before(async () => {
  node = await startNode(['--mailbox-limit', '3']);
  proxy = await startProxy(node);
});
after(async () => {
  for (const c of clients) c.close();
  await proxy?.close();
  await node?.stop();
});

function open(opts) {
  const c = connect({ adapter: nodeAdapter(), reconnect: fast, ...opts });
  clients.push(c);
  return c;
}
const connected = (c) => waitFor(() => c.state === 'connected', { what: 'connected' });

test('connect reports state and a handler gets (data, meta); the ack waits for the handler', async () => {
  const user = uid('u');
  const c = open({ url: node.url, token: await token(user) });
  const rec = recorder(c);
  let release;
  const gate = new Promise((r) => (release = r));
  const got = [];
  c.on('hello', async (data, meta) => {
    got.push({ data, meta });
    await gate;
  });
  await connected(c);
  assert.deepEqual(rec.states, ['connecting', 'connected']);
  const id = await push(node, { to: { users: [user] }, event: 'hello', data: { n: 1 }, ttl: 60 });
  await waitFor(() => got.length === 1, { what: 'message' });
  assert.deepEqual(got[0].data, { n: 1 });
  assert.equal(got[0].meta.id, id);
  assert.equal(got[0].meta.seq, 1);
  assert.equal(typeof got[0].meta.ts, 'number');
  await sleep(300);
  assert.equal(await pending(node, user), 1, 'acknowledged before the handler resolved');
  release();
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'pending 0 after the handler resolved' });
});

test('a handler that throws leaves the message unacknowledged: it comes again', async () => {
  const user = uid('u');
  const c = open({ url: node.url, token: await token(user) });
  const rec = recorder(c);
  let calls = 0;
  c.on('flaky', () => {
    calls++;
    if (calls === 1) throw new Error('first time fails');
  });
  await connected(c);
  await push(node, { to: { users: [user] }, event: 'flaky', data: 1, ttl: 60 });
  await waitFor(() => calls === 2, { timeout: 6000, what: 'redelivery after the throw' });
  assert.equal(rec.errors.length, 1);
  assert.match(rec.errors[0].message, /first time fails/);
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'pending 0' });
});

test('a resend while the handler still runs (server ack timeout 1 s) is not handed over twice', async () => {
  const user = uid('u');
  const c = open({ url: node.url, token: await token(user) });
  const raw = [];
  c.socket.onAny((event, data, meta) => event === 'slow' && raw.push(meta.id));
  let calls = 0;
  c.on('slow', async () => {
    calls++;
    await sleep(1600);
  });
  await connected(c);
  await push(node, { to: { users: [user] }, event: 'slow', data: 1, ttl: 60 });
  await waitFor(() => raw.length >= 2, { timeout: 4000, what: 'the server resending' });
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'acknowledged' });
  assert.equal(calls, 1);
});

test('replay after reconnect: an id already handled is acknowledged but not handled again, and a seq jump is a gap', async () => {
  const user = uid('u');
  const c = open({ url: proxy.url, token: await token(user) });
  const rec = recorder(c);
  const seen = [];
  const raw = []; // what arrived on the wire, before de-duplication
  c.socket.onAny((event, data, meta) => event === 'note' && raw.push(meta.id));
  c.on('note', async (data, meta) => {
    seen.push(meta);
    if (seen.length === 1) {
      // the network fails after the handler ran, before the ack leaves
      proxy.drop();
      await waitFor(() => c.state !== 'connected', { what: 'connection lost' });
    }
  });
  await connected(c);
  const id1 = await push(node, { to: { users: [user] }, event: 'note', data: 1, ttl: 60 });
  // the client reconnects, the server replays id1 (never acknowledged), the SDK drops it
  await waitFor(async () => (await pending(node, user)) === 0, { timeout: 8000, what: 'replayed id1 acknowledged' });
  assert.ok(rec.states.includes('reconnecting'), `states: ${rec.states}`);
  assert.equal(c.state, 'connected');
  assert.deepEqual(seen.map((m) => m.id), [id1], 'id1 handed to the handler once');
  assert.deepEqual(raw, [id1, id1], 'the server sent id1 twice');

  // offline while 5 more are pushed; the mailbox keeps the last 3 (seq 4..6)
  proxy.refuse = true;
  proxy.drop();
  await waitFor(() => c.state === 'reconnecting', { what: 'reconnecting' });
  for (let i = 2; i <= 6; i++) await push(node, { to: { users: [user] }, event: 'note', data: i, ttl: 60 });
  proxy.refuse = false;
  await waitFor(() => seen.length === 4, { timeout: 8000, what: 'replay of seq 4..6' });
  assert.deepEqual(seen.map((m) => m.seq), [1, 4, 5, 6]);
  assert.deepEqual(rec.gaps, [{ room: '', from: 2, to: 3 }]);
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'pending 0' });
});

test('a reload (new client, same storage and device) does not hand a handled message over again', async () => {
  const user = uid('u');
  const storage = memoryStorage();
  const tok = await token(user);
  const a = open({ url: node.url, token: tok, adapter: nodeAdapter({ storage }) });
  const handledA = [];
  a.on('once', (data, meta) => {
    handledA.push(meta.id);
    a.close(); // the page goes away right after handling: the ack never leaves
  });
  await connected(a);
  const id = await push(node, { to: { users: [user] }, event: 'once', data: 'x', ttl: 60 });
  await waitFor(() => handledA.length === 1, { what: 'first handling' });
  assert.equal(await pending(node, user), 1, 'the ack should have been lost with the close');

  const b = open({ url: node.url, token: tok, adapter: nodeAdapter({ storage }) });
  assert.equal(b.device, a.device, 'device id kept in storage');
  const handledB = [];
  b.on('once', (data, meta) => handledB.push(meta.id));
  await connected(b);
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'replayed message acknowledged' });
  assert.deepEqual(handledA, [id]);
  assert.deepEqual(handledB, []);
});

test('fire-and-forget (seq 0) is delivered without gap tracking', async () => {
  const user = uid('u');
  const c = open({ url: node.url, token: await token(user) });
  const rec = recorder(c, ['ff', 'kept']);
  await connected(c);
  await push(node, { to: { users: [user] }, event: 'kept', data: 1, ttl: 60 });
  await push(node, { to: { users: [user] }, event: 'ff', data: 2, ttl: 0 });
  await push(node, { to: { users: [user] }, event: 'kept', data: 3, ttl: 60 });
  await waitFor(() => rec.msgs.length === 3, { what: '3 messages' });
  assert.deepEqual(rec.msgs.map((m) => [m.event, m.meta.seq]), [['kept', 1], ['ff', 0], ['kept', 2]]);
  assert.deepEqual(rec.gaps, []);
});

test('join / leave: allowed, forbidden with the error object, room messages carry meta.room', async () => {
  const user = uid('u');
  const room = uid('game');
  const c = open({ url: node.url, token: await token(user, { rooms: 'game-*' }) });
  const rec = recorder(c, ['tick']);
  await connected(c);
  await c.join(room);
  const err = await c.join('secret').then(() => null, (e) => e);
  assert.ok(err instanceof CourierError, String(err));
  assert.equal(err.code, ErrorCodes.Forbidden);
  assert.equal(typeof err.message, 'string');
  await push(node, { to: { rooms: [room] }, event: 'tick', data: 't', ttl: 60 });
  await waitFor(() => rec.msgs.length === 1, { what: 'room message' });
  assert.equal(rec.msgs[0].meta.room, room);
  await c.leave(room);
  await push(node, { to: { rooms: [room] }, event: 'tick', data: 't2', ttl: 60 });
  await sleep(500);
  assert.equal(rec.msgs.length, 1, 'no room message after leave');
});

test('request: the command channel rejects with the server error object', async () => {
  const c = open({ url: node.url, token: await token(uid('u')) });
  await connected(c);
  const err = await c.request('/trpc.app.echo.Echo/Say', { hi: 1 }, { timeout: 3000 }).then(() => null, (e) => e);
  assert.ok(err instanceof CourierError, `expected a rejection, got ${err}`);
  assert.equal(err.code, 'not_found');
  assert.equal(typeof err.message, 'string');
  assert.deepEqual(Object.keys(err.toJSON()).slice(0, 2), ['code', 'message']);
});

test('getToken: a 401 refreshes the token and connects', async () => {
  const user = uid('u');
  let calls = 0;
  const good = await token(user);
  const c = open({
    url: node.url,
    token: 'e30.e30.bad', // refused: 401
    getToken: async () => {
      calls++;
      return good;
    },
  });
  const rec = recorder(c);
  await connected(c);
  assert.equal(calls, 1);
  assert.equal(c.user, user);
  assert.deepEqual(rec.errors, []);
});

test('a refused token without getToken ends in "disconnected" with an unauthorized error', async () => {
  const c = open({ url: node.url, token: 'e30.e30.bad' });
  const rec = recorder(c);
  await waitFor(() => c.state === 'disconnected', { what: 'disconnected' });
  assert.equal(rec.errors[0]?.code, ErrorCodes.Unauthorized);
});

test('reconnect backs off exponentially with jitter while the server is unreachable', async () => {
  const user = uid('u');
  const c = open({ url: proxy.url, token: await token(user), reconnect: { initialDelay: 50, maxDelay: 400 } });
  const delays = [];
  c.on('state', (s, d) => s === 'reconnecting' && delays.push(d.delay));
  await connected(c);
  proxy.refuse = true;
  proxy.drop();
  await waitFor(() => delays.length >= 5, { timeout: 5000, what: '5 attempts' });
  proxy.refuse = false;
  await connected(c);
  // attempt n waits in [base/2, base], base = min(400, 50 * 2^n)
  delays.slice(0, 5).forEach((d, n) => {
    const base = Math.min(400, 50 * 2 ** n);
    assert.ok(d >= base / 2 && d <= base, `attempt ${n}: ${d} ms not in [${base / 2}, ${base}]`);
  });
});

test('kicked by the server: state "disconnected" with the reason, no reconnect; close() is final', async () => {
  const user = uid('u');
  const c = open({ url: node.url, token: await token(user) });
  const details = [];
  c.on('state', (s, d) => details.push([s, d.reason]));
  await connected(c);
  const r = await api(node, 'POST', `/v1/users/${user}/disconnect`, {});
  assert.equal(r.status, 200);
  await waitFor(() => c.state === 'disconnected', { what: 'disconnected' });
  assert.deepEqual(details.at(-1), ['disconnected', 'kicked']);
  await sleep(300);
  assert.equal(c.state, 'disconnected');

  const d = open({ url: node.url, token: await token(user) });
  await connected(d);
  d.close();
  assert.equal(d.state, 'closed');
  const err = await d.request('x', {}).then(() => null, (e) => e);
  assert.equal(err?.code, ErrorCodes.Unavailable);
});

test('at its token exp the server closes with token_expired; without getToken the client then stops', async () => {
  const user = uid('u');
  const details = [];
  const c = open({ url: node.url, token: await token(user, { ttl: '2s' }) });
  c.on('state', (s, d) => details.push([s, d?.reason]));
  await connected(c);
  await waitFor(() => details.some(([s, r]) => s === 'reconnecting' && r === 'token_expired'), { what: 'closed as token_expired', timeout: 8000 });
  // its token is refused from then on (401), and there is no getToken to ask
  await waitFor(() => c.state === 'disconnected', { what: 'stopped after the 401', timeout: 8000 });
  assert.equal(details.at(-1)[1], 'unauthorized');
});

test('with getToken a token about to expire is refreshed on the open connection: no reconnect', async () => {
  const user = uid('u');
  let fetched = 0;
  const c = open({ url: node.url, getToken: async () => (fetched++, token(user, { ttl: '7s' })) });
  const rec = recorder(c);
  await connected(c);
  const sid = c.socket.id;
  await sleep(9000); // past the first token's exp
  assert.equal(c.state, 'connected');
  assert.equal(c.socket.id, sid, 'the connection was replaced');
  assert.deepEqual(rec.states, ['connecting', 'connected']);
  assert.ok(fetched >= 2, `getToken called ${fetched} times`);
  const id = await push(node, { to: { users: [user] }, event: 'still', data: 1, ttl: 60 });
  const got = [];
  c.on('still', (data, meta) => got.push(meta.id));
  await waitFor(() => got.includes(id), { what: 'a push on the refreshed connection' });
});
