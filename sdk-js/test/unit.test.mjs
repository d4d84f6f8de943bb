// Unit tests of the core pieces and the package shape (no courier node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { connect, backoffDelay, Inbox, memoryStorage, tokenSubject, CourierError, ErrorCodes, errorTable, deviceId } from '../dist/index.js';
import { nodeAdapter } from '../dist/adapters/node.js';
import { waitFor } from './helpers/server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('backoffDelay: exponential, capped, jittered into [d/2, d]', () => {
  assert.equal(backoffDelay(0, {}, () => 0), 500);
  assert.equal(backoffDelay(0, {}, () => 1), 250);
  assert.equal(backoffDelay(3, { initialDelay: 100 }, () => 0), 800);
  assert.equal(backoffDelay(30, { maxDelay: 5000 }, () => 0), 5000);
  assert.equal(backoffDelay(2, { initialDelay: 100, jitter: 0 }, () => 0.9), 400);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(4, { initialDelay: 10 });
    assert.ok(d >= 80 && d <= 160, String(d));
  }
});

test('Inbox: bounded FIFO of ids, persisted, gap tracking per stream', () => {
  const storage = memoryStorage();
  const a = new Inbox(storage, 'k', 3);
  for (const id of ['a', 'b', 'c', 'd']) a.add(id);
  assert.equal(a.size, 3);
  assert.equal(a.has('a'), false, 'oldest evicted');
  assert.equal(a.has('d'), true);
  assert.equal(a.track({ id: 'x', seq: 1, ts: 0 }), undefined);
  assert.deepEqual(a.track({ id: 'y', seq: 4, ts: 0 }), { room: '', from: 2, to: 3 });
  assert.equal(a.track({ id: 'r', seq: 7, ts: 0, room: 'g' }), undefined, 'first seq of a stream is no gap');
  assert.deepEqual(a.track({ id: 'r2', seq: 9, ts: 0, room: 'g' }), { room: 'g', from: 8, to: 8 });
  assert.equal(a.track({ id: 'z', seq: 0, ts: 0 }), undefined, 'seq 0 is fire-and-forget');
  assert.equal(a.lastSeq(''), 4);
  assert.equal(a.track({ id: 'w', seq: 1, ts: 0 }), undefined, 'a lower seq restarts tracking');
  assert.equal(a.track({ id: 'v', seq: 2, ts: 0 }), undefined);
  a.save();
  const b = new Inbox(storage, 'k', 3);
  assert.equal(b.has('d'), true, 'ids survive a reload');
  assert.equal(b.has('a'), false);
  assert.equal(b.lastSeq('g'), 9, 'positions survive a reload');
  storage.setItem('bad', '{not json');
  assert.equal(new Inbox(storage, 'bad').size, 0);
});

test('device id is generated once per storage', () => {
  const s = memoryStorage();
  const d = deviceId(s);
  assert.match(d, /^d-[0-9a-f]{16}$/);
  assert.equal(deviceId(s), d);
});

test('tokenSubject reads sub without atob', () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'üser-1' })).toString('base64url');
  assert.equal(tokenSubject(`e30.${payload}.sig`), 'üser-1');
  assert.equal(tokenSubject('garbage'), undefined);
});

test('CourierError carries the error object; the generated table covers every code', () => {
  const e = CourierError.from({ code: 'backend_error', message: 'boom', ret: 1, func_ret: -7 });
  assert.ok(e instanceof Error);
  assert.deepEqual(e.toJSON(), { code: 'backend_error', message: 'boom', ret: 1, func_ret: -7 });
  for (const code of Object.values(ErrorCodes)) assert.equal(typeof errorTable[code].status, 'number', code);
  assert.equal(errorTable[ErrorCodes.Forbidden].status, 403);
});

/**
 * A tiny socket.io v5 server over `ws`: it accepts any auth and answers
 * `cmd` with {ok: true, data: {echo}} or an error for name "fail".
 */
async function fakeServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/socket.io/' });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => {
    ws.send('0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}');
    ws.on('message', (buf) => {
      const msg = buf.toString();
      if (msg.startsWith('40')) ws.send('40{"sid":"n1"}');
      const m = /^42(\d+)(\[.*\])$/.exec(msg);
      if (!m) return;
      const [event, payload] = JSON.parse(m[2]);
      if (event !== 'cmd') return;
      const answer = payload.name === 'fail'
        ? { ok: false, error: { code: 'backend_error', message: 'no', ret: 2, func_ret: 11 } }
        : payload.name === 'slow'
          ? undefined
          : { ok: true, data: { echo: payload.data, name: payload.name } };
      if (answer) ws.send(`43${m[1]}${JSON.stringify([answer])}`);
    });
  });
  return { url: `http://127.0.0.1:${wss.address().port}`, close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(r); }) };
}

test('request resolves with the data of an ok answer, rejects with error objects and on timeout', async () => {
  const srv = await fakeServer();
  const c = connect({ url: srv.url, token: 'e30.e30.x', adapter: nodeAdapter() });
  try {
    await waitFor(() => c.state === 'connected', { what: 'connected to the fake server' });
    assert.deepEqual(await c.request('/pkg.Echo/Say', { a: 1 }), { echo: { a: 1 }, name: '/pkg.Echo/Say' });
    const err = await c.request('fail', {}).then(() => null, (e) => e);
    assert.equal(err.code, 'backend_error');
    assert.equal(err.ret, 2);
    assert.equal(err.func_ret, 11);
    const t0 = Date.now();
    const slow = await c.request('slow', {}, { timeout: 200 }).then(() => null, (e) => e);
    assert.equal(slow.code, ErrorCodes.Timeout);
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    c.close();
    await srv.close();
  }
});

test('package: CJS and ESM entries load; npm pack ships dist only', () => {
  const require = createRequire(import.meta.url);
  const cjs = require('../dist/index.cjs');
  assert.equal(typeof cjs.connect, 'function');
  assert.equal(typeof require('../dist/adapters/node.cjs').nodeAdapter, 'function');
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = JSON.parse(out)[0].files.map((f) => f.path);
  for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/courier.browser.js', 'dist/miniprogram/index.js', 'dist/adapters/wechat.d.ts', 'package.json', 'README.md']) {
    assert.ok(files.includes(f), `${f} missing from the package: ${files}`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.includes('node_modules')), `${files}`);
});
