// The admin web UI (/admin/) in a real Chromium against a real node on a
// real redis-server: login, the cluster table, a user's sessions, a test
// push that reaches a socket.io client, dye / undye, disconnect, a room;
// then, in a test of its own, the views that need the operations calls
// (mailbox, log level, live trace).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, startRedis, api, push, connectClient, disconnected, request, uid, waitUntil, closeClients, testWith,
} from '../lib/courier.mjs';
import { ADMIN_KEY, launchBrowser, openPage, see, seeText, textOf, login, nav, findUser, screenshot } from './ui.mjs';

let redis;
let node;
let browser;

before(async () => {
  redis = await startRedis();
  node = await startServer(['--redis', redis.url, '--admin-key', ADMIN_KEY]);
  browser = await launchBrowser();
}, { timeout: 300000 });

after(async () => {
  closeClients();
  await browser?.close();
  await node?.stop();
  await redis?.stop();
});

const t = testWith(test, () => node);

/** GET /v1/dye's entry for user (with the API key), or undefined. */
async function dyeOf(user) {
  const r = await api(node, 'GET', '/v1/dye');
  assert.equal(r.status, 200, `GET /v1/dye: ${r.status} ${r.text}`);
  return r.json.find((d) => d.user === user);
}

t('login, cluster, a user and a room; test push, dye, undye and disconnect from the UI', async () => {
  const page = await openPage(browser.context);

  // not logged in: the login form, nothing else
  await page.goto(`${node.base}/admin/`);
  await seeText(page, '#login-form', 'Log in');
  assert.equal(await page.isVisible('#nav'), false, 'the app is hidden before login');
  await screenshot(page, 'login');

  await page.fill('#login-key', 'not-the-admin-key');
  await page.click('#login-submit');
  await seeText(page, '#login-error', 'wrong admin key');
  assert.deepEqual((await browser.context.cookies(node.base)).filter((c) => c.name === 'courier_admin'), [], 'a wrong key set a cookie');

  await page.fill('#login-key', ADMIN_KEY);
  await page.click('#login-submit');
  await see(page, 'the cluster page after login', () => !document.getElementById('page-cluster').hidden);
  const cookie = (await browser.context.cookies(node.base)).find((c) => c.name === 'courier_admin');
  assert.ok(cookie, 'no courier_admin cookie after login');
  assert.equal(cookie.httpOnly, true, 'cookie not HttpOnly');
  assert.equal(cookie.sameSite, 'Strict', 'cookie not SameSite=Strict');
  assert.equal(cookie.path, '/');
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('courier_admin'), 'the page script can read the cookie');

  // the cluster table shows this node, alive
  const row = `#cluster-table tbody tr[data-node="${node.nodeId}"]`;
  await seeText(page, row, 'alive', `node ${node.nodeId} alive in the cluster table`);
  assert.match(await textOf(page, row), new RegExp(`127\\.0\\.0\\.1:${node.port}`));

  // a real client: its session appears on the user page under its node
  const user = uid('admin-ui');
  const room = uid('lobby');
  const { socket, inbox } = await connectClient(node, { user, device: 'phone', rooms: ['lobby-*'] });
  assert.deepEqual((await request(socket, 'join', { room }))?.ok, true, 'join');
  await waitUntil(async () => (await api(node, 'GET', `/v1/users/${user}`)).json?.sessions?.length === 1, { what: 'the session registered' });
  await waitUntil(async () => (await api(node, 'GET', `/v1/rooms/${room}`)).json?.members === 1, { what: 'the room member registered' });
  await seeText(page, `${row} td:nth-child(4)`, '1', 'the cluster table counting the session');
  await screenshot(page, 'cluster');

  await findUser(page, user);
  const group = `#user-sessions .group[data-node="${node.nodeId}"]`;
  await seeText(page, group, 'phone', 'the session of device phone under its node');
  const sessions = (await api(node, 'GET', `/v1/users/${user}`)).json.sessions;
  assert.equal(sessions.length, 1);
  assert.ok((await textOf(page, group)).includes(sessions[0].id), 'the session id is shown');
  await seeText(page, '#user-dye', 'not dyed');

  // a test push from the UI reaches the client
  await page.fill('#push-event', 'admin-ping');
  await page.fill('#push-data', '{"n": 42, "text": "<b>not markup</b>"}');
  await page.click('#push-send');
  await seeText(page, '#act-result', 'push accepted: id ');
  const id = (await textOf(page, '#act-result')).replace('push accepted: id ', '');
  const got = await inbox.waitFor((m) => m.event === 'admin-ping', 5000, 'the push sent from the UI');
  assert.deepEqual(got.data, { n: 42, text: '<b>not markup</b>' });
  assert.equal(got.meta.id, id, 'the id the UI showed is the message id');
  await screenshot(page, 'user');

  // dye and undye, seen by the API
  await page.fill('#dye-env', 'canary');
  await page.click('#dye-set');
  await seeText(page, '#user-dye', 'dyed: canary');
  assert.equal((await dyeOf(user))?.env, 'canary', 'GET /v1/dye after Dye');
  await page.click('#dye-clear');
  await seeText(page, '#user-dye', 'not dyed');
  assert.equal(await dyeOf(user), undefined, 'GET /v1/dye after Undye');

  // the room page: one member on this node
  await nav(page, 'room');
  await page.fill('#room-input', room);
  await page.click('#room-find');
  await seeText(page, '#room-summary', '1 member session on 1 node');
  await seeText(page, '#room-nodes', node.nodeId);
  await screenshot(page, 'room');

  // the cookie alone does not make a change: the API wants X-Courier-Admin
  const bare = await page.evaluate(async (u) => {
    const res = await fetch(`/v1/users/${encodeURIComponent(u)}/disconnect`, { method: 'POST', credentials: 'same-origin' });
    return { status: res.status, body: await res.json() };
  }, user);
  assert.equal(bare.status, 403, `a cookie-only POST answered ${JSON.stringify(bare)}`);
  assert.equal(bare.body.error.code, 'forbidden');
  assert.equal(socket.connected, true, 'the refused call disconnected the client');

  // disconnect from the UI (it asks to confirm; the page accepts)
  await findUser(page, user);
  const gone = disconnected(socket, 10000);
  await page.click('#act-disconnect');
  await seeText(page, '#act-result', 'disconnected 1 session');
  assert.equal(await gone, 'io server disconnect');
  await waitUntil(async () => (await api(node, 'GET', `/v1/users/${user}`)).json?.sessions?.length === 0, { what: 'the session gone' });
  await page.click('#user-refresh');
  await seeText(page, '#user-sessions', 'no sessions');

  // logout: back to the form, the cookie gone
  await page.click('#logout');
  await seeText(page, '#login-form', 'Log in');
  assert.equal((await browser.context.cookies(node.base)).some((c) => c.name === 'courier_admin'), false, 'cookie kept after logout');

  // a session that ends under the page (the cookie gone): the next call's
  // 401 brings the login back
  await login(page, node.base);
  await browser.context.clearCookies();
  await seeText(page, '#login-error', 'session ended', 'the login form after a 401');
  assert.deepEqual(page.errors, [], 'script errors on the page');
  await page.close();
}, { timeout: 60000 });

