// Chaos: SPEC delivery guarantee 7 on a real three-node cluster.
//
//   "the node that held the connection dies (kill -9) -> nothing acknowledged is
//    lost: the client reconnects elsewhere and gets the rest"
//
// One redis-server and three courier binaries form a cluster on loopback. 200
// official socket.io clients (one user and one device each) are spread over the
// nodes; when their connection drops they reconnect, with the same device id, to
// the next node of a rotating list. 10,000 pushes with a ttl go, one user each,
// through random live nodes with 50 in flight; a push that fails with a network
// error or 503 is retried on another node with the same idempotency "id". While
// the pushes run, one node is killed with SIGKILL and restarted with the same id
// and ports, twice: the first time after 1 s, before the cluster noticed (the
// new process refutes the old one), the second time only once the survivors
// declared it dead (and purged its sessions). One node is down at a time. Then
// every client must end up with every message addressed to it (de-duplicated
// by meta.id; duplicates are allowed and counted), and no client may get a
// message nobody pushed to it (a retried push sent twice).
//
// Sizes can be cut for a quick look: CHAOS_CLIENTS, CHAOS_PUSHES,
// CHAOS_CONCURRENCY, CHAOS_KILL_AT (comma-separated push counts).
// E2E_SERVER_LOG=1 streams every node's log (prefixed with its id) to stderr.
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import {
  API_KEY, startRedis, clusterNodeSpec, startClusterNode, courierBinary, tokenFor, sleep,
} from '../lib/courier.mjs';

const envInt = (name, dflt) => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};

const NODES = 3;
const CLIENTS = envInt('CHAOS_CLIENTS', 200);
const PUSHES = envInt('CHAOS_PUSHES', 10000);
const CONCURRENCY = envInt('CHAOS_CONCURRENCY', 50);
const KILL_AT = (process.env.CHAOS_KILL_AT ?? `${Math.round(PUSHES * 0.3)},${Math.round(PUSHES * 0.65)}`)
  .split(',').map(Number).filter((n) => n > 0 && n < PUSHES);
const TTL = 120; // s: far longer than the test, so nothing may expire
const DOWN_MS = 1000; // a quick restart: before the cluster declares the node dead
const DEAD_TIMEOUT_MS = 20000; // bound on the survivors declaring a killed node dead
const RECONNECT_MIN_MS = 50; // client reconnect delay: MIN + random * JITTER
const RECONNECT_JITTER_MS = 200;
const PUSH_TIMEOUT_MS = 5000;
const PUSH_ATTEMPTS = 30;
const CONNECT_TIMEOUT_MS = 20000;
const SETTLE_MS = 60000; // bound on waiting for the rest after the last push
const NODE_ARGS = ['--cluster-secret', 'chaos-secret'];

const run = randomBytes(3).toString('hex');
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(2)}s`;

// Filled in by the test; torn down in after(), also when the test fails.
let redis;
const nodes = []; // index -> current server (replaced on restart)
const specs = [];
const clients = [];

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n?.stop()));
  if (redis) await redis.stop();
});

// ---------------------------------------------------------------------------
// Cluster

function nodeUrl(i) {
  return `http://127.0.0.1:${specs[i].port}`;
}

async function startNode(i) {
  const join = specs.filter((_, j) => j !== i).map((s) => `127.0.0.1:${s.gossipPort}`);
  // The first start of the first node has no one to join yet.
  const seeds = nodes.length === 0 && i === 0 ? [] : join;
  nodes[i] = await startClusterNode(specs[i], { redisUrl: redis.url, join: seeds, extraArgs: NODE_ARGS });
  return nodes[i];
}

async function clusterView(i) {
  const res = await fetch(`${nodeUrl(i)}/v1/cluster`, {
    headers: { authorization: `Bearer ${API_KEY}` },
    signal: AbortSignal.timeout(2000),
  });
  const body = await res.json();
  return body.nodes ?? [];
}

