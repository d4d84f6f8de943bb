// The business's own login (SPEC "Identity and integration", --auth-hook):
// a client with a session cookie and no courier token is authenticated by
// a real HTTP endpoint; the official socket.io-client sends the cookie with
// extraHeaders, as a Node client does.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test, before, after, afterEach } from 'node:test';
import { startServer, openClient, connected, connectError, closeClients, push, tokenFor, uid, request, sleep } from '../lib/courier.mjs';

let server;
let hook;
const hookCalls = [];

before(async () => {
  hook = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.url.startsWith('/cmd/')) { // an HTTP command backend: who does the node say calls?
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ user: req.headers['x-courier-user'], body: JSON.parse(body || 'null') }));
      return;
    }
    const ask = JSON.parse(body);
    hookCalls.push(ask);
    const cookie = ask.headers.cookie || '';
    const reply = (status, obj) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const user = /session=user-([\w-]+)/.exec(cookie)?.[1];
    if (cookie.includes('session=banned')) return reply(403, { message: 'banned' });
    if (cookie.includes('session=slow')) {
      await sleep(3000);
      return reply(200, { user: 'late', rooms: [] });
    }
    if (cookie.includes('session=broken')) return reply(500, { message: 'oops' });
    if (user) return reply(200, { user, rooms: ['lobby'], expires_in: 60 });
    return reply(401, { message: 'log in first' });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${hook.address().port}`;
  server = await startServer(['--auth-hook', `${base}/auth`, '--auth-hook-timeout', '500ms', '--route', `trpc.app.who.*=${base}/cmd`]);
}, { timeout: 300000 });
afterEach(() => closeClients());
after(async () => {
  closeClients();
  await server?.stop();
  hook?.close();
});

function withCookie(cookie, auth = { device: 'd1' }) {
  return openClient(server, { auth, opts: { extraHeaders: { Cookie: cookie } } });
}

test('a session cookie is a login: the hook names the user and its rooms; its answer is cached', { timeout: 30000 }, async () => {
  const user = uid('cookie');
  const before = hookCalls.length;
  const { socket, inbox } = withCookie(`theme=dark; session=user-${user}`);
  await connected(socket);
  const told = hookCalls.at(-1);
  assert.equal(told.headers.cookie, `theme=dark; session=user-${user}`);
  assert.equal(told.ip, '127.0.0.1');
  assert.deepEqual(told.auth, { device: 'd1' });
  const id = await push(server, { to: { users: [user] }, event: 'hello', data: 1, ttl: 60 });
  assert.equal((await inbox.next()).meta.id, id, 'the push to the hook-named user arrived');
  assert.equal((await request(socket, 'join', { room: 'lobby' })).ok, true, 'a room the hook allows');
  assert.equal((await request(socket, 'join', { room: 'vip' })).ok, false, 'a room it does not');

  const again = withCookie(`theme=dark; session=user-${user}`);
  await connected(again.socket);
  assert.equal(hookCalls.length, before + 1, 'the second connect used the cached answer');
});

test('the hook refuses with 401 or 403, fails with 503 (timeout, 5xx)', { timeout: 30000 }, async () => {
  const expectCode = async (cookie, code) => {
    const { socket } = withCookie(cookie);
    const err = await connectError(socket, 5000);
    assert.deepEqual(err.data, { code }, `${cookie}: connect_error ${err.message} ${JSON.stringify(err.data)}`);
  };
  await expectCode('session=banned', 403);
  await expectCode('session=nobody', 401);
  await expectCode('session=broken', 503);
  const start = Date.now();
  await expectCode('session=slow', 503);
  assert.ok(Date.now() - start < 2500, `a slow hook held the client ${Date.now() - start} ms (timeout 500 ms)`);
});

test('a valid courier token is accepted without asking the hook', { timeout: 30000 }, async () => {
  const before = hookCalls.length;
  const { socket } = openClient(server, { token: tokenFor(uid('jwt')), opts: { extraHeaders: { Cookie: 'session=banned' } } });
  await connected(socket);
  assert.equal(hookCalls.length, before, 'the hook was asked about a client with a valid token');
});

test('/v1/call with the cookie and no JWT: the hook names the caller', { timeout: 30000 }, async () => {
  const user = uid('http');
  const r = await fetch(`${server.url}/v1/call/trpc.app.who.Who/Am?x=1`, { headers: { Cookie: `session=user-${user}` } });
  assert.equal(r.status, 200, await r.clone().text());
  assert.deepEqual(await r.json(), { user, body: { x: '1' } });
  const refused = await fetch(`${server.url}/v1/call/trpc.app.who.Who/Am`, { method: 'POST', body: '{}', headers: { Cookie: 'session=banned' } });
  assert.equal(refused.status, 403);
});
