// The page's entry: login or the app, hash routes (#/cluster, #/user/NAME,
// #/room/NAME), the log-level form and logout.
import { api, onUnauthorized } from './api.js';
import { showError, clearError, report } from './notify.js';
import * as cluster from './cluster.js';
import * as user from './user.js';
import * as room from './room.js';

const pages = { cluster, user, room };
const $ = (id) => document.getElementById(id);
let current = null; // the page module on show
let loggedIn = false;

function parseHash() {
  const m = /^#\/(\w+)(?:\/(.*))?$/.exec(location.hash);
  if (!m || !pages[m[1]]) return { name: 'cluster', arg: '' };
  let arg = m[2] || '';
  try {
    arg = decodeURIComponent(arg);
  } catch {
    // keep it as typed
  }
  return { name: m[1], arg };
}

function route() {
  if (!loggedIn) return;
  const { name, arg } = parseHash();
  if (current && current !== pages[name]) current.hide();
  for (const n of Object.keys(pages)) $(`page-${n}`).hidden = n !== name;
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  current = pages[name];
  current.show(arg);
}

function setChrome(on) {
  for (const id of ['nav', 'log-form', 'logout']) $(id).hidden = !on;
}

/** The login form; message, if any, under it (an error unless note). */
function showLogin(message, note = false) {
  loggedIn = false;
  current?.hide();
  current = null;
  for (const n of Object.keys(pages)) $(`page-${n}`).hidden = true;
  setChrome(false);
  $('page-login').hidden = false;
  const err = $('login-error');
  err.textContent = message || '';
  err.className = note ? 'dim' : 'error-text';
  err.hidden = !message;
  $('login-key').focus();
}

function showApp() {
  loggedIn = true;
  $('page-login').hidden = true;
  $('login-error').hidden = true;
  setChrome(true);
  loadLogLevel();
  route();
}

function setLogControls(on) {
  for (const id of ['log-level', 'log-cluster', 'log-apply']) $(id).disabled = !on;
}

async function loadLogLevel() {
  const status = $('log-status');
  try {
    const r = await api('GET', '/v1/admin/log-level');
    $('log-level').value = r.level;
    status.textContent = '';
    status.title = '';
    setLogControls(true);
  } catch (err) {
    if (err.status === 401) return;
    setLogControls(false);
    status.textContent = `unavailable: ${err.detail}`;
    status.title = err.message;
  }
}

$('log-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const status = $('log-status');
  const body = { level: $('log-level').value, cluster: $('log-cluster').checked };
  try {
    const r = await api('PUT', '/v1/admin/log-level', body);
    $('log-level').value = r.level;
    status.textContent = `set to ${r.level}${r.cluster ? ' on every node' : ' on this node'}`;
    status.title = '';
  } catch (err) {
    status.textContent = 'not changed';
    report(err);
  }
});

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const key = $('login-key').value;
  const button = $('login-submit');
  button.disabled = true;
  try {
    await api('POST', '/admin/login', { key });
    $('login-key').value = '';
    clearError();
    showApp();
  } catch (err) {
    const err2 = $('login-error');
    err2.className = 'error-text';
    err2.textContent = err.status === 429 ? `${err.detail} (too many attempts)` : err.detail || err.message;
    err2.hidden = false;
  } finally {
    button.disabled = false;
  }
});

$('logout').addEventListener('click', async () => {
  try {
    await api('POST', '/admin/logout');
  } catch (err) {
    report(err);
  }
  showLogin('Logged out.', true);
});

$('error-close').addEventListener('click', clearError);
window.addEventListener('hashchange', route);
onUnauthorized(() => showLogin('The session ended: log in again.'));

(async () => {
  try {
    await api('GET', '/admin/session');
    showApp();
  } catch (err) {
    showLogin();
    if (err.status !== 401) showError(err);
  }
})();
