/**
 * Entry point: the header, the hash router and the signed-in user. Routes
 * live in location.hash (#/cases, #/cases/new, #/cases/{id}, #/live/{lid},
 * #/join/{lid}?token=…) so the server serves one page and a reload or a
 * shared link lands on the same view. Each render gets a fresh container
 * and an "alive" check, so a slow fetch from a view the user already left
 * never draws over the current one. The applicant's live page (#/join) is
 * open without signing in: the token in its link is the credential.
 *
 * Views are imported when their route first opens, so the login page loads
 * only its own few modules (index.html preloads them) and the session check
 * starts as soon as this module runs, in parallel with the view's import.
 */
import { csrfToken, get, logout, onUnauthorized, setViewer } from './api.js';
import { errorBox, fill, h } from './dom.js';
import { errorText, lang, loadStrings, onLangChange, setLang, t } from './i18n.js';
// The login form is every signed-out route's page and the first thing most
// visits show, so it comes with this module (index.html preloads it).
import * as loginView from './views/login.js';

// The session check goes out first, before any view is fetched. The CSRF
// cookie is set at login next to the session cookie; without it there is
// no session to ask about (and no 401 to log in the console).
const session = csrfToken() ? get('/api/v1/me').then((me) => ({ me }), (err) => ({ err })) : null;

// The office's settings (its time zone above all: every time shown or
// typed is the office's clock time) come once: with the session check when
// there is a session, else with the first page after the login form, which
// shows no time and so never waits for them, nor for format.js, which
// keeps the zone (and the last one seen, for a phone with no signal).
let officeConfig = null;

