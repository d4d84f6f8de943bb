// Endpoints (SPEC "Identity and integration", SDK endpoints): a client given
// a list of node addresses, or a dispatch URL that answers one, on three
// real nodes of a cluster (one redis-server): the first address is dead,
// the client lands on the next; the node it is on is killed, it moves to
// another and receives what was pushed meanwhile, each message once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect } from '../dist/index.js';
import { nodeAdapter } from '../dist/adapters/node.js';
import { startNode, token, uid, push, waitFor, freePort } from './helpers/server.mjs';
import { startRedis } from '../../node/e2e/lib/procs.mjs';

let redis;
const nodes = [];
const clients = [];
let dispatch;

before(async () => {
  redis = await startRedis();
  const gossip = [await freePort(), await freePort(), await freePort()];
  for (let i = 0; i < 3; i++) {
    const args = ['--redis', redis.url, '--gossip-listen', `127.0.0.1:${gossip[i]}`, '--peer-listen', `127.0.0.1:${await freePort()}`,
      '--cluster-secret', 'sdk-cluster-secret-of-32-bytes-at-least'];
    if (i > 0) args.push('--join', `127.0.0.1:${gossip[0]}`);
    nodes.push(await startNode(args));
  }
  await waitFor(async () => {
    const r = await fetch(`${nodes[2].base}/v1/cluster`, { headers: { Authorization: 'Bearer sdk-test-key' } });
    const body = await r.json();
    return body.nodes?.filter((n) => n.state === 'alive').length === 3;
  }, { timeout: 15000, what: 'three nodes alive' });
}, { timeout: 120000 });

after(async () => {
  for (const c of clients) c.close();
  dispatch?.close();
  for (const n of nodes) await n.stop();
  await redis?.stop();
});

function open(opts) {
  const c = connect({ adapter: nodeAdapter(), reconnect: { initialDelay: 100, maxDelay: 400 }, connectTimeout: 2000, ...opts });
  clients.push(c);
  return c;
}

async function failover(c, user) {
  const handled = [];
  c.on('news', (data, meta) => {
    handled.push(meta.id);
  });
  await waitFor(() => c.state === 'connected', { timeout: 10000, what: 'connected past the dead address' });
  const first = c.url;
  const on = nodes.find((n) => n.url === first);
  assert.ok(on, `connected to ${first}, not one of the nodes`);
  const m1 = await push(on, { to: { users: [user] }, event: 'news', data: 1, ttl: 300 });
  await waitFor(() => handled.includes(m1), { what: 'm1' });

  await on.stop(); // SIGKILL: no goodbye
  const other = nodes.find((n) => n !== on && n.url !== first && !n.killed);
  on.killed = true;
  const m2 = await push(other, { to: { users: [user] }, event: 'news', data: 2, ttl: 300 });
  await waitFor(() => handled.includes(m2), { timeout: 15000, what: 'm2 after the failover' });
  await new Promise((r) => setTimeout(r, 1500)); // a resend would come within the ack timeout (1 s)
  assert.notEqual(c.url, first, 'still on the killed node');
  assert.deepEqual(handled, [m1, m2], 'each message handled once');
}

test('url list: the dead first address is skipped; a killed node is left for another; nothing lost or doubled', { timeout: 60000 }, async () => {
  const user = uid('list');
  const dead = `http://127.0.0.1:${await freePort()}`;
  const c = open({ url: [dead, ...nodes.map((n) => n.url)], token: await token(user) });
  await failover(c, user);
});

test('dispatch URL: the endpoints come from the business\'s dispatch service', { timeout: 60000 }, async () => {
  const user = uid('dispatch');
  const alive = nodes.filter((n) => !n.killed);
  const dead = `http://127.0.0.1:${await freePort()}`;
  let asked = 0;
  dispatch = http.createServer((req, res) => {
    asked++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ endpoints: [dead, ...alive.map((n) => n.url)] }));
  });
  await new Promise((r) => dispatch.listen(0, '127.0.0.1', r));
  const c = open({ dispatch: `http://127.0.0.1:${dispatch.address().port}/endpoints`, token: await token(user) });
  await failover(c, user);
  assert.ok(asked >= 1);
});
