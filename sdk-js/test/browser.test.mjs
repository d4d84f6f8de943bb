// The browser bundle (dist/courier.browser.js) in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core; no browser is downloaded),
// on a page served from 127.0.0.1, against a real node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startNode, token, uid, push, pending, waitFor } from './helpers/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const files = {
  '/': ['text/html', path.join(here, 'browser/index.html')],
  '/courier.browser.js': ['text/javascript', path.join(here, '../dist/courier.browser.js')],
};

let node;
let web;
let browser;
let profile;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (make deps does)`);
  node = await startNode(['--cors-origins', '*']);
  web = http.createServer((req, res) => {
    const f = files[req.url.split('?')[0]];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f[0] }).end(readFileSync(f[1]));
  });
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  profile = mkdtempSync(path.join(os.tmpdir(), 'courier-chromium-'));
  // a fresh --user-data-dir (playwright passes it from the first argument)
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (web ? web.close(r) : r()));
  await node?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('browser bundle: connect, receive with ack, join, request, and a reload does not re-handle', { timeout: 30000 }, async () => {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const origin = `http://127.0.0.1:${web.address().port}`;
  await page.goto(`${origin}/`);
  const user = uid('h5');
  const room = uid('lobby');
  const tok = await token(user, { rooms: 'lobby-*' });

  const device = await page.evaluate(([u, t]) => window.start(u, t), [node.url, tok]);
  assert.match(device, /^d-[0-9a-f]{16}$/);
  await page.waitForFunction(() => window.client.state === 'connected', null, { timeout: 5000 });
  await page.evaluate((r) => window.client.join(r), room);
  const id1 = await push(node, { to: { users: [user] }, event: 'chat', data: { text: 'hello from the push API' }, ttl: 60 });
  await push(node, { to: { rooms: [room] }, event: 'chat', data: { text: 'hello, room' }, ttl: 60 });
  await page.waitForFunction(() => window.received.length === 2, null, { timeout: 5000 });
  const got = await page.evaluate(() => window.received);
  assert.equal(got[0].meta.id, id1);
  assert.equal(got[1].meta.room, room);
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'acknowledged from the page' });

  const err = await page.evaluate(() => window.client.request('/trpc.app.x.X/Y', {}, { timeout: 3000 }).then(() => null, (e) => ({ code: e.code, message: e.message, name: e.name })));
  assert.equal(err?.code, 'not_found');
  assert.equal(err.name, 'CourierError');
  const forbidden = await page.evaluate(() => window.client.join('vip').then(() => null, (e) => e.code));
  assert.equal(forbidden, 'forbidden');
  await page.evaluate((e) => window.note(`request → ${e.code}: ${e.message}; join vip → forbidden`), err);
  await page.screenshot({ path: path.join(os.tmpdir(), 'courier-sdk-browser.png') });

  // handled, then the page goes away before its ack leaves: after the
  // reload the same device gets it again and the SDK drops it
  await page.evaluate(() => {
    window.client.on('late', () => window.client.close());
  });
  await push(node, { to: { users: [user] }, event: 'late', data: 1, ttl: 60 });
  await page.waitForFunction(() => window.client.state === 'closed', null, { timeout: 5000 });
  assert.equal(await pending(node, user), 1);
  await page.reload();
  const device2 = await page.evaluate(([u, t]) => {
    const d = window.start(u, t);
    window.lateCalls = 0;
    window.client.on('late', () => window.lateCalls++);
    return d;
  }, [node.url, tok]);
  assert.equal(device2, device, 'device id kept in localStorage');
  await waitFor(async () => (await pending(node, user)) === 0, { what: 'replayed "late" acknowledged after the reload' });
  assert.equal(await page.evaluate(() => window.lateCalls), 0, 'handled before the reload: not handed over again');
  assert.deepEqual(pageErrors, []);
  await page.close();
});
