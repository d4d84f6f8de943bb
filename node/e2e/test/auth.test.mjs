// Client authentication: the handshake auth token decides who a client is.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test, before, after, afterEach } from 'node:test';
import {
  useServer, testWith, openClient, connectClient, connectError, cliToken, signToken, tokenFor,
  decodeToken, push, uid, getUser, waitUntil, assertMeta, JWT_SECRET,
} from '../lib/courier.mjs';

const server = useServer({ before, after, afterEach });
const t = testWith(test, server);

async function expect401(auth, what) {
  const { socket } = openClient(server(), { auth });
  const err = await connectError(socket);
  assert.deepEqual(err.data, { code: 401 }, `${what}: connect_error "${err.message}" carried data ${JSON.stringify(err.data)}`);
  assert.equal(socket.connected, false, `${what}: socket is connected`);
}

t('1. a bad token is refused with connect_error data {code: 401}', async () => {
  const now = Math.floor(Date.now() / 1000);
  await expect401({ token: signToken({ sub: 'mallory', exp: now + 3600 }, 'wrong-secret') }, 'wrong secret');
  await expect401({ token: 'not.a.jwt' }, 'garbage token');
  await expect401({ token: signToken({ sub: 'mallory', exp: now - 10 }) }, 'expired token');
  await expect401({ token: signToken({ exp: now + 3600 }) }, 'token without sub');
  // alg none with the right claims must not be accepted
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url')}.`;
  await expect401({ token: none }, 'alg none');
});

t('1b. a missing token is refused with connect_error data {code: 401}', async () => {
  await expect401({}, 'empty auth');
  await expect401({ device: 'd1' }, 'device but no token');
  await expect401({ token: '' }, 'empty token');
  // no auth object at all
  const { socket } = openClient(server(), { auth: null, opts: { auth: undefined } });
  const err = await connectError(socket);
  assert.deepEqual(err.data, { code: 401 }, `no auth: connect_error "${err.message}" carried ${JSON.stringify(err.data)}`);
});

t('1c. the user id comes from the token, never from what the client claims', async () => {
  const real = uid('real');
  const claimed = uid('claimed');
  const { socket, inbox } = openClient(server(), {
    auth: { token: tokenFor(real), device: 'dev-1', user: claimed, sub: claimed },
  });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const idClaimed = await push(server(), { to: { users: [claimed] }, event: 'secret', data: 1, ttl: 60 });
  const idReal = await push(server(), { to: { users: [real] }, event: 'mine', data: 2, ttl: 60 });
  const got = await inbox.next();
  assert.equal(got.event, 'mine', `first message was ${JSON.stringify(got.meta)} (claimed-user message id ${idClaimed})`);
  assert.equal(got.meta.id, idReal);
  assert.equal(inbox.filter((m) => m.meta?.id === idClaimed).length, 0, 'received a message addressed to the claimed user');
});

t('CLI token: `courier token` mints a working HS256 token', async () => {
  const user = uid('cli');
  const token = await cliToken({ user, rooms: 'a,b:*', ttl: '1h' });
  const { header, payload } = decodeToken(token);
  assert.equal(header.alg, 'HS256');
  assert.equal(payload.sub, user);
  assert.deepEqual(payload.rooms, ['a', 'b:*']);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(payload.exp - (now + 3600)) <= 60, `exp ${payload.exp} is not about now+1h (${now + 3600})`);

  // cross-check: the CLI's signature is HMAC-SHA256 of header.payload with the secret
  const [h, p, sig] = token.split('.');
  const expected = createHmac('sha256', JWT_SECRET).update(`${h}.${p}`).digest('base64url');
  assert.equal(sig, expected, 'CLI token signature is not HS256 over header.payload with --jwt-secret');

  const { socket, inbox } = await connectClient(server(), { token, device: 'cli-dev' });
  assert.ok(socket.connected);
  const id = await push(server(), { to: { users: [user] }, event: 'hello', data: { via: 'cli' }, ttl: 60 });
  const msg = await inbox.next();
  assert.equal(msg.event, 'hello');
  assert.deepEqual(msg.data, { via: 'cli' });
  assertMeta(msg.meta, { id });

  // a token signed with another secret by the CLI is refused
  const foreign = await cliToken({ user, ttl: '1h', secret: 'other-secret' });
  const bad = openClient(server(), { token: foreign });
  const err = await connectError(bad.socket);
  assert.deepEqual(err.data, { code: 401 });

  // the session shows up under the token's user with its device
  const info = await waitUntil(async () => {
    const r = await getUser(server(), user);
    return r.status === 200 && r.json.sessions?.length === 1 ? r.json : undefined;
  }, { what: `GET /v1/users/${user} with one session` });
  assert.equal(info.user, user);
  assert.equal(info.sessions[0].device, 'cli-dev');
});
