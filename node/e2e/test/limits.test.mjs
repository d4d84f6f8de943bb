// SPEC, Limits, through the official socket.io-client against the real
// binary: what a client meets when it goes past a bound.
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import {
  startServer, openClient, connectClient, connected, connectError, disconnected, request, uid, signToken, closeClients,
} from '../lib/courier.mjs';

after(() => closeClients());

test('connections per IP: past the bound a new session is refused before the upgrade (503); a close frees a place', async () => {
  const server = await startServer(['--max-connections-per-ip', '3']);
  try {
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await connectClient(server, { user: uid('ip') }));
    // long-polling shows the HTTP status the refusal had
    const polling = openClient(server, { user: uid('ip'), transports: ['polling'] });
    const err = await connectError(polling.socket);
    assert.equal(err.message, 'xhr poll error');
    assert.equal(err.description, 503);
    const ws = openClient(server, { user: uid('ip'), transports: ['websocket'] });
    assert.equal((await connectError(ws.socket)).message, 'websocket error');

    held[0].socket.disconnect();
    const again = openClient(server, { user: uid('ip') });
    // the node counts the close a moment after the client sent it; a
    // refusal comes back at once, so each retry waits 100 ms (up to 5 s)
    let ok = false;
    for (let attempt = 0; attempt < 50 && !ok; attempt++) {
      try {
        await connected(again.socket, 1000);
        ok = true;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
        again.socket.connect();
      }
    }
    assert.ok(ok, 'no place after a close');
  } finally {
    await server.stop();
  }
});

test('handshakes per second per IP: past the burst the handshake gets 429', async () => {
  const server = await startServer(['--handshake-rate-per-ip', '1']);
  try {
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const c = openClient(server, { user: uid('rate'), transports: ['polling'] });
      statuses.push(await new Promise((resolve) => {
        c.socket.once('connect', () => resolve(200));
        c.socket.once('connect_error', (err) => resolve(err.description ?? err.message));
      }));
    }
    // burst 2: two through, then refused with 429 (a token may refill meanwhile)
    assert.deepEqual(statuses.slice(0, 2), [200, 200]);
    const c = openClient(server, { user: uid('rate'), transports: ['polling'] });
    const err = await connectError(c.socket);
    assert.equal(err.description, 429, `statuses ${JSON.stringify(statuses)}`);
  } finally {
    await server.stop();
  }
});

test('commands per second per connection: past the burst the ack is rate_limited and the connection stays', async () => {
  const server = await startServer(['--cmd-rate', '2', '--route', 'trpc.app.none.*=127.0.0.1:1']);
  try {
    const { socket } = await connectClient(server, { user: uid('cmd') });
    const answers = await Promise.all(Array.from({ length: 8 }, () => request(socket, 'cmd', { name: '/trpc.app.none.S/M', data: {} })));
    const limited = answers.filter((a) => a?.ok === false && a.error?.code === 'rate_limited').length;
    // burst 4 of 8 sent at once; a token may refill while they are served
    assert.ok(limited >= 3 && limited <= 4, `rate_limited answers: ${JSON.stringify(answers.map((a) => a?.error?.code))}`);
    assert.ok(socket.connected);
  } finally {
    await server.stop();
  }
});

test('sessions per user: the oldest is closed as replaced, with a DISCONNECT the client does not come back from', async () => {
  const server = await startServer(['--max-sessions-per-user', '2']);
  try {
    const user = uid('many');
    const first = await connectClient(server, { user, device: 'a' });
    const gone = disconnected(first.socket);
    await connectClient(server, { user, device: 'b' });
    const third = await connectClient(server, { user, device: 'c' });
    const notice = await first.inbox.waitFor((m) => m.event === 'courier:disconnect');
    assert.deepEqual(notice.data, { reason: 'replaced' });
    assert.equal(await gone, 'io server disconnect');
    assert.ok(third.socket.connected);
  } finally {
    await server.stop();
  }
});

test("a token's exp closes its connection with token_expired; a refresh first keeps it open", async () => {
  const server = await startServer();
  try {
    const exp = () => Date.now() / 1000 + 2.5; // fractional, as issuers may write it
    const expiring = await connectClient(server, { token: signToken({ sub: uid('exp'), exp: exp() }) });
    const gone = disconnected(expiring.socket, 8000);
    const notice = await expiring.inbox.waitFor((m) => m.event === 'courier:disconnect', 8000);
    assert.deepEqual(notice.data, { reason: 'token_expired' });
    assert.equal(await gone, 'transport close', 'the transport is dropped, so the client reconnects with a new token');

    const user = uid('refresh');
    const kept = await connectClient(server, { token: signToken({ sub: user, exp: exp() }) });
    const ack = await request(kept.socket, 'refresh', { token: signToken({ sub: user, exp: Date.now() / 1000 + 3600 }) });
    assert.deepEqual(ack, { ok: true });
    await new Promise((r) => setTimeout(r, 3500));
    assert.ok(kept.socket.connected, 'closed at the old exp after a refresh');
    const other = await request(kept.socket, 'refresh', { token: signToken({ sub: 'someone-else', exp: Date.now() / 1000 + 60 }) });
    assert.equal(other.ok, false);
    assert.equal(other.error.code, 'forbidden');
  } finally {
    await server.stop();
  }
});
