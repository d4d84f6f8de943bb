// Graceful shutdown of the real binary: SIGTERM drains within
// --shutdown-timeout, tells clients to reconnect, and keeps their messages.
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import {
  startServer, connectClient, disconnected, push, uid, closeClients,
} from '../lib/courier.mjs';

after(() => closeClients());

test('SIGTERM: not ready first, then clients are told to reconnect, the process exits 0 in time', async () => {
  const server = await startServer(['--shutdown-timeout', '5s', '--drain-delay', '600ms', '--drain-spread', '200ms']);
  try {
    const user = uid('drain');
    const { socket, inbox } = await connectClient(server, { user, device: 'd1', autoAck: false });
    const id = await push(server, { to: { users: [user] }, event: 'news', data: 'keep me', ttl: 60 });
    await inbox.waitFor((m) => m.event === 'news' && m.meta.id === id);

    const gone = disconnected(socket);
    const started = Date.now();
    process.kill(server.pid, 'SIGTERM');
    // a balancer sees the node leave first: /readyz answers 503 while the
    // client is still connected
    let ready = 200;
    while (ready === 200 && Date.now() - started < 500) {
      ready = (await fetch(`${server.base}/readyz`)).status;
    }
    assert.equal(ready, 503, '/readyz did not answer 503 within 500 ms of SIGTERM');
    assert.equal(inbox.filter((m) => m.event === 'courier:disconnect').length, 0, 'told to go before the drain delay');
    const notice = await inbox.waitFor((m) => m.event === 'courier:disconnect');
    assert.ok(Date.now() - started >= 550, `told to go ${Date.now() - started} ms after SIGTERM, before the 600 ms drain delay`);
    assert.deepEqual(notice.data, { reason: 'shutdown' });
    // the transport is dropped, not a socket.io DISCONNECT: the official
    // client reconnects by itself after this reason
    assert.equal(await gone, 'transport close');

    const exit = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('courier did not exit within 6 s of SIGTERM')), 6000);
      const poll = setInterval(() => {
        if (server.exited) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve(server.exited);
        }
      }, 20);
    });
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - started < 5500, `drain took ${Date.now() - started} ms`);
    assert.match(server.logs(200), /draining/);
  } catch (err) {
    err.message += `\n--- node log ---\n${server.logs(60)}`;
    throw err;
  } finally {
    await server.stop();
  }
});

test('a node listening beyond loopback refuses to start with generated secrets, and says why', async () => {
  const { spawnSync } = await import('node:child_process');
  const { courierBinary } = await import('../lib/courier.mjs');
  const bin = await courierBinary();
  const res = spawnSync(bin, ['--listen', '0.0.0.0:0'], { encoding: 'utf8', timeout: 10000 });
  assert.equal(res.status, 2, `exit ${res.status}: ${res.stdout}${res.stderr}`);
  assert.match(res.stderr + res.stdout, /--api-key and --jwt-secret/);
  assert.doesNotMatch(res.stdout, /JWT secret:/, 'refused node printed secrets');
});
