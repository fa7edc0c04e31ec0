/**
 * Entry point: the header, the hash router and the signed-in user. Routes
 * live in location.hash (#/cases, #/cases/new, #/cases/{id}, #/live/{lid},
 * #/join/{lid}?token=…) so the server serves one page and a reload or a
 * shared link lands on the same view. Each render gets a fresh container
 * and an "alive" check, so a slow fetch from a view the user already left
 * never draws over the current one. The applicant's live page (#/join) is
 * open without signing in: the token in its link is the credential.
 */
import { csrfToken, get, logout, onUnauthorized } from './api.js';
import { errorBox, fill, h } from './dom.js';
import { lang, onLangChange, setLang, t } from './i18n.js';
import * as caseView from './views/case.js';
import * as casesView from './views/cases.js';
import * as joinView from './views/join.js';
import * as liveView from './views/live.js';
import * as loginView from './views/login.js';
import * as newCaseView from './views/newcase.js';

const header = document.getElementById('app-header');
const main = document.getElementById('main');

let user = null;
let noticeKey = ''; // shown above the login form, e.g. after the session ended
let noticeText = ''; // or the message of a failed start
let seq = 0;
let cleanups = [];
let relabel = null; // set by a view that redraws its own words on a language switch

/**
 * parseRoute maps the hash to a view module and its parameters; null means
 * not found. open marks a route that renders without a signed-in user.
 */
function parseRoute() {
  const raw = window.location.hash.replace(/^#/, '');
  const [path, qs = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean);
  const query = new URLSearchParams(qs);
  if (parts.length === 0 || (parts[0] === 'cases' && parts.length === 1)) return { view: casesView, params: {}, query };
  if (parts[0] === 'login' && parts.length === 1) return { view: loginView, params: {}, query };
  if (parts[0] === 'cases' && parts.length === 2) {
    if (parts[1] === 'new') return { view: newCaseView, params: {}, query };
    return { view: caseView, params: { id: decodeURIComponent(parts[1]) }, query };
  }
  if (parts[0] === 'live' && parts.length === 2) return { view: liveView, params: { lid: decodeURIComponent(parts[1]) }, query };
  if (parts[0] === 'join' && parts.length === 2) return { view: joinView, params: { lid: decodeURIComponent(parts[1]) }, query, open: true };
  return null;
}

/** navigate goes to a hash; going to the current one re-renders it. */
function navigate(hash) {
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

function setUser(next) {
  user = next;
  noticeKey = '';
  noticeText = '';
  const route = parseRoute();
  if (!route || route.view === loginView) navigate('#/cases');
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
  fill(main, view);
  paintHeader();
  const route = parseRoute();
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
  if (!user && !route?.open) return loginView.render(view, ctx);
  if (route?.view === loginView) return navigate('#/cases');
  if (!route) {
    view.append(h('p', { class: 'notice' }, t('error.notFound')), h('a', { href: '#/cases' }, t('case.back')));
    return undefined;
  }
  try {
    return await route.view.render(view, ctx);
  } catch (err) {
    if (alive()) view.append(errorBox(err));
    return undefined;
  }
}

/** paintHeader draws brand, navigation, the user, sign-out and the language switch. */
function paintHeader() {
  const select = h('select', { id: 'lang-switch', 'aria-label': t('lang.label'), onchange: () => setLang(select.value) },
    h('option', { value: 'zh' }, t('lang.zh')),
    h('option', { value: 'en' }, t('lang.en')));
  select.value = lang();
  const signedIn = user && [
    h('a', { class: 'nav', href: '#/cases' }, t(user.role === 'applicant' ? 'cases.mine' : 'cases.queue')),
    h('span', { class: 'who', title: user.org || '' },
      h('span', { class: 'who-name' }, user.display_name || user.username),
      h('span', { class: 'who-role' }, t(`role.${user.role}`))),
    h('button', { type: 'button', class: 'secondary small', onclick: signOut }, t('header.logout')),
  ];
  fill(header, h('div', { class: 'bar' },
    h('a', { class: 'brand', href: '#/cases' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◉'), t('app.title')),
    h('div', { class: 'bar-end' }, signedIn, select)));
}

async function signOut() {
  try { await logout(); } catch { /* signed out locally either way */ }
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
    user = null;
    noticeKey = 'login.expired';
    render();
  });
  window.addEventListener('hashchange', render);
  // The CSRF cookie is set at login next to the session cookie; without it
  // there is no session to ask about (and no 401 to log in the console).
  if (csrfToken()) {
    try {
      const me = await get('/api/v1/me');
      user = me?.user || me;
    } catch (err) {
      if (err.status !== 401) noticeText = err.message;
    }
  }
  render();
}

boot();
