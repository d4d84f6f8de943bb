// courier-sdk-cocos under a simulated `cc` runtime (test/cc-sim.mjs) against
// a real node: the cocos adapter (jsb.WebSocket on native, the global
// WebSocket on web, both the `ws` package here), the CourierClient
// component's inspector properties and node events, and the example script.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sys, Node, classes } from 'cc';
import { CourierClient, CourierEvent, connect, cocosAdapter, ErrorCodes } from '../dist/index.js';
import { startNode, token, uid, push, pending, waitFor, freePort } from '../../sdk-js/test/helpers/server.mjs';

let node;
const opened = { jsb: 0, web: 0 };
globalThis.jsb = {
  WebSocket: class extends WebSocket {
    constructor(url) {
      super(url);
      opened.jsb++;
    }
  },
};

before(async () => {
  node = await startNode();
});
after(async () => {
  await node?.stop();
});

test('CourierClient registers its inspector properties with defaults', () => {
  const cls = classes.get('CourierClient');
  assert.ok(cls, 'ccclass CourierClient registered');
  assert.deepEqual(Object.keys(cls.properties).sort(), ['autoConnect', 'device', 'dispatch', 'shuffle', 'url']);
  const c = new CourierClient();
  assert.equal(c.url, '');
  assert.equal(c.dispatch, '');
  assert.equal(c.shuffle, false);
  assert.equal(c.device, '');
  assert.equal(c.autoConnect, true);
});

test('native: the component connects on start, emits state and messages on its node, acks, joins, requests', async () => {
  sys.isNative = true;
  const user = uid('cocos');
  const room = uid('arena');
  const n = new Node('Net');
  const comp = n.addComponent(CourierClient);
  comp.url = node.url;
  comp.token = await token(user, { rooms: 'arena-*' });
  const states = [];
  const msgs = [];
  comp.onState((s) => states.push(s));
  comp.onMessage((m) => msgs.push(m));
  n.startAll();
  await waitFor(() => comp.state === 'connected', { what: 'connected' });
  assert.deepEqual(states, ['connecting', 'connected']);
  assert.equal(opened.jsb, 1, 'jsb.WebSocket used on native');
  assert.match(sys.localStorage.getItem('courier:device'), /^d-/);

  await comp.join(room);
  const id = await push(node, { to: { users: [user] }, event: 'reward', data: { gold: 5 }, ttl: 60 });
  await push(node, { to: { rooms: [room] }, event: 'round', data: 2, ttl: 60 });
  await waitFor(() => msgs.length === 2, { what: 'two node events' });
  assert.deepEqual(msgs[0], { event: 'reward', data: { gold: 5 }, meta: msgs[0].meta });
  assert.equal(msgs[0].meta.id, id);
  assert.equal(msgs[1].meta.room, room);
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'acknowledged' });

  const err = await comp.request('/trpc.game.Shop/Buy', { item: 1 }, { timeout: 3000 }).then(() => null, (e) => e);
  assert.equal(err?.code, ErrorCodes.NotFound);
  n.destroy();
  assert.equal(comp.state, 'closed');
});

test('an endpoint list in the inspector: the dead first address is skipped', async () => {
  sys.isNative = true;
  const user = uid('cocos-list');
  const n = new Node('Net');
  const comp = n.addComponent(CourierClient);
  const dead = `http://127.0.0.1:${await freePort()}`;
  comp.url = `${dead}, ${node.url}`;
  comp.token = await token(user);
  const msgs = [];
  comp.onMessage((m) => msgs.push(m));
  n.startAll();
  await waitFor(() => comp.state === 'connected', { timeout: 8000, what: 'connected past the dead address' });
  assert.equal(comp.client.url, node.url);
  await push(node, { to: { users: [user] }, event: 'hi', data: 1, ttl: 60 });
  await waitFor(() => msgs.length === 1, { what: 'the message' });
  n.destroy();
});

test('web: the global WebSocket; an async handler via comp.on is acknowledged when it resolves', async () => {
  sys.isNative = false;
  globalThis.WebSocket = class extends WebSocket {
    constructor(url) {
      super(url);
      opened.web++;
    }
  };
  try {
    const user = uid('cocos-web');
    const n = new Node('Net');
    const comp = n.addComponent(CourierClient);
    comp.url = node.url;
    comp.autoConnect = false;
    comp.getToken = () => token(user);
    let release;
    const gate = new Promise((r) => (release = r));
    const got = [];
    comp.on('mail', async (data) => {
      got.push(data);
      await gate;
    });
    await waitFor(() => comp.state === 'connected', { what: 'connected' });
    assert.equal(opened.web, 1);
    await push(node, { to: { users: [user] }, event: 'mail', data: 'hi', ttl: 60 });
    await waitFor(() => got.length === 1, { what: 'mail' });
    assert.equal(await pending(node, user), 1);
    release();
    await waitFor(async () => (await pending(node, user)) === 0, { what: 'acknowledged after resolve' });
    n.destroy();
  } finally {
    delete globalThis.WebSocket;
    sys.isNative = true;
  }
});

test('connect() with the cocos adapter outside a component; missing config is an ERROR node event', async () => {
  assert.equal(cocosAdapter().name, 'cocos');
  const c = connect({ url: node.url, token: await token(uid('plain')) });
  await waitFor(() => c.state === 'connected', { what: 'connected' });
  c.close();
  const n = new Node('Bad');
  const comp = n.addComponent(CourierClient);
  const errors = [];
  n.on(CourierEvent.ERROR, (e) => errors.push(e.message));
  n.startAll();
  assert.match(errors[0], /set url \(or dispatch\) and token/);
});

test('the example scene script runs against the real node', async () => {
  // compiled as the editor would (TS, legacy decorators), imports left to the runtime
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'courier-cocos-example-'));
  const out = path.join(tmp, 'NetDemo.mjs');
  const here = path.dirname(fileURLToPath(import.meta.url));
  try {
    await build({
      entryPoints: [path.join(here, '../example/assets/scripts/NetDemo.ts')],
      outfile: out,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      external: ['cc', 'courier-sdk-cocos'],
      tsconfig: path.join(here, '../tsconfig.json'),
      logLevel: 'warning',
    });
    var { NetDemo } = await import(pathToFileURL(out).href);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const user = uid('demo');
  const n = new Node('Canvas');
  n.addComponent(CourierClient, { url: node.url });
  const demo = n.addComponent(NetDemo, { fetchToken: () => token(user, { rooms: 'lobby' }) });
  n.startAll();
  await waitFor(() => demo.lines.some((l) => l.startsWith('state connected')), { what: 'demo connected' });
  await waitFor(() => demo.lines.includes('joined lobby'), { what: 'demo joined' });
  await push(node, { to: { rooms: ['lobby'] }, event: 'chat', data: { from: 'server', text: 'hi' }, ttl: 60 });
  await waitFor(() => demo.lines.includes('chat server: hi'), { what: 'demo chat line' });
  n.destroy();
});
