// Fire-and-forget (ttl 0) and pushes to everyone ("to": {"all": true}).
// Own file and node: a cached push to all is replayed to every later device.
import assert from 'node:assert/strict';
import { test, before, after, afterEach } from 'node:test';
import {
  useServer, testWith, connectClient, push, uid, assertMeta, QUIET_MS,
} from '../lib/courier.mjs';

const server = useServer({ before, after, afterEach });
const t = testWith(test, server);

t('18. ttl 0 is fire-and-forget: online sessions only, nothing cached', async () => {
  const user = uid('ff');
  const online = await connectClient(server(), { user, device: 'on' });
  const id = await push(server(), { to: { users: [user] }, event: 'blip', data: 1, ttl: 0 });
  const m = await online.inbox.next();
  assert.equal(m.event, 'blip');
  assert.equal(m.meta?.id, id, `meta ${JSON.stringify(m.meta)}`);

  // a device connecting afterwards gets a fresh cached push first, never the ttl-0 one
  const later = await connectClient(server(), { user, device: 'later' });
  const fresh = await push(server(), { to: { users: [user] }, event: 'blip', data: 2, ttl: 60 });
  const m2 = await later.inbox.next();
  assert.equal(m2.meta?.id, fresh, `the later device first got ${JSON.stringify(m2.meta)} (ttl-0 id ${id})`);
  await later.inbox.expectNone((x) => x.meta?.id === id, QUIET_MS, 'replay of a ttl-0 push');
});

t('19. a push to all reaches every online session, and is replayed with meta.room "*"', async () => {
  const a = await connectClient(server(), { user: uid('a'), device: 'd' });
  const b = await connectClient(server(), { user: uid('b'), device: 'd' });
  const id = await push(server(), { to: { all: true }, event: 'announce', data: { v: 1 }, ttl: 60 });
  for (const [name, c] of [['a', a], ['b', b]]) {
    const m = await c.inbox.next();
    assert.equal(m.event, 'announce', name);
    assert.deepEqual(m.data, { v: 1 });
    assertMeta(m.meta, { id, room: '*', what: `online session ${name}` });
  }
  const late = await connectClient(server(), { user: uid('late'), device: 'd' });
  const m = await late.inbox.next();
  assertMeta(m.meta, { id, room: '*', what: 'device connecting later' });
});
