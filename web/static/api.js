/**
 * The one place that talks JSON to the API, so the cookie session, the CSRF
 * header and the error shape ({"error":{"code","message"}}) are handled the
 * same way by every view. The bearer token from login is deliberately never
 * stored: the HttpOnly session cookie is out of reach of any injected script.
 * It also knows who is signed in, for the few modules that are not handed a
 * view's context (the watermark over evidence video names the viewer).
 */
import { t } from './i18n.js';

const CSRF_COOKIE = 'siteinspect_csrf';

/** ApiError carries the HTTP status (0 for a network failure) and the server's code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

// The login answer also carries the CSRF token; kept as a fallback in case the
// cookie cannot be read (it is the same value).
let csrfFromLogin = '';
let unauthorizedHandler = () => {};

let viewer = '';

/**
 * setViewer records the signed-in user (null when signed out). app.js calls
 * it whenever it draws the header, which it does on every change of user.
 */
export function setViewer(user) {
  viewer = user ? (user.display_name || user.username || '') : '';
}

/** viewerName is the signed-in person's display name, or '' when none. */
export function viewerName() {
  return viewer;
}

/** csrfToken returns the value of the JS-readable CSRF cookie the server set at login. */
export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === CSRF_COOKIE) {
      return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return csrfFromLogin;
}

/** csrfHeaders returns what a cookie-authenticated request with this method must carry. */
export function csrfHeaders(method) {
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD') return {};
  const token = csrfToken();
  return token ? { 'X-CSRF-Token': token } : {};
}

/** onUnauthorized sets what happens when a request finds the session gone (show login). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/**
 * sessionLost tells the app that a request made outside this module (a tus
 * upload) found the session gone: the page shows itself signed out, as
 * for any other 401.
 */
export function sessionLost(err) {
  unauthorizedHandler(err);
}

/** errorFromResponse turns a failed response into an ApiError with the server's message. */
export async function errorFromResponse(res) {
  let code = `http_${res.status}`;
  let message = '';
  try {
    const body = await res.json();
    code = body?.error?.code || code;
    message = body?.error?.message || '';
  } catch { /* not JSON: keep the status text below */ }
  return new ApiError(res.status, code, message || `${t('error.generic')} (${res.status})`);
}

/**
 * request sends one JSON request and returns the decoded body, or null for an
 * empty one; extra adds headers (If-Match for an edit); onResponse, if
 * given, sees the successful response's headers first.
 */
export async function request(method, path, body, extra = {}, onResponse = null) {
  const headers = { Accept: 'application/json', ...csrfHeaders(method), ...extra };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', t('error.network'));
  }
  if (!res.ok) {
    const err = await errorFromResponse(res);
    // A 401 from login itself is a wrong password, not an expired session.
    if (res.status === 401 && path !== '/api/v1/auth/login') unauthorizedHandler(err);
    throw err;
  }
  if (onResponse) onResponse(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** get fetches a JSON resource. */
export const get = (path) => request('GET', path);

/**
 * getPage fetches one page of a list: its items and next, the address of
 * the next page from the Link header (rel="next", RFC 8288), '' on the last.
 */
export async function getPage(path) {
  let next = '';
  const body = await request('GET', path, undefined, {}, (res) => {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/.exec(res.headers.get('Link') || '');
    if (m) next = m[1];
  });
  return { items: listOf(body), next };
}

/** post sends a state-changing request; body may be omitted for pure actions. */
export const post = (path, body) => request('POST', path, body);

/** patch edits a resource; ifMatch (a version) makes a stale edit fail with 412. */
export const patch = (path, body, ifMatch) => request('PATCH', path, body, ifMatch == null ? {} : { 'If-Match': String(ifMatch) });

/** del deletes a resource. */
export const del = (path) => request('DELETE', path);

/** login signs in; the server sets the session and CSRF cookies. */
export async function login(username, password) {
  const res = await post('/api/v1/auth/login', { username, password });
  csrfFromLogin = res?.csrf_token || '';
  return res.user;
}

/** logout ends the session; a failure still leaves the UI signed out. */
export async function logout() {
  try { await post('/api/v1/auth/logout'); } finally { csrfFromLogin = ''; }
}

/** listOf accepts a bare array or a {items: [...]} envelope. */
export function listOf(value) {
  if (Array.isArray(value)) return value;
  return (value && Array.isArray(value.items)) ? value.items : [];
}

/** enc escapes one path segment. */
export const enc = encodeURIComponent;

/** evidencePath is the URL of an evidence item or one of its files ("poster", "pages/3"). */
export function evidencePath(id, rest = '') {
  return `/api/v1/evidence/${enc(id)}${rest ? `/${rest}` : ''}`;
}
