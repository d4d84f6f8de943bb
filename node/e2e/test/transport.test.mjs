// Long-polling, and the upgrade from long-polling to WebSocket.
import assert from 'node:assert/strict';
import { test, before, after, afterEach } from 'node:test';
import {
  useServer, testWith, openClient, connected, connectClient, push, uid, waitPending, assertMeta,
} from '../lib/courier.mjs';

const server = useServer({ before, after, afterEach });
const t = testWith(test, server);

function upgraded(socket, timeout = 5000) {
  const engine = socket.io.engine;
  if (engine.transport?.name === 'websocket') return Promise.resolve(engine.transport.name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no upgrade within ${timeout} ms (transport ${engine.transport?.name})`)), timeout);
    engine.once('upgrade', (transport) => {
      clearTimeout(timer);
      resolve(transport.name);
    });
    engine.once('upgradeError', (err) => {
      clearTimeout(timer);
      reject(new Error(`upgradeError: ${err.message}`));
    });
  });
}

t('14. polling client receives pushes before and after the upgrade to websocket', async (ctx) => {
  const user = uid('poller');
  // pushed while offline: replayed as soon as the client connects over polling
  const early = await push(server(), { to: { users: [user] }, event: 'news', data: 'early', ttl: 60 });

  const { socket, inbox } = openClient(server(), { user, device: 'web', transports: ['polling', 'websocket'] });
  const engine = socket.io.engine;
  assert.equal(engine.transport.name, 'polling', 'the client did not start on polling');
  // Hold the upgrade probe until the polling phase has been checked, so that
  // "before the upgrade" is certain (engine.io-client 6.6 starts upgrades in
  // its _probe method; without it the test still runs, less strictly).
  let release = () => {};
  const holdable = typeof engine._probe === 'function';
  if (holdable) {
    const probe = engine._probe;
    const held = [];
    engine._probe = (name) => held.push(name);
    release = () => {
      engine._probe = probe;
      for (const name of held) probe.call(engine, name);
    };
  } else {
    ctx.diagnostic('engine.io-client has no _probe: upgrade not held');
  }
  const upgradeDone = upgraded(socket);
  await connected(socket);
  const m1 = await inbox.next();
  assertMeta(m1.meta, { id: early });
  assert.equal(m1.data, 'early');
  const live = await push(server(), { to: { users: [user] }, event: 'news', data: 'live', ttl: 60 });
  const m2 = await inbox.next();
  assertMeta(m2.meta, { id: live });
  if (holdable) {
    assert.equal(m1.transport, 'polling', 'replayed message did not come over polling');
    assert.equal(m2.transport, 'polling', 'live message did not come over polling');
  }

  release();
  const name = await upgradeDone;
  assert.equal(name, 'websocket');
  assert.equal(socket.io.engine.transport.name, 'websocket');

  const late = await push(server(), { to: { users: [user] }, event: 'news', data: 'late', ttl: 60 });
  const m3 = await inbox.next();
  assertMeta(m3.meta, { id: late });
  assert.equal(m3.transport, 'websocket');
  assert.equal(m2.meta.seq, m1.meta.seq + 1);
  assert.equal(m3.meta.seq, m2.meta.seq + 1);
  // every ack (two of them sent over polling) was taken
  await waitPending(server(), user, 0);
  assert.equal(inbox.items.length, 3, `unexpected messages: ${inbox.describe()}`);
});

t('14b. polling-only client (no upgrade) receives a live push and acks over polling', async () => {
  const user = uid('pollonly');
  const { socket, inbox } = await connectClient(server(), {
    user, device: 'old-browser', transports: ['polling'], autoAck: false,
  });
  assert.equal(socket.io.engine.transport.name, 'polling');
  const id = await push(server(), { to: { users: [user] }, event: 'news', data: { big: 'x'.repeat(2000) }, ttl: 60 });
  const m = await inbox.next();
  assertMeta(m.meta, { id });
  assert.equal(m.transport, 'polling');
  assert.equal(m.data.big.length, 2000);
  m.ack();
  await waitPending(server(), user, 0);
  assert.equal(socket.io.engine.transport.name, 'polling');
});