/** loadOfficeConfig fetches GET /api/v1/config once and applies its zone; it never rejects. */
function loadOfficeConfig() {
  officeConfig ||= Promise.all([
    fetch('/api/v1/config', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then((res) => (res.ok ? res.json() : null)),
    import('./format.js'),
  ])
    .then(([cfg, format]) => {
      if (cfg?.timezone) format.setTimeZone(cfg.timezone);
      return cfg;
    })
    .catch(() => null);
  return officeConfig;
}
if (session) loadOfficeConfig();

// Each view's module, imported on first use. The specifiers are literal so
// the server can point them at the content-hashed files.
const views = {
  cases: () => import('./views/cases.js'),
  case: () => import('./views/case.js'),
  newCase: () => import('./views/newcase.js'),
  live: () => import('./views/live.js'),
  join: () => import('./views/join.js'),
  stats: () => import('./views/stats.js'),
  audit: () => import('./views/audit.js'),
  owed: () => import('./views/owedlist.js'),
  adminCatalogue: () => import('./views/admincatalogue.js'),
  followups: () => import('./views/followups.js'),
  admin: () => import('./views/admin.js'),
  notifications: () => import('./views/notifications.js'),
  login: async () => loginView,
};

// The stylesheets of the pages after the login form, fetched with the
// first of those pages so the login form waits only for app.css. new URL
// with import.meta.url is how a module names a file next to it; the server
// points it at the content-hashed file. In cascade order, after app.css.
const pageStyles = [
  new URL('./views.css', import.meta.url),
  new URL('./review.css', import.meta.url),
  new URL('./live.css', import.meta.url),
];
let pageStylesLoaded = null;

/** loadPageStyles adds the page stylesheets once and resolves when they apply. */
function loadPageStyles() {
  pageStylesLoaded ||= Promise.all(pageStyles.map((href) => new Promise((resolve) => {
    const link = h('link', { rel: 'stylesheet', href: href.href });
    // A stylesheet that fails to load leaves the page plain, not blank.
    link.addEventListener('load', resolve);
    link.addEventListener('error', resolve);
    document.head.append(link);
  })));
  return pageStylesLoaded;
}

const header = document.getElementById('app-header');
const main = document.getElementById('main');

let user = null;
let noticeKey = ''; // shown above the login form, e.g. after the session ended
let noticeText = ''; // or the message of a failed start
let seq = 0;
let cleanups = [];
let relabel = null; // set by a view that redraws its own words on a language switch
let shownHash = null; // the route on screen, to tell a route change from a redraw

/**
 * parseRoute maps the hash to a view name and its parameters; null means
 * not found. open marks a route that renders without a signed-in user.
 */
function parseRoute() {
  const raw = window.location.hash.replace(/^#/, '');
  const [path, qs = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean);
  const query = new URLSearchParams(qs);
  if (parts.length === 0 || (parts[0] === 'cases' && parts.length === 1)) return { view: 'cases', params: {}, query };
  if (parts[0] === 'login' && parts.length === 1) return { view: 'login', params: {}, query };
  if (parts[0] === 'stats' && parts.length === 1) return { view: 'stats', params: {}, query };
  if (parts[0] === 'audit' && parts.length === 1) return { view: 'audit', params: {}, query };
  if (parts[0] === 'owed' && parts.length === 1) return { view: 'owed', params: {}, query };
  if (parts[0] === 'admin' && parts[1] === 'catalogue' && parts.length === 2) return { view: 'adminCatalogue', params: {}, query };
  if (parts[0] === 'followups' && parts.length === 1) return { view: 'followups', params: {}, query };
  // #/admin/catalogue (permit types) is its own view.
  if (parts[0] === 'admin' && parts.length <= 2 && parts[1] !== 'catalogue') return { view: 'admin', params: { section: parts[1] || 'users' }, query };
  if (parts[0] === 'notifications' && parts.length === 1) return { view: 'notifications', params: {}, query };
  if (parts[0] === 'cases' && parts.length === 2) {
    if (parts[1] === 'new') return { view: 'newCase', params: {}, query };
    return { view: 'case', params: { id: decodeURIComponent(parts[1]) }, query };
  }
  if (parts[0] === 'live' && parts.length === 2) return { view: 'live', params: { lid: decodeURIComponent(parts[1]) }, query };
  if (parts[0] === 'join' && parts.length === 2) return { view: 'join', params: { lid: decodeURIComponent(parts[1]) }, query, open: true };
  return null;
}

/** navigate goes to a hash; going to the current one re-renders it. */
function navigate(hash) {
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

/**
 * forgetApiCache deletes the API answers the service worker keeps for
 * opening the app with no signal (sw.js, API_CACHE): they are one person's
 * data, so they go at sign-in, sign-out and when the session ends.
 */
function forgetApiCache() {
  if ('caches' in window) caches.delete('siteinspect-api').catch(() => { /* storage blocked */ });
}

function setUser(next) {
  forgetApiCache();
  user = next;
  noticeKey = '';
  noticeText = '';
  const route = parseRoute();
  if (!route || route.view === 'login') navigate('#/cases');
  else render();
}

/** render tears down the current view and draws the one the hash names. */
async function render() {
  for (const fn of cleanups) fn();
  cleanups = [];
  relabel = null;
  const mine = ++seq;
  const alive = () => mine === seq;
  const view = h('div', { class: 'view' });
  const route = parseRoute();
  // A new route moves focus to the new page's heading, so keyboard and
  // screen reader users start reading there instead of at the top of the
  // document. So does a redraw that takes away the element that had focus;
  // the first page and other redraws leave focus alone.
  const active = document.activeElement;
  const moved = (shownHash !== null && shownHash !== window.location.hash)
    || (active !== null && active !== main && main.contains(active));
  const first = shownHash === null;
  shownHash = window.location.hash;
  const ctx = {
    user,
    params: route?.params || {},
    query: route?.query || new URLSearchParams(),
    navigate,
    setUser,
    alive,
    onCleanup: (fn) => (alive() ? cleanups.push(fn) : fn()),
    // A view holding a camera or a call redraws its own words on a language
    // switch instead of being rebuilt, which would hang up.
    keepOnLangChange: (fn) => { if (alive()) relabel = fn; },
    notice: noticeKey ? t(noticeKey) : noticeText,
  };
  if (user && route?.view === 'login') return navigate('#/cases');
  const name = !user && !route?.open ? 'login' : route?.view;
  let mod = null;
  if (name) {
    try {
      // Every page after the login form needs its stylesheets, the office's
      // settings and its words (strings.js), fetched beside its module.
      const later = name !== 'login';
      [mod] = await Promise.all([views[name](), later && loadPageStyles(), later && loadOfficeConfig(), later && loadStrings()]);
    } catch (err) {
      if (!alive()) return undefined;
      // The service worker answered with the page of an earlier release,
      // whose view modules the server no longer has. On the page's first
      // view nothing is in progress yet, so fetch the current page and start
      // again, once; later (an upload may be running) only say so.
      if (first && await reloadForRelease()) return undefined;
      // Offline, or a release replaced the files: say so instead of a blank page.
      fill(main, view);
      paintHeader();
      view.append(errorBox(err));
      return undefined;
    }
    if (!alive()) return undefined;
    try { sessionStorage.removeItem(RELOADED_KEY); } catch { /* storage blocked */ }
  }
  fill(main, view);
  paintHeader();
  if (moved) focusHeading(view, alive);
  if (!mod) {
    view.append(h('h1', {}, t('error.notFound')), h('a', { href: '#/cases' }, t('case.back')));
    return undefined;
  }
  try {
    return await mod.render(view, ctx);
  } catch (err) {
    if (alive()) view.append(errorBox(err));
    return undefined;
  }
}

const RELOADED_KEY = 'siteinspect.reloadedForRelease';

/**
 * reloadForRelease puts the server's current page into the service worker's
 * cache and reloads, unless it did so already in this tab since the last
 * view that loaded; it resolves false when it will not reload.
 */
async function reloadForRelease() {
  try {
    if (sessionStorage.getItem(RELOADED_KEY)) return false;
    const res = await fetch('./', { cache: 'no-cache', credentials: 'same-origin' });
    if (!res.ok) return false;
    if ('caches' in window) {
      for (const key of await caches.keys()) {
        if (key.startsWith('siteinspect-shell-')) await (await caches.open(key)).put('./', res.clone());
      }
    }
    sessionStorage.setItem(RELOADED_KEY, '1');
  } catch {
    return false; // offline or storage blocked: show the error instead
  }
  window.location.reload();
  return true;
}

/**
 * focusHeading focuses the view's h1 once it is drawn (some views draw it
 * after a fetch), unless the user has moved focus into the view meanwhile.
 */
function focusHeading(view, alive) {
  const tryFocus = () => {
    const heading = view.querySelector('h1');
    if (!heading) return false;
    const active = document.activeElement;
    if (active && active !== document.body && view.contains(active)) return true;
    heading.setAttribute('tabindex', '-1');
    heading.focus();
    return true;
  };
  if (tryFocus()) return;
  const watch = new MutationObserver(() => {
    if (!alive() || tryFocus()) watch.disconnect();
  });
  watch.observe(view, { childList: true, subtree: true });
  const stop = () => watch.disconnect();
  if (alive()) cleanups.push(stop);
  else stop();
}

let bellModule = null;

function bellSlot() {
  const slot = h('span', { class: 'bell-slot' });
  // A failed import is tried again at the next header.
  bellModule ||= import('./notifybell.js').catch((err) => {
    bellModule = null;
    throw err;
  });
  // The bell's words are in strings.js: with no signal before the service
  // worker has it, the header shows no bell rather than bare keys.
  Promise.all([bellModule, loadStrings()])
    .then(([m]) => { if (user) slot.replaceChildren(m.bell()); }, () => { /* offline: no bell */ });
  return slot;
}

function stopBell() {
  bellModule?.then((m) => m.stopBell(), () => {});
}

/** paintHeader draws brand, navigation, the user, sign-out and the language switch. */
function paintHeader() {
  setViewer(user);
  const select = h('select', { id: 'lang-switch', 'aria-label': t('lang.label'), onchange: () => setLang(select.value) },
    h('option', { value: 'zh' }, t('lang.zh')),
    h('option', { value: 'en' }, t('lang.en')));
  select.value = lang();
  const signedIn = user && [
    h('a', { class: 'nav', href: '#/cases' }, t(user.role === 'applicant' ? 'cases.mine' : 'cases.queue')),
    (user.role === 'supervisor' || user.role === 'admin') && h('a', { class: 'nav', href: '#/stats' }, t('stats.nav')),
    (user.role === 'supervisor' || user.role === 'admin') && h('a', { class: 'nav', href: '#/audit', id: 'nav-audit' }, t('audit.nav')),
    user.role !== 'applicant' && h('a', { class: 'nav', href: '#/owed', id: 'nav-owed' }, t('owedlist.nav')),
    (user.role === 'supervisor' || user.role === 'admin') && h('a', { class: 'nav', href: '#/followups', id: 'nav-followups' }, t('followups.nav')),
    user.role === 'admin' && h('a', { class: 'nav', href: '#/admin', id: 'nav-admin' }, t('admin.nav')),
    bellSlot(),
    h('span', { class: 'who', title: user.org || '' },
      h('span', { class: 'who-name' }, user.display_name || user.username),
      h('span', { class: 'who-role' }, t(`role.${user.role}`))),
    h('button', { type: 'button', class: 'secondary small', onclick: signOut }, t('header.logout')),
  ];
  fill(header, h('div', { class: 'bar' },
    h('a', { class: 'brand', href: '#/cases' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), t('app.title')),
    h('div', { class: 'bar-end' }, signedIn, select)));
}

async function signOut() {
  try { await logout(); } catch { /* signed out locally either way */ }
  stopBell();
  forgetApiCache();
  user = null;
  navigate('#/cases');
}

/**
 * rerenderKeepingInput redraws after a language switch without losing what
 * the user typed into a form (a half-filled new case, a username).
 */
async function rerenderKeepingInput() {
  if (relabel) {
    paintHeader();
    relabel();
    return;
  }
  const saved = [...main.querySelectorAll('form [id]')]
    .filter((el) => 'value' in el && el.type !== 'password' && el.type !== 'file')
    .map((el) => [el.id, el.value]);
  await render();
  for (const [id, value] of saved) {
    const el = document.getElementById(id);
    if (!el || el.value === value) continue;
    el.value = value;
    el.dispatchEvent(new Event('change'));
  }
}

async function boot() {
  onLangChange(rerenderKeepingInput);
  onUnauthorized(() => {
    if (!user) return;
    stopBell();
    forgetApiCache();
    user = null;
    noticeKey = 'login.expired';
    render();
  });
  window.addEventListener('hashchange', render);
  if (session) {
    // Fetch the first view's module while the session check is on its way.
    const route = parseRoute();
    if (route && views[route.view]) views[route.view]().catch(() => {});
    loadPageStyles();
    loadStrings().catch(() => { /* render says so if it is still missing */ });
    const [{ me, err }] = await Promise.all([session, loadOfficeConfig()]);
    if (me) user = me.user || me;
    else if (err.status !== 401) noticeText = errorText(err);
  }
  render();
}

boot();

// The service worker keeps the app shell for a phone with no signal. It is
// registered after the page has loaded, so filling its cache never competes
// with what the first page needs.
if ('serviceWorker' in navigator) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('sw.js').catch(() => { /* the app works without it */ });
  });
}
