// A real page in Chromium with a real cookie (SPEC "Identity and
// integration", --auth-hook): the page's own login set a session cookie,
// the official socket.io-client on the page connects with no courier token,
// the browser sends the cookie with the WebSocket handshake, and the
// business's HTTP hook names the user.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startNode, push, uid } from './helpers/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const clientBundle = path.join(here, '../node_modules/socket.io-client/dist/socket.io.min.js');
const sdkBundle = path.join(here, '../dist/courier.browser.js');

let node;
let web;
let hook;
let browser;
let profile;
const told = [];

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (make deps does)`);
  hook = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const ask = JSON.parse(body);
    told.push(ask);
    const user = /(?:^|; )session=([\w-]+)/.exec(ask.headers.cookie || '')?.[1];
    res.writeHead(user ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(user ? { user, rooms: [], expires_in: 60 } : { message: 'log in first' }));
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  node = await startNode(['--auth-hook', `http://127.0.0.1:${hook.address().port}/auth`]);
  // the business's site: /login sets the session cookie, / is the page
  web = http.createServer((req, res) => {
    const [p, q] = req.url.split('?');
    if (p === '/login') {
      const user = new URLSearchParams(q).get('user');
      res.writeHead(302, { 'set-cookie': `session=${user}; Path=/; HttpOnly; SameSite=Lax`, location: '/' }).end();
    } else if (p === '/courier.browser.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(sdkBundle));
    } else if (p === '/sdk') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script src="/courier.browser.js"></script>');
    } else if (p === '/socket.io.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(clientBundle));
    } else if (p === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script src="/socket.io.min.js"></script>');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  profile = mkdtempSync(path.join(os.tmpdir(), 'courier-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (web ? web.close(r) : r()));
  await new Promise((r) => (hook ? hook.close(r) : r()));
  await node?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('a page logged in by cookie connects with no token and receives its user\'s pushes', { timeout: 30000 }, async () => {
  const user = uid('page');
  const page = await browser.newPage();
  const origin = `http://127.0.0.1:${web.address().port}`;
  await page.goto(`${origin}/login?user=${user}`); // the cookie is HttpOnly: the page cannot read it
  assert.equal(await page.evaluate(() => document.cookie), '', 'the HttpOnly cookie is visible to the page');
  const got = page.evaluate(async (url) => {
    const socket = window.io(url, { transports: ['websocket'], auth: { device: 'page' }, reconnection: false });
    return new Promise((resolve, reject) => {
      socket.on('connect_error', (e) => reject(new Error(`connect_error ${e.message} ${JSON.stringify(e.data)}`)));
      socket.on('connect', () => window.connected = true);
      socket.on('hello', (data, meta, ack) => {
        ack?.();
        resolve({ data, id: meta.id });
      });
    });
  }, node.url);
  await page.waitForFunction(() => window.connected === true, null, { timeout: 10000 });
  const id = await push(node, { to: { users: [user] }, event: 'hello', data: 'by cookie', ttl: 60 });
  assert.deepEqual(await got, { data: 'by cookie', id });
  const ask = told.at(-1);
  assert.equal(ask.headers.cookie, `session=${user}`, 'the hook was told the browser\'s cookie');
  assert.match(ask.headers['user-agent'], /Chrome/);
  assert.equal(ask.headers.origin, origin);
});

test('a page with no session is refused with connect_error {code: 401}', { timeout: 30000 }, async () => {
  const page = await browser.newPage();
  await page.context().clearCookies();
  await page.goto(`http://127.0.0.1:${web.address().port}/`);
  const data = await page.evaluate((url) => new Promise((resolve) => {
    const socket = window.io(url, { transports: ['websocket'], auth: {}, reconnection: false });
    socket.on('connect_error', (e) => resolve(e.data));
    socket.on('connect', () => resolve('connected'));
  }), node.url);
  assert.deepEqual(data, { code: 401 });
});

test('the SDK without a token: the page\'s cookie logs it in, it receives and acknowledges', { timeout: 30000 }, async () => {
  const user = uid('sdk');
  const page = await browser.newPage();
  const origin = `http://127.0.0.1:${web.address().port}`;
  await page.goto(`${origin}/login?user=${user}`);
  await page.goto(`${origin}/sdk`);
  await page.evaluate((url) => {
    window.got = [];
    const c = window.Courier.connect({ url, device: 'page' });
    c.on('state', (s) => { window.state = s; });
    c.on('hello', (data, meta) => { window.got.push({ data, id: meta.id }); });
  }, node.url);
  await page.waitForFunction(() => window.state === 'connected', null, { timeout: 10000 });
  const id = await push(node, { to: { users: [user] }, event: 'hello', data: 'sdk by cookie', ttl: 60 });
  await page.waitForFunction(() => window.got.length === 1, null, { timeout: 10000 });
  assert.deepEqual(await page.evaluate(() => window.got), [{ data: 'sdk by cookie', id }]);
});