/** Waits until node i sees all nodes alive. */
async function awaitClusterFrom(i, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await clusterView(i);
      const alive = last.filter((n) => n.state === 'alive').map((n) => n.id);
      if (specs.every((s) => alive.includes(s.nodeId))) return last;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`node ${specs[i].nodeId} did not see all ${NODES} nodes alive within ${timeout} ms: ${JSON.stringify(last)}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------
// Clients

class ChaosClient {
  constructor(i) {
    this.index = i;
    this.user = `chaos-${run}-u${i}`;
    this.device = `dev-${i}`;
    this.token = tokenFor(this.user);
    this.node = i % NODES;
    this.received = new Set(); // meta.id
    this.deliveries = 0; // every arrival, duplicates included
    this.duplicates = 0;
    this.reconnects = 0;
    this.connects = 0;
    this.history = []; // {t, what, node, detail}
    this.socket = null;
    this.timer = null;
    this.closed = false;
    this.onceConnected = new Promise((resolve) => {
      this.resolveConnected = resolve;
    });
  }

  log(what, detail) {
    this.history.push({ t: since(), what, node: specs[this.node].nodeId, ...(detail ? { detail } : {}) });
    if (this.history.length > 60) this.history.shift();
  }

  open() {
    if (this.closed) return;
    const socket = io(nodeUrl(this.node), {
      transports: ['websocket'],
      auth: { token: this.token, device: this.device },
      reconnection: false, // the loop below reconnects, to the next node
      forceNew: true,
      timeout: 3000,
    });
    this.socket = socket;
    socket.onAny((event, ...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
      if (event !== 'chaos') {
        if (event === 'courier:disconnect') this.log('courier:disconnect', args[0]);
        return;
      }
      ack?.({ ok: true }); // every message, duplicates too
      const meta = args[1];
      this.deliveries++;
      if (this.received.has(meta.id)) this.duplicates++;
      else this.received.add(meta.id);
    });
    socket.on('connect', () => {
      this.connects++;
      this.log('connect');
      this.resolveConnected();
    });
    socket.on('connect_error', (err) => {
      this.log('connect_error', err.message);
      this.reconnect();
    });
    socket.on('disconnect', (reason) => {
      this.log('disconnect', reason);
      if (reason !== 'io client disconnect') this.reconnect();
    });
  }

  /** Drops the current socket and opens a new one to the next node, after a short delay. */
  reconnect() {
    if (this.closed || this.timer) return;
    const old = this.socket;
    this.socket = null;
    if (old) {
      old.removeAllListeners();
      old.offAny();
      old.disconnect();
      old.io.engine?.close();
    }
    this.reconnects++;
    this.node = (this.node + 1) % NODES;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, RECONNECT_MIN_MS + Math.random() * RECONNECT_JITTER_MS);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket.io.engine?.close();
      this.socket = null;
    }
  }
}

// ---------------------------------------------------------------------------
// Pushes

const live = new Set(); // node indexes the publisher may use
const stats = { retries: 0, networkErrors: 0, unavailable: 0, kills: [] };

const pickNode = (avoid) => {
  const all = [...live];
  const preferred = all.filter((i) => i !== avoid);
  const from = preferred.length > 0 ? preferred : all;
  return from.length > 0 ? from[Math.floor(Math.random() * from.length)] : undefined;
};

/** One push to one user, retried on another node with the same id; returns its record. */
async function pushOne(n, client) {
  const key = `chaos-${run}-${n}`;
  const body = JSON.stringify({ to: { users: [client.user] }, event: 'chaos', data: { n }, ttl: TTL, id: key });
  const attempts = [];
  let avoid;
  for (let attempt = 0; attempt < PUSH_ATTEMPTS; attempt++) {
    const i = pickNode(avoid);
    if (i === undefined) {
      await sleep(100);
      continue;
    }
    const started = since();
    let outcome;
    try {
      const res = await fetch(`${nodeUrl(i)}/v1/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.status === 202) {
        const id = JSON.parse(text).id;
        assert.equal(typeof id, 'string', `push ${n} answered 202 ${text}`);
        return { n, key, id, user: client.index, node: specs[i].nodeId, at: since(), attempts };
      }
      if (res.status !== 503) {
        throw new assert.AssertionError({
          message: `push ${n} via ${specs[i].nodeId} answered ${res.status} ${text.slice(0, 300)}`,
        });
      }
      stats.unavailable++;
      outcome = `503 ${text.slice(0, 120)}`;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      stats.networkErrors++;
      outcome = `${err.name}: ${err.cause?.code ?? err.message}`;
    }
    attempts.push({ node: specs[i].nodeId, started, outcome });
    stats.retries++;
    avoid = i;
    await sleep(20 + attempt * 20);
  }
  throw new Error(`push ${n} failed ${PUSH_ATTEMPTS} times: ${JSON.stringify(attempts)}`);
}

