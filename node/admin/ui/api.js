// Calls to the node's own origin, with the session cookie. Every answer is
// JSON; an error answer {"error": {"code", "message"}} becomes an ApiError
// carrying that message, and a 401 also tells the app to show the login.

export class ApiError extends Error {
  /** message names the call; detail is the server's own message. */
  constructor(status, code, message, detail = message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

let unauthorized = () => {};

/** Sets what happens when a call answers 401 (the session ended). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * One call: method, path (same origin), optional JSON body. Resolves with
 * the parsed answer; rejects with an ApiError whose message names the call.
 * Every call but GET carries X-Courier-Admin: 1, which the API requires of
 * cookie-authenticated changes (a cross-site form cannot send it).
 */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-Courier-Admin'] = '1';
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', `${method} ${path}: ${err.message}`);
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = undefined;
  }
  if (res.ok) {
    if (json === undefined) throw new ApiError(res.status, 'bad_answer', `${method} ${path} answered something that is not JSON`);
    return json;
  }
  const e = json?.error;
  const message = e?.message || text.trim() || res.statusText;
  const err = new ApiError(res.status, e?.code || `http_${res.status}`, `${method} ${path}: ${res.status} ${message}`, message);
  // /admin/ calls (login, session) answer 401 as part of logging in
  if (res.status === 401 && !path.startsWith('/admin/')) unauthorized(err);
  throw err;
}

/** The path segment of a user or room name. */
export const seg = (name) => encodeURIComponent(name);
