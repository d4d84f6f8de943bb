// Helpers for the courier end-to-end suite: build the real binary, start and
// kill nodes, mint tokens, talk to the push API and hold socket.io clients.
//
// Every node started here is killed by PID when its test file ends, and again
// (SIGKILL) when the test process exits for any reason.

import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { io } from 'socket.io-client';
import { exitWatch, freePort, startRedis } from './procs.mjs';

export { sleep, freePort, startRedis };

const execFileP = promisify(execFile);

/** Repository root: this file is node/e2e/lib/courier.mjs. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const API_KEY = 'test-key';
export const JWT_SECRET = 'test-secret';
/** The bounded window used to show that something does NOT arrive. */
export const QUIET_MS = 1500;

// ---------------------------------------------------------------------------
// Process bookkeeping: every child we start is killed, whatever happens.

const children = new Set();
let tmpDir;

function killAll() {
  for (const child of children) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
  if (tmpDir) {
    try {
      rmSync(tmpDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + (os.constants.signals[sig] ?? 0));
  });
}

// ---------------------------------------------------------------------------
// Build

let binPromise;

/**
 * Builds ./node/cmd/courier once per test process (COURIER_BIN overrides) and
 * returns the path of the binary.
 */
export function courierBinary() {
  if (process.env.COURIER_BIN) return Promise.resolve(process.env.COURIER_BIN);
  binPromise ??= (async () => {
    tmpDir = mkdtempSync(path.join(os.tmpdir(), 'courier-e2e-'));
    const bin = path.join(tmpDir, 'courier');
    try {
      await execFileP('go', ['build', '-o', bin, './node/cmd/courier'], {
        cwd: REPO_ROOT,
        maxBuffer: 16 << 20,
      });
    } catch (err) {
      throw new Error(`go build ./node/cmd/courier failed:\n${err.stderr || err.message}`);
    }
    if (!existsSync(bin)) throw new Error(`go build produced no binary at ${bin}`);
    return bin;
  })();
  return binPromise;
}

// ---------------------------------------------------------------------------
// Nodes

/**
 * Starts one courier node on a free loopback port and waits until GET /healthz
 * answers 200. extraArgs are appended to the standard flags.
 */
export async function startServer(extraArgs = [], { port, nodeId, healthTimeout = 15000 } = {}) {
  const bin = await courierBinary();
  port ??= await freePort();
  const listen = `127.0.0.1:${port}`;
  nodeId ??= `e2e-${port}`;
  const args = [
    '--listen', listen,
    '--node-id', nodeId,
    '--api-key', API_KEY,
    '--jwt-secret', JWT_SECRET,
    '--ack-timeout', '1s',
    ...extraArgs,
  ];
  const child = spawn(bin, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);

  // Whole lines only (a chunk may end mid-line), one partial line per stream;
  // with E2E_SERVER_LOG each line is streamed with the node id in front, so
  // the logs of several nodes can be told apart.
  const tail = [];
  const keeper = () => {
    let partial = '';
    return (chunk) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        if (!line) continue;
        if (process.env.E2E_SERVER_LOG) process.stderr.write(`[${nodeId}] ${line}\n`);
        tail.push(line);
      }
      while (tail.length > 200) tail.shift();
    };
  };
  child.stdout.on('data', keeper());
  child.stderr.on('data', keeper());

  const watch = exitWatch(child, children);

  const server = {
    bin,
    port,
    nodeId,
    args,
    pid: child.pid,
    base: `http://${listen}`,
    url: `http://${listen}`,
    logs: (n = 40) => tail.slice(-n).join('\n'),
    get exited() {
      return watch.exited;
    },
    stop: watch.stop,
  };

  const deadline = Date.now() + healthTimeout;
  for (;;) {
    if (server.exited) {
      throw new Error(
        `courier exited before /healthz answered (${JSON.stringify(server.exited)}); args: ${args.join(' ')}\n${server.logs()}`,
      );
    }
    try {
      const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`courier did not answer GET /healthz 200 within ${healthTimeout} ms\n${server.logs()}`);
    }
    await sleep(50);
  }
  return server;
}

// ---------------------------------------------------------------------------
// Redis and clusters