/** Waits until every live node reports node i as dead (or left). */
async function awaitDeadEverywhere(i, timeout = DEAD_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await Promise.all([...live].map(async (j) => [specs[j].nodeId, (await clusterView(j)).find((n) => n.id === specs[i].nodeId)?.state]));
      if (last.every(([, state]) => state === 'dead' || state === 'left' || state === undefined)) return;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`the survivors did not declare ${specs[i].nodeId} dead within ${timeout} ms: ${JSON.stringify(last)}`);
    }
    await sleep(200);
  }
}

/**
 * SIGKILL node i and restart it with the same id and ports: either after
 * DOWN_MS, before the cluster noticed (the new process refutes the old one),
 * or once the survivors declared it dead (and purged its sessions).
 */
async function killAndRestart(i, atPush, { untilDead }) {
  const server = nodes[i];
  const record = { node: server.nodeId, atPush, sessions: undefined, killedAt: undefined, upAt: undefined };
  stats.kills.push(record);
  try {
    record.sessions = (await clusterView(i)).find((n) => n.id === server.nodeId)?.sessions;
  } catch {
    // only for the report
  }
  live.delete(i);
  record.killedAt = since();
  const exit = await server.stop(); // SIGKILL, waits for the exit
  assert.equal(exit.signal, 'SIGKILL', `${server.nodeId} exited by itself before the kill: ${JSON.stringify(exit)}`);
  if (untilDead) {
    await awaitDeadEverywhere(i);
    record.deadAt = since();
  } else {
    await sleep(DOWN_MS);
  }
  await startNode(i);
  record.upAt = since();
  live.add(i);
  // The restarted node must be back in everyone's view before the next kill.
  await Promise.all(specs.map((_, j) => awaitClusterFrom(j)));
  record.clusterAt = since();
}

// ---------------------------------------------------------------------------
// The test