// The operator's calls behind the user page (SPEC, Operations): GET
// /v1/users/{user}/mailbox, GET|PUT /v1/admin/log-level, and the live
// /v1/trace stream with its trace-id records.
t('mailbox, log level and live trace (the operations calls)', async () => {
  const page = await openPage(browser.context);
  await login(page, node.base);
  const user = uid('admin-trace');
  await findUser(page, user);

  // the trace runs before the client arrives, so its connect is seen
  await page.click('#trace-toggle');
  await seeText(page, '#trace-status', 'live', 'the trace stream open');
  const { inbox } = await connectClient(node, { user, device: 'phone', autoAck: false });
  const id = await push(node, { to: { users: [user] }, event: 'trace-ping', data: { n: 1 }, ttl: 120 });
  const msg = await inbox.waitFor((m) => m.event === 'trace-ping', 5000, 'the pushed message');

  // pushed, not acknowledged: pending for device phone, with its seq
  await page.click('#user-refresh');
  const device = '#user-mailbox .device[data-device="phone"]';
  await seeText(page, device, id, 'the unacknowledged message in the mailbox of device phone');
  const rowText = await page.evaluate(([d, i]) => [...document.querySelectorAll(`${d} tbody tr`)]
    .map((r) => r.textContent).find((x) => x.includes(i)), [device, id]);
  assert.ok(rowText.includes(String(msg.meta.seq)), `pending row ${JSON.stringify(rowText)} lacks seq ${msg.meta.seq}`);

  msg.ack();
  await waitUntil(async () => (await api(node, 'GET', `/v1/users/${user}`)).json?.pending === 0, { what: 'pending 0 after the ack' });

  // the timeline: connect, push, deliver, ack, in that order
  await see(page, 'connect, push, deliver and ack in the trace timeline', () => {
    const types = [...document.querySelectorAll('#trace-table tbody tr')].map((r) => r.dataset.type);
    const at = ['connect', 'push', 'deliver', 'ack'].map((x) => types.indexOf(x));
    return at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]));
  });
  const pushRow = await textOf(page, '#trace-table tbody tr[data-type="push"]');
  assert.ok(pushRow.includes(id), `the push row ${JSON.stringify(pushRow)} names the message id`);

  await screenshot(page, 'trace');

  // the push's trace id opens that call's record: accepted, delivered, acknowledged
  await page.locator('#trace-table tbody tr[data-type="push"] a[data-trace]').first().click();
  await see(page, "the push's record (push, deliver, ack) in the panel", () => {
    const p = document.getElementById('trace-detail');
    const types = [...p.querySelectorAll('tbody tr td .badge')].map((b) => b.textContent);
    return !p.hidden && ['push', 'deliver', 'ack'].every((x) => types.includes(x));
  });
  await screenshot(page, 'trace-record');
  await page.click('#trace-toggle');
  await seeText(page, '#trace-status', 'stopped');

  // the log level: set from the header bar, read back by the API
  await see(page, 'the log level control enabled', () => !document.getElementById('log-level').disabled);
  await page.selectOption('#log-level', 'debug');
  await page.click('#log-apply');
  await seeText(page, '#log-status', 'set to debug');
  const level = await api(node, 'GET', '/v1/admin/log-level');
  assert.equal(level.json?.level, 'debug', `GET /v1/admin/log-level: ${level.status} ${level.text}`);
  await page.selectOption('#log-level', 'info');
  await page.click('#log-apply');
  await seeText(page, '#log-status', 'set to info');
  assert.deepEqual(page.errors, [], 'script errors on the page');
  await page.close();
}, { timeout: 60000 });