/**
 * Reserves the addresses of a cluster node: HTTP, gossip and peer-link ports
 * on loopback. A node started from the same spec has the same id and ports,
 * which is how a killed node is restarted "as itself".
 */
export async function clusterNodeSpec(nodeId) {
  return {
    nodeId,
    port: await freePort(),
    gossipPort: await freePort(),
    peerPort: await freePort(),
  };
}

/**
 * Starts one cluster node on Redis from a spec (clusterNodeSpec): its id and
 * ports, joining the gossip seeds given ("127.0.0.1:G" each). extraArgs are
 * appended. Returns the server of startServer plus spec, gossip and peer.
 */
export async function startClusterNode(spec, { redisUrl, join = [], extraArgs = [], healthTimeout } = {}) {
  const gossip = `127.0.0.1:${spec.gossipPort}`;
  const peer = `127.0.0.1:${spec.peerPort}`;
  const args = ['--redis', redisUrl, '--gossip-listen', gossip, '--peer-listen', peer, '--cluster-secret', 'e2e-cluster-secret'];
  if (join.length > 0) args.push('--join', join.join(','));
  const server = await startServer([...args, ...extraArgs], { port: spec.port, nodeId: spec.nodeId, healthTimeout });
  return Object.assign(server, { spec, gossip, peer });
}

// ---------------------------------------------------------------------------
// Tokens

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** Signs an HS256 client JWT in JS (cross-check of the CLI). */
export function signToken(claims, secret = JWT_SECRET) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  return `${header}.${payload}.${b64url(sig)}`;
}

/** A token for user, valid one hour, with optional room patterns. */
export function tokenFor(user, rooms) {
  const claims = { sub: user, exp: Math.floor(Date.now() / 1000) + 3600 };
  if (rooms) claims.rooms = rooms;
  return signToken(claims);
}

export function decodeToken(token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

/** Mints a token with the SPEC command `courier token ...`. */
export async function cliToken({ user, rooms, ttl = '1h', device, secret = JWT_SECRET }) {
  const bin = await courierBinary();
  const args = ['token', '--user', user, '--ttl', ttl, '--jwt-secret', secret];
  if (rooms) args.push('--rooms', rooms);
  if (device) args.push('--device', device);
  const { stdout } = await execFileP(bin, args, { timeout: 10000 });
  const lines = stdout.trim().split('\n');
  const token = lines[lines.length - 1].trim();
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `courier token printed ${JSON.stringify(stdout)}`);
  return token;
}

// ---------------------------------------------------------------------------
// Push API

