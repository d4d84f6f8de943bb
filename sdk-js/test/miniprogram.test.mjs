// The mini-program bundle (dist/miniprogram/index.js) under a simulated `wx`
// and `qq`: a sandbox with no window, self, globalThis, XMLHttpRequest or
// eval (code generation from strings is off, as in mini-programs), whose
// connectSocket is a real WebSocket (the `ws` package) to a real node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { startNode, startProxy, token, uid, push, pending, waitFor, sleep } from './helpers/server.mjs';

// Resolved as WeChat DevTools' "build npm" does: the package.json
// "miniprogram" field names the folder copied to miniprogram_npm/courier-sdk/,
// whose index.js is what require('courier-sdk') loads in a mini-program.
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const npmDir = mkdtempSync(path.join(os.tmpdir(), 'courier-miniprogram-npm-'));
cpSync(fileURLToPath(new URL(`../${pkg.miniprogram}/`, import.meta.url)), path.join(npmDir, 'miniprogram_npm', pkg.name), { recursive: true });
const bundle = readFileSync(path.join(npmDir, 'miniprogram_npm', pkg.name, 'index.js'), 'utf8');
let node;
let proxy;
const clients = [];

before(async () => {
  node = await startNode();
  proxy = await startProxy(node);
});
after(async () => {
  for (const c of clients) c.close();
  await proxy?.close();
  await node?.stop();
  rmSync(npmDir, { recursive: true, force: true });
});

/** A wx / qq object whose sockets and storage are real. */
function miniProgramApi(log) {
  const store = new Map();
  const netListeners = [];
  const showListeners = [];
  return {
    store,
    connectSocket({ url, fail }) {
      log.push(url);
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (err) {
        setTimeout(() => fail?.({ errMsg: `connectSocket:fail ${err.message}` }), 0);
        return { send() {}, close() {}, onOpen() {}, onClose() {}, onError() {}, onMessage() {} };
      }
      ws.binaryType = 'arraybuffer';
      return {
        send: ({ data }) => ws.send(data),
        close: ({ code = 1000, reason = '' } = {}) => ws.close(code, reason),
        onOpen: (cb) => ws.on('open', () => cb({ header: {} })),
        onMessage: (cb) => ws.on('message', (d, isBinary) => cb({ data: isBinary ? d : d.toString() })),
        onClose: (cb) => ws.on('close', (code, reason) => cb({ code, reason: reason.toString() })),
        onError: (cb) => ws.on('error', (e) => cb({ errMsg: e.message })),
      };
    },
    getStorageSync: (k) => (store.has(k) ? store.get(k) : ''),
    setStorageSync: (k, v) => store.set(k, v),
    // the platform's network and lifecycle events, fired by the tests
    onNetworkStatusChange: (cb) => netListeners.push(cb),
    onAppShow: (cb) => showListeners.push(cb),
    network: (isConnected) => netListeners.forEach((cb) => cb({ isConnected, networkType: isConnected ? 'wifi' : 'none' })),
    appShow: () => showListeners.forEach((cb) => cb({ scene: 1001 })),
  };
}

/** Loads the bundle as a mini-program would: one module, platform globals only. */
function loadSdk(globalName) {
  const log = [];
  const api = miniProgramApi(log);
  const sandbox = {
    [globalName]: api,
    console,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
  };
  const ctx = vm.createContext(sandbox, { codeGeneration: { strings: false, wasm: false } });
  vm.runInContext('delete globalThis.globalThis;', ctx);
  assert.equal(vm.runInContext('typeof globalThis + typeof self + typeof window + typeof XMLHttpRequest', ctx), 'undefinedundefinedundefinedundefined');
  assert.throws(() => vm.runInContext('Function("return this")()', ctx), /Code generation from strings disallowed/);
  const module = { exports: {} };
  const fn = vm.runInContext(`(function (module, exports, require) {\n${bundle}\n})`, ctx, { filename: 'miniprogram/index.js' });
  fn(module, module.exports, (name) => {
    throw new Error(`the mini-program bundle must not require ${name}`);
  });
  return { sdk: module.exports, api, log };
}

const plain = (v) => JSON.parse(JSON.stringify(v));

