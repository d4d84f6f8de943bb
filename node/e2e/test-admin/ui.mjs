// Driving the admin UI (/admin/) in headless Chromium: Debian's
// /usr/bin/chromium through playwright-core, as sdk-js/test/browser.test.mjs
// does (no browser is downloaded). Every wait polls the page's DOM and is
// bounded; a wait that runs out says what the page's error banner showed.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** Where the screenshots go (git-ignored). */
export const ARTIFACTS = path.resolve(here, '../artifacts/admin');
/** An admin key of 32 bytes or more, as a node off loopback would need. */
export const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef0123456789';

/**
 * A fresh headless Chromium with its own throwaway profile; close() ends
 * the browser and removes the profile.
 */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (make deps does), or set CHROMIUM_PATH`);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'courier-admin-chromium-'));
  // a fresh --user-data-dir (playwright passes it from the first argument)
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A new page that accepts confirm() dialogs (Disconnect asks) and records
 * uncaught script errors in page.errors.
 */
export async function openPage(context) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  return page;
}

/** The text of the page's error banner, '' when none is shown. */
async function banner(page) {
  return page.evaluate(() => {
    const box = document.getElementById('error');
    return box && !box.hidden ? document.getElementById('error-text').textContent : '';
  }).catch(() => '');
}

/** Waits until fn(arg) is truthy in the page; fails naming what and the banner. */
export async function see(page, what, fn, arg, timeout = 10000) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (err) {
    const b = await banner(page);
    throw new Error(`not seen within ${timeout} ms: ${what}${b ? `\n  the page's error banner says: ${b}` : ''}\n  (${err.message.split('\n')[0]})`);
  }
}

/** Waits until the element of selector is shown and its text includes text. */
export function seeText(page, selector, text, what = `${selector} showing ${JSON.stringify(text)}`, timeout) {
  return see(page, what, ([s, t]) => {
    const e = document.querySelector(s);
    return e && e.offsetParent !== null && e.textContent.includes(t);
  }, [selector, text], timeout);
}

/** The text of selector (trimmed). */
export async function textOf(page, selector) {
  return ((await page.textContent(selector)) ?? '').trim();
}

/** Opens /admin/ and logs in with key, unless the page is logged in already. */
export async function login(page, base, key = ADMIN_KEY) {
  await page.goto(`${base}/admin/`);
  await see(page, 'the login form or the app', () => !document.getElementById('page-login').hidden || !document.getElementById('nav').hidden);
  if (await page.isVisible('#login-form')) {
    await page.fill('#login-key', key);
    await page.click('#login-submit');
  }
  await see(page, 'the app after logging in', () => !document.getElementById('nav').hidden);
}

/** Goes to a page by its nav link: 'cluster', 'user' or 'room'. */
export async function nav(page, name) {
  await page.click(`nav a[data-page="${name}"]`);
  await see(page, `the ${name} page`, (n) => !document.getElementById(`page-${n}`).hidden, name);
}

/** Finds a user on the user page. */
export async function findUser(page, user) {
  await nav(page, 'user');
  await page.fill('#user-input', user);
  await page.click('#user-find');
  await seeText(page, '#user-title', user);
}

/** Takes a screenshot into ARTIFACTS and checks it is a non-empty PNG. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const png = readFileSync(file);
  assert.ok(png.length > 1000, `${file}: ${png.length} bytes`);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} is not a PNG`);
  return file;
}
