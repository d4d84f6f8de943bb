// Test helpers shared by the sdk-js and sdk-cocos suites: build and start a
// real courier node, mint tokens with `courier token`, call the push API,
// and a TCP proxy that can cut connections. Every process started here is
// killed by PID when the test process exits.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../../node/e2e/lib/procs.mjs';

export { sleep, freePort };
const execFileP = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const API_KEY = 'sdk-test-key';
export const JWT_SECRET = 'sdk-test-secret';

const children = new Set();
let tmpDir;
function killAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** The courier binary: $COURIER_BIN, else built once per process. */
export function courierBinary() {
  if (process.env.COURIER_BIN) return process.env.COURIER_BIN;
  if (!tmpDir) {
    tmpDir = mkdtempSync(path.join(os.tmpdir(), 'courier-sdk-'));
    execFileSync('go', ['build', '-o', path.join(tmpDir, 'courier'), './node/cmd/courier'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return path.join(tmpDir, 'courier');
}

/** Starts a node on a free loopback port; resolves once /healthz answers. */
export async function startNode(extraArgs = []) {
  const bin = courierBinary();
  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, '--node-id', `sdk-${port}`, '--api-key', API_KEY,
    '--jwt-secret', JWT_SECRET, '--ack-timeout', '1s', ...extraArgs];
  const child = spawn(bin, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const log = [];
  const keep = (b) => {
    for (const l of b.toString().split('\n')) if (l) log.push(l);
    if (log.length > 200) log.splice(0, log.length - 200);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (exited) throw new Error(`courier exited ${JSON.stringify(exited)}:\n${log.join('\n')}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`courier did not become healthy:\n${log.join('\n')}`);
    await sleep(50);
  }
  return {
    port,
    base,
    url: base,
    pid: child.pid,
    logs: () => log.slice(-40).join('\n'),
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGKILL');
      await gone;
      children.delete(child);
    },
  };
}

/** A client JWT from `courier token`. */
export async function token(user, { rooms, ttl = '1h' } = {}) {
  const args = ['token', '--user', user, '--ttl', ttl, '--jwt-secret', JWT_SECRET];
  if (rooms) args.push('--rooms', rooms);
  const { stdout } = await execFileP(courierBinary(), args);
  return stdout.trim().split('\n').pop().trim();
}

export function uid(prefix) {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function api(server, method, urlPath, body) {
  const res = await fetch(server.base + urlPath, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** POST /v1/push; returns the message id. */
export async function push(server, payload) {
  const r = await api(server, 'POST', '/v1/push', payload);
  if (r.status !== 202) throw new Error(`push answered ${r.status} ${r.text}`);
  return r.json.id;
}

export async function pending(server, user) {
  const r = await api(server, 'GET', `/v1/users/${encodeURIComponent(user)}`);
  return r.json?.pending;
}

/** Polls fn until truthy. */
export async function waitFor(fn, { timeout = 5000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A TCP proxy in front of a node: `drop()` cuts every connection (the
 * client sees a network failure), `refuse = true` turns new ones away.
 */
export async function startProxy(target) {
  const conns = new Set();
  const proxy = { refuse: false, accepted: 0 };
  const srv = net.createServer((c) => {
    if (proxy.refuse) {
      c.destroy();
      return;
    }
    proxy.accepted++;
    const up = net.connect(target.port, '127.0.0.1');
    conns.add(c);
    conns.add(up);
    c.pipe(up);
    up.pipe(c);
    const end = () => {
      c.destroy();
      up.destroy();
      conns.delete(c);
      conns.delete(up);
    };
    c.on('error', end);
    up.on('error', end);
    c.on('close', end);
    up.on('close', end);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  proxy.port = srv.address().port;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  proxy.drop = () => {
    for (const c of conns) c.destroy();
    conns.clear();
  };
  proxy.close = () => {
    proxy.drop();
    return new Promise((r) => srv.close(r));
  };
  return proxy;
}

/** Collects events of a client (state, gap, error, messages). */
export function recorder(client, events = []) {
  const rec = { states: [], gaps: [], errors: [], msgs: [] };
  client.on('state', (s) => rec.states.push(s));
  client.on('gap', (g) => rec.gaps.push(g));
  client.on('error', (e) => rec.errors.push(e));
  for (const ev of events) client.on(ev, (data, meta) => rec.msgs.push({ event: ev, data, meta }));
  return rec;
}