for (const [platform, globalName] of [['wechat', 'wx'], ['qq', 'qq']]) {
  test(`${platform}: connect over ${globalName}.connectSocket, receive, ack, join, request, storage`, async () => {
    const { sdk, api, log } = loadSdk(globalName);
    const user = uid(platform);
    const room = uid('room');
    const c = sdk.connect({ url: node.url, token: await token(user, { rooms: 'room-*' }) });
    clients.push(c);
    const got = [];
    c.on('msg', (data, meta) => {
      got.push(plain({ data, meta }));
    });
    await waitFor(() => c.state === 'connected', { what: 'connected' });
    assert.match(log[0], /^ws:\/\/127\.0\.0\.1:\d+\/socket\.io\/\?EIO=4&transport=websocket/);
    assert.match(api.getStorageSync('courier:device'), /^d-[0-9a-f]{16}$/, 'device id kept in storage');
    assert.equal(c.device, api.getStorageSync('courier:device'));

    await c.join(room);
    const id = await push(node, { to: { users: [user] }, event: 'msg', data: { hello: platform }, ttl: 60 });
    await push(node, { to: { rooms: [room] }, event: 'msg', data: 'room', ttl: 60 });
    await waitFor(() => got.length === 2, { what: 'two messages' });
    assert.deepEqual(got[0].data, { hello: platform });
    assert.equal(got[0].meta.id, id);
    assert.equal(got[1].meta.room, room);
    await waitFor(async () => (await pending(node, user)) === 0, { what: 'acknowledged' });

    const inboxKey = [...api.store.keys()].find((k) => k.startsWith('courier:inbox:'));
    assert.ok(inboxKey, 'de-duplication set kept in storage');
    assert.ok(JSON.parse(api.getStorageSync(inboxKey)).ids.includes(id));

    const err = await c.request('/trpc.app.x.X/Y', {}, { timeout: 3000 }).then(() => null, (e) => e);
    assert.equal(err?.code, 'not_found');
    const forbidden = await c.join('elsewhere').then(() => null, (e) => e);
    assert.equal(forbidden?.code, 'forbidden');
    c.close();
    assert.equal(c.state, 'closed');
  });

  test(`${platform}: reconnects after the socket drops and replays what was not acknowledged`, async () => {
    const { sdk } = loadSdk(globalName);
    const user = uid(platform);
    const c = sdk.connect({ url: proxy.url, token: await token(user), reconnect: { initialDelay: 100, maxDelay: 300 } });
    clients.push(c);
    const states = [];
    c.on('state', (s) => states.push(s));
    const got = [];
    c.on('msg', (data) => got.push(data));
    await waitFor(() => c.state === 'connected', { what: 'connected' });
    proxy.refuse = true;
    proxy.drop();
    await waitFor(() => c.state === 'reconnecting', { what: 'reconnecting' });
    await push(node, { to: { users: [user] }, event: 'msg', data: 'while away', ttl: 60 });
    proxy.refuse = false;
    await waitFor(() => got.length === 1, { timeout: 6000, what: 'replay after reconnect' });
    assert.deepEqual(got, ['while away']);
    assert.ok(states.includes('reconnecting') && states.at(-1) === 'connected', String(states));
    c.close();
  });

  test(`${platform}: offline, retries pause; back online or shown again, it reconnects at once`, async () => {
    const { sdk, api, log } = loadSdk(globalName);
    const user = uid(platform);
    // a backoff long enough that only the platform's events explain a quick reconnect
    const c = sdk.connect({ url: proxy.url, token: await token(user), reconnect: { initialDelay: 4000, maxDelay: 8000 } });
    clients.push(c);
    const reasons = [];
    c.on('state', (s, d) => s === 'reconnecting' && reasons.push(d.reason));
    await waitFor(() => c.state === 'connected', { what: 'connected' });

    api.network(false);
    proxy.refuse = true;
    proxy.drop();
    await waitFor(() => c.state === 'reconnecting', { what: 'reconnecting' });
    const dialed = log.length;
    await sleep(1000);
    assert.equal(log.length, dialed, 'dialled while offline');
    assert.ok(reasons.includes('offline'), String(reasons));
    proxy.refuse = false;
    let start = Date.now();
    api.network(true);
    await waitFor(() => c.state === 'connected', { timeout: 1500, what: 'reconnected when back online' });
    assert.ok(Date.now() - start < 1000, `back online, reconnected after ${Date.now() - start} ms`);

    const mark = reasons.length;
    proxy.refuse = true;
    proxy.drop();
    await waitFor(() => c.state === 'reconnecting' && reasons.length > mark, { what: 'reconnecting again' });
    await sleep(200); // the first retry (2-4 s) is waiting
    proxy.refuse = false;
    start = Date.now();
    api.appShow();
    await waitFor(() => c.state === 'connected', { timeout: 1500, what: 'reconnected when shown' });
    assert.ok(Date.now() - start < 1000, `shown again, reconnected after ${Date.now() - start} ms`);
    c.close();
  });
}
