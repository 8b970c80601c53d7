// The admin API client: same origin, base path taken from the page's own
// location (sessions.base_path), bearer token from sessionStorage only.
const KEY = 'csocks.token';

export const base = (() => {
  const p = window.location.pathname.replace(/index\.html$/, '');
  return p.endsWith('/') ? p.slice(0, -1) : p;
})();

export function getToken() { return sessionStorage.getItem(KEY); }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/** Explain a refused request in words an operator can act on. */
export function explain(e) {
  if (!(e instanceof ApiError)) return String(e && e.message ? e.message : e);
  if (e.status === 403) {
    return 'The API refuses changes: no api.token (or api.token_file) is configured on the server. ' +
      'Set one and restart csocks to edit from the dashboard.';
  }
  if (e.status === 401) return 'The token was refused (wrong or expired). Sign in again.';
  if (e.status === 503) return `Not available: ${e.message}`;
  return e.message;
}

async function call(method, path, body, { token = getToken(), raw = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit', cache: 'no-store',
  });
  const text = await r.text();
  if (!r.ok) {
    let msg = text;
    try { msg = JSON.parse(text).error || text; } catch { /* not JSON */ }
    const err = new ApiError(r.status, msg || `HTTP ${r.status}`);
    if (r.status === 401 && token === getToken()) onUnauthorized(err);
    throw err;
  }
  if (raw) return text;
  return text ? JSON.parse(text) : null;
}

export const api = {
  get: (p, o) => call('GET', p, undefined, o),
  post: (p, b, o) => call('POST', p, b, o),
  put: (p, b, o) => call('PUT', p, b, o),
  del: (p, b, o) => call('DELETE', p, b, o),
  text: (p) => call('GET', p, undefined, { raw: true }),
};

/** Check a token: any /api/ read answers 401 when it is wrong. */
export async function tryToken(token) {
  await call('GET', '/api/acl/global', undefined, { token });
}

export const enc = encodeURIComponent;
