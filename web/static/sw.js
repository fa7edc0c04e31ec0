/**
 * The service worker keeps the app shell (the page, its stylesheets and the
 * modules an applicant uses) in a cache, so the app opens on a phone with
 * no signal, and answers content-hashed files from that cache first.
 *
 * Updates: the server writes the shell's hashed URLs into SHELL at start-up,
 * so a release changes this file and the browser installs the new worker
 * beside the old one. The new worker never calls skipWaiting() or
 * clients.claim(): it takes over only once every tab of the app has closed,
 * so a page never changes under an upload in progress and a release takes
 * effect on the next visit. The page itself is answered from the cache and
 * refreshed in the background for the same reason.
 *
 * The few API answers an applicant needs to open a case with no signal
 * (who they are, the office's settings, their cases, a case with its
 * evidence list, decisions and owed materials, the permit types) go to the
 * network first and are kept in a cache of their own, answered only when
 * the network fails. That cache holds one person's data: the page deletes
 * it on sign-in and sign-out (forgetApiCache in app.js) and the worker on
 * any 401. Every other API request, uploads, media and evidence bytes
 * always go to the network.
 */
const SHELL = [/*SHELL*/];

// One cache per shell: a new release fills its own and, once it is the
// active worker, deletes the old ones.
const VERSION = SHELL.join('\n').split('').reduce((h, c) => ((h * 31) + c.charCodeAt(0)) | 0, 7);
const CACHE = `siteinspect-shell-${(VERSION >>> 0).toString(36)}`;
const HASHED = /\.[0-9a-f]{12}\.(js|css)$/;

// API_CACHE must match app.js's forgetApiCache.
const API_CACHE = 'siteinspect-api';
// OFFLINE_API are the GET paths answered from API_CACHE when offline.
const OFFLINE_API = [
  /^\/api\/v1\/(me|config|cases|permit-types)$/,
  /^\/api\/v1\/cases\/[^/]+$/,
  /^\/api\/v1\/cases\/[^/]+\/(evidence|decisions|owed)$/,
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)));
  // Where the browser has the static routing API (Chromium), scripts and
  // stylesheets come straight from this release's cache without running
  // the fetch handler below, which a slow phone would feel on every module;
  // a miss goes to the network. Elsewhere the fetch handler does the same.
  try {
    event.addRoutes?.({
      condition: { or: [{ requestDestination: 'script' }, { requestDestination: 'style' }] },
      source: { cacheName: CACHE },
    })?.catch(() => { /* the fetch handler serves them */ });
  } catch { /* an older router: the fetch handler serves them */ }
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys
    .filter((key) => key.startsWith('siteinspect-shell-') && key !== CACHE)
    .map((key) => caches.delete(key)))));
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const root = new URL(self.registration.scope).pathname;
  if (req.mode === 'navigate' && (url.pathname === root || url.pathname === `${root}index.html`)) {
    event.respondWith(page(event));
  } else if (url.pathname.startsWith(root) && HASHED.test(url.pathname)) {
    event.respondWith(hashed(req));
  } else if (OFFLINE_API.some((re) => re.test(url.pathname))) {
    event.respondWith(api(req));
  }
});

/**
 * api asks the network and keeps a successful answer; when the network
 * fails it answers what it kept, if anything. A 401 means the session is
 * gone, and with it the right to what was kept.
 */
async function api(req) {
  let res;
  try {
    res = await fetch(req);
  } catch (err) {
    const hit = await caches.open(API_CACHE).then((cache) => cache.match(req, { ignoreVary: true }));
    if (hit) return hit;
    throw err;
  }
  if (res.ok) {
    const copy = res.clone();
    caches.open(API_CACHE).then((cache) => cache.put(req, copy)).catch(() => { /* storage full: no fallback */ });
  } else if (res.status === 401) {
    caches.delete(API_CACHE).catch(() => {});
  }
  return res;
}

/**
 * page answers from the cache at once and fetches the page in the
 * background (a 304 when nothing changed) for the next visit; with nothing
 * cached it waits for the network.
 */
async function page(event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match('./', { ignoreVary: true });
  const fresh = fetch(event.request).then((res) => {
    if (res.ok) return cache.put('./', res.clone()).then(() => res);
    return res;
  });
  if (!cached) return fresh;
  event.waitUntil(fresh.catch(() => { /* offline: the cached page will do */ }));
  return cached;
}

/** hashed answers a file whose content never changes under its name: cache first. */
async function hashed(req) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(req, { ignoreVary: true });
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok) await cache.put(req, res.clone());
  return res;
}