test(`chaos: ${CLIENTS} clients, ${PUSHES} pushes, ${KILL_AT.length} kill -9 + restart of a node: nothing is lost`, { timeout: 300000 }, async () => {
  await courierBinary();
  redis = await startRedis();
  for (let i = 0; i < NODES; i++) specs.push(await clusterNodeSpec(`chaos-n${i + 1}`));
  for (let i = 0; i < NODES; i++) await startNode(i);
  await Promise.all(specs.map((_, i) => awaitClusterFrom(i)));
  for (let i = 0; i < NODES; i++) live.add(i);

  const started = Date.now();
  for (let i = 0; i < CLIENTS; i++) {
    const c = new ChaosClient(i);
    clients.push(c);
    c.open();
  }
  let connectTimer;
  await Promise.race([
    Promise.all(clients.map((c) => c.onceConnected)),
    new Promise((_, reject) => {
      connectTimer = setTimeout(() => {
        const notYet = clients.filter((c) => c.connects === 0);
        reject(new Error(`${notYet.length} clients not connected within ${CONNECT_TIMEOUT_MS} ms, e.g. ${JSON.stringify(notYet[0]?.history)}`));
      }, CONNECT_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(connectTimer));
  const connectedIn = Date.now() - started;

  // Publisher: CONCURRENCY workers take the next push number; the kills are
  // started from the worker that reaches KILL_AT[k] and run beside the pushes.
  const pushStarted = Date.now();
  const records = new Array(PUSHES);
  let chaos = Promise.resolve();
  let next = 0;
  let killNo = 0;
  let failed = false; // one failed push stops every worker
  const worker = async () => {
    while (next < PUSHES && !failed) {
      const n = next++;
      if (killNo < KILL_AT.length && n === KILL_AT[killNo]) {
        // kill a different node each time: the seed first, then the next
        const victim = killNo % NODES;
        killNo++;
        // one node down at a time: a kill waits for the previous restart
        // the first restart beats failure detection, the second waits for it
        const untilDead = killNo % 2 === 0;
        chaos = chaos.then(() => killAndRestart(victim, n, { untilDead }));
        chaos.catch(() => {}); // awaited after the pushes; not unhandled meanwhile
      }
      const client = clients[Math.floor(Math.random() * clients.length)];
      try {
        records[n] = await pushOne(n, client);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const pushedIn = Date.now() - pushStarted;
  await chaos;

  // Expected: for each client, the msg ids the push API answered for it.
  const expected = clients.map(() => new Map()); // id -> record
  const ids = new Set();
  for (const r of records) {
    expected[r.user].set(r.id, r);
    ids.add(r.id);
  }
  assert.equal(ids.size, PUSHES, 'every push (distinct idempotency key) must answer its own msg id');

  const missingOf = () => {
    const out = [];
    for (const c of clients) {
      for (const [id, r] of expected[c.index]) if (!c.received.has(id)) out.push({ c, r });
    }
    return out;
  };
  const settleStarted = Date.now();
  let missing = missingOf();
  while (missing.length > 0 && Date.now() - settleStarted < SETTLE_MS) {
    await sleep(250);
    missing = missingOf();
  }
  const settledIn = Date.now() - settleStarted;

  // Audit
  let received = 0;
  let deliveries = 0;
  let duplicates = 0;
  let reconnects = 0;
  const unexpected = [];
  for (const c of clients) {
    received += c.received.size;
    deliveries += c.deliveries;
    duplicates += c.duplicates;
    reconnects += c.reconnects;
    for (const id of c.received) if (!expected[c.index].has(id)) unexpected.push({ user: c.user, id });
  }
  const delivered = received - unexpected.length;
  const summary = {
    pushes: PUSHES,
    delivered,
    missing: missing.length,
    duplicates,
    unexpected: unexpected.length,
    deliveries,
    reconnects,
    pushRetries: stats.retries,
    networkErrors: stats.networkErrors,
    unavailable503: stats.unavailable,
    kills: stats.kills,
    connectMs: connectedIn,
    pushMs: pushedIn,
    settleMs: settledIn,
    elapsedS: +((Date.now() - t0) / 1000).toFixed(1),
  };
  console.log(
    `chaos summary: pushes=${PUSHES} delivered=${delivered} missing=${missing.length} duplicates=${duplicates} ` +
      `reconnects=${reconnects} push-retries=${stats.retries} unexpected=${unexpected.length} ` +
      `elapsed=${summary.elapsedS}s (connect ${connectedIn} ms, push ${pushedIn} ms, settle ${settledIn} ms)`,
  );
  console.log(`chaos details: ${JSON.stringify(summary)}`);

  if (missing.length > 0) {
    const report = [];
    for (const { c, r } of missing.slice(0, 10)) {
      let user;
      try {
        const res = await fetch(`${nodeUrl([...live][0] ?? 0)}/v1/users/${encodeURIComponent(c.user)}`, {
          headers: { authorization: `Bearer ${API_KEY}` },
          signal: AbortSignal.timeout(2000),
        });
        user = await res.json();
      } catch (err) {
        user = String(err);
      }
      report.push(
        `push #${r.n} id=${r.id} to ${c.user} (device ${c.device}) accepted by ${r.node} at ${r.at}` +
          `${r.attempts.length ? ` after ${JSON.stringify(r.attempts)}` : ''}; ` +
          `client connected=${Boolean(c.socket?.connected)} now on ${specs[c.node].nodeId}, received ${c.received.size}/${expected[c.index].size}; ` +
          `GET /v1/users: ${JSON.stringify(user)}; client history: ${JSON.stringify(c.history.slice(-12))}`,
      );
    }
    const users = new Set(missing.map((m) => m.c.user));
    assert.fail(
      `${missing.length} accepted messages (202) never reached their client (${users.size} users) within ${SETTLE_MS} ms:\n` +
        `${report.join('\n')}\n--- node logs ---\n${nodes.map((s) => `[${s.nodeId} pid ${s.pid}]\n${s.logs(40)}`).join('\n')}`,
    );
  }
  for (const k of stats.kills) {
    assert.ok(k.sessions === undefined || k.sessions > 0, `the kill of ${k.node} took no client down: ${JSON.stringify(k)}`);
  }
  assert.ok(reconnects > 0, 'no client had to reconnect: the kills did not hit anyone');
  assert.deepEqual(unexpected.slice(0, 10), [], `messages no push addressed to that client (double-sent?): ${unexpected.length}`);
  assert.equal(delivered, PUSHES);
});