/** A unique name so tests sharing one node never see each other's data. */
export function uid(prefix) {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * One HTTP call to the node. key: API key (null sends no Authorization);
 * body: JSON-encoded; raw: sent as is. Returns {status, json, text}.
 */
export async function api(server, method, urlPath, { body, raw, key = API_KEY } = {}) {
  const headers = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.base + urlPath, {
    method,
    headers,
    body: payload,
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** POST /v1/push that must answer 202 {id}; returns the msg id. */
export async function push(server, payload) {
  const r = await api(server, 'POST', '/v1/push', { body: payload });
  assert.equal(
    r.status,
    202,
    `POST /v1/push ${JSON.stringify(payload).slice(0, 200)} answered ${r.status} ${r.text.slice(0, 300)}`,
  );
  assert.equal(typeof r.json?.id, 'string', `POST /v1/push answered ${r.text}`);
  assert.ok(r.json.id.length > 0, 'empty msg id');
  return r.json.id;
}

export async function getUser(server, user) {
  const r = await api(server, 'GET', `/v1/users/${encodeURIComponent(user)}`);
  return r;
}

/** Polls fn until it returns a truthy value; throws with the last value. */
export async function waitUntil(fn, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** Waits until GET /v1/users/{user} reports the given pending count. */
export async function waitPending(server, user, n, timeout = 5000) {
  let last;
  try {
    await waitUntil(
      async () => {
        last = await getUser(server, user);
        return last.status === 200 && last.json?.pending === n;
      },
      { timeout, what: `pending ${n}` },
    );
  } catch {
    assert.fail(`GET /v1/users/${user}: expected pending ${n} within ${timeout} ms, last answer ${last?.status} ${last?.text}`);
  }
  return last.json;
}

// ---------------------------------------------------------------------------
// Clients

const sockets = new Set();

/** Everything a client receives, in arrival order, with helpers to wait. */
export class Inbox {
  constructor(socket, { autoAck = true } = {}) {
    this.socket = socket;
    this.autoAck = autoAck;
    this.items = [];
    this.cursor = 0;
    this.waiters = new Set();
    socket.onAny((event, ...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
      const msg = {
        event,
        data: args[0],
        meta: args[1],
        args,
        ack,
        at: Date.now(),
        transport: socket.io?.engine?.transport?.name,
        connected: socket.connected,
      };
      this.items.push(msg);
      if (this.autoAck && ack) ack();
      for (const w of [...this.waiters]) w();
    });
  }

  /** Resolves when pred(items) returns non-undefined, or rejects after timeout. */
  _wait(check, timeout, what) {
    return new Promise((resolve, reject) => {
      const done = () => {
        let v;
        try {
          v = check();
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (v !== undefined) {
          cleanup();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; received so far: ${this.describe()}`));
      }, timeout);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
      };
      this.waiters.add(done);
      done();
    });
  }

  /** The next unread message, in arrival order. */
  next(timeout = 5000) {
    return this._wait(
      () => (this.cursor < this.items.length ? this.items[this.cursor++] : undefined),
      timeout,
      'the next message',
    );
  }

  /** The first message (read or not) that matches pred. */
  waitFor(pred, timeout = 5000, what = 'a matching message') {
    return this._wait(() => this.items.find(pred), timeout, what);
  }

  /** Waits until n messages matching pred have arrived; returns them. */
  async waitCount(pred, n, timeout = 5000, what = `${n} matching messages`) {
    return this._wait(() => {
      const hits = this.items.filter(pred);
      return hits.length >= n ? hits : undefined;
    }, timeout, what);
  }

  filter(pred) {
    return this.items.filter(pred);
  }

  /** Waits ms and asserts that no message matching pred arrived (ever). */
  async expectNone(pred, ms = QUIET_MS, what = 'message') {
    await sleep(ms);
    const hits = this.items.filter(pred);
    assert.equal(hits.length, 0, `expected no ${what}, got: ${describe(hits)}`);
  }

  describe() {
    return describe(this.items);
  }
}

function describe(items) {
  return `[${items
    .map((m) => JSON.stringify({ event: m.event, data: m.data, meta: m.meta }).slice(0, 160))
    .join(', ')}]`;
}

/**
 * The transports of clients that name none: E2E_TRANSPORTS, comma-separated
 * ("websocket": direct WebSocket, served by the lean engine; "polling,websocket":
 * long-polling first, then the upgrade, served by zishang520). `npm test`
 * runs the suite once with each.
 */
export const DEFAULT_TRANSPORTS = (process.env.E2E_TRANSPORTS || 'websocket')
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean);

/**
 * Opens a socket.io client (reconnection off, a fresh manager each time) and
 * attaches an Inbox before any packet can arrive. Does not wait.
 */
export function openClient(server, { user, rooms, token, device, auth, transports = DEFAULT_TRANSPORTS, autoAck = true, opts = {} } = {}) {
  if (auth === undefined) {
    auth = { token: token ?? tokenFor(user, rooms) };
    if (device !== undefined) auth.device = device;
  }
  const socket = io(server.url, {
    transports,
    auth,
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...opts,
  });
  sockets.add(socket);
  const inbox = new Inbox(socket, { autoAck });
  return { socket, inbox };
}

/** Resolves on 'connect', rejects on 'connect_error' or timeout. */
export function connected(socket, timeout = 5000) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no connect within ${timeout} ms`));
    }, timeout);
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const onError = (err) => {
      cleanup();
      reject(new Error(`connect_error: ${err.message} data=${JSON.stringify(err.data)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Opens a client and waits until it is connected. */
export async function connectClient(server, options) {
  const c = openClient(server, options);
  await connected(c.socket);
  return c;
}

/** Resolves with the connect_error Error; rejects if the client connects. */
export function connectError(socket, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`neither connect nor connect_error within ${timeout} ms`));
    }, timeout);
    const onConnect = () => {
      cleanup();
      reject(new Error('connected, but a connect_error was expected'));
    };
    const onError = (err) => {
      cleanup();
      resolve(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Waits for the socket's 'disconnect' and returns its reason. */
export function disconnected(socket, timeout = 5000) {
  if (!socket.connected && !socket.active) return Promise.resolve('already disconnected');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('disconnect', onDisconnect);
      reject(new Error(`no disconnect within ${timeout} ms`));
    }, timeout);
    const onDisconnect = (reason) => {
      clearTimeout(timer);
      resolve(reason);
    };
    socket.once('disconnect', onDisconnect);
  });
}

/** Emits an event with an acknowledgement and resolves with its first argument. */
export function request(socket, event, payload, timeout = 5000) {
  return socket.timeout(timeout).emitWithAck(event, payload);
}

/** Closes every client this process opened. */
export function closeClients() {
  for (const s of sockets) {
    s.removeAllListeners?.();
    s.disconnect();
    s.io.engine?.close();
  }
  sockets.clear();
}

/**
 * Registers the usual per-file lifecycle on node:test and returns a getter
 * for the node: a fresh node per file, clients closed after each test, the
 * node killed at the end.
 */
export function useServer(hooks, extraArgs = []) {
  const { before, after, afterEach } = hooks;
  let server;
  before(async () => {
    server = await startServer(extraArgs);
  }, { timeout: 300000 });
  afterEach(() => closeClients());
  after(async () => {
    closeClients();
    if (server) await server.stop();
  });
  return () => server;
}

/**
 * Wraps a test body so that a failure carries the tail of the node's log,
 * which is what the people fixing the server need to see.
 */
export function withLogs(getServer, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const s = getServer();
      if (s && err && typeof err === 'object' && !err.__courierLogs) {
        err.__courierLogs = true;
        const extra = s.exited ? `\n[courier exited: ${JSON.stringify(s.exited)}]` : '';
        err.message += `\n--- courier log tail (pid ${s.pid}) ---\n${s.logs(30)}${extra}`;
      }
      throw err;
    }
  };
}

/** Asserts the SPEC error body {"error":{"code","message"}}. */
export function assertErrorBody(r, what) {
  assert.ok(r.json && typeof r.json === 'object', `${what}: body is not JSON: ${JSON.stringify(r.text)}`);
  assert.ok(r.json.error && typeof r.json.error === 'object', `${what}: no "error" object in ${r.text}`);
  assert.equal(typeof r.json.error.code, 'string', `${what}: error.code not a string in ${r.text}`);
  assert.ok(r.json.error.code.length > 0, `${what}: empty error.code`);
  assert.equal(typeof r.json.error.message, 'string', `${what}: error.message not a string in ${r.text}`);
}

/** test(name, fn) bound to a node getter, so failures carry its log tail. */
export function testWith(test, getServer) {
  return (name, fn, options = {}) => test(name, { timeout: 20000, ...options }, withLogs(getServer, fn));
}

/** Asserts the meta of a pushed message per SPEC. */
export function assertMeta(meta, { id, room, what = 'meta' } = {}) {
  assert.ok(meta && typeof meta === 'object', `${what}: meta is not an object: ${JSON.stringify(meta)}`);
  assert.equal(typeof meta.id, 'string', `${what}: meta.id: ${JSON.stringify(meta)}`);
  if (id !== undefined) assert.equal(meta.id, id, `${what}: meta.id differs from the push answer`);
  assert.equal(typeof meta.seq, 'number', `${what}: meta.seq is not a number: ${JSON.stringify(meta)}`);
  assert.ok(Number.isInteger(meta.seq), `${what}: meta.seq is not an integer: ${JSON.stringify(meta)}`);
  assert.equal(typeof meta.ts, 'number', `${what}: meta.ts is not a number: ${JSON.stringify(meta)}`);
  assert.ok(Math.abs(meta.ts - Date.now()) < 10000, `${what}: meta.ts ${meta.ts} is not unix ms near now (${Date.now()})`);
  if (room === undefined) {
    assert.ok(!('room' in meta), `${what}: a user push must carry no meta.room: ${JSON.stringify(meta)}`);
  } else {
    assert.equal(meta.room, room, `${what}: meta.room: ${JSON.stringify(meta)}`);
  }
}
