/**
 * The UI's words, with Chinese and English side by side in each entry, so a
 * missing translation shows up in review next to its sibling. This module
 * holds what the login page and the header show, and the error codes a
 * sign-in can meet; the words of every later page are in strings.js, which
 * loadStrings brings before such a page draws, so the first visit on a slow
 * phone does not fetch and parse them. Permit type names and checklist texts
 * are not here: the API sends them in both languages and pick() chooses one.
 */

const STORAGE_KEY = 'siteinspect.lang';

/** @type {Record<string, {zh: string, en: string}>} */
const messages = {
  'app.title': { zh: '在线踏勘', en: 'Remote site inspection' },
  'lang.label': { zh: '语言', en: 'Language' },
  'lang.zh': { zh: '中文', en: '中文' },
  'lang.en': { zh: 'English', en: 'English' },
  'header.logout': { zh: '退出', en: 'Sign out' },

  'role.applicant': { zh: '申请人', en: 'Applicant' },
  'role.inspector': { zh: '踏勘人员', en: 'Inspector' },
  'role.reviewer': { zh: '复核人员', en: 'Reviewer' },
  'role.admin': { zh: '管理员', en: 'Administrator' },
  'role.supervisor': { zh: '监督人员', en: 'Supervisor' },

  'login.title': { zh: '登录', en: 'Sign in' },
  'login.intro': { zh: '企业申请人和审批人员使用同一入口登录。', en: 'Applicants and permit office staff sign in here.' },
  'login.username': { zh: '用户名', en: 'Username' },
  'login.password': { zh: '密码', en: 'Password' },
  'login.submit': { zh: '登录', en: 'Sign in' },
  'login.busy': { zh: '正在登录…', en: 'Signing in…' },
  'login.expired': { zh: '登录已失效，请重新登录。', en: 'Your session has ended. Please sign in again.' },

  'cases.mine': { zh: '我的案件', en: 'My cases' },
  'cases.queue': { zh: '踏勘队列', en: 'Inspection queue' },
  'owedlist.nav': { zh: '逾期承诺', en: 'Overdue commitments' },
  'followups.nav': { zh: '差评整改', en: 'Follow-ups' },

  'case.back': { zh: '返回列表', en: 'Back to list' },
  'admin.nav': { zh: '管理', en: 'Admin' },

  'stats.nav': { zh: '监督统计', en: 'Figures' },
  'audit.nav': { zh: '审计日志', en: 'Audit trail' },

  'common.loading': { zh: '加载中…', en: 'Loading…' },
  'common.none': { zh: '—', en: '—' },
  'common.colon': { zh: '：', en: ': ' },
  'error.network': { zh: '网络连接失败，请检查网络后重试。', en: 'Network error. Check your connection and try again.' },
  'error.generic': { zh: '出错了，请稍后重试。', en: 'Something went wrong. Please try again.' },
  'error.notFound': { zh: '页面不存在。', en: 'Page not found.' },
};

const listeners = new Set();
let current = initialLang();

/** initialLang prefers the user's earlier choice, then the browser's language. */
function initialLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'zh' || saved === 'en') return saved;
  } catch { /* storage blocked: fall through to the browser's language */ }
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || '';
  return nav.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/** lang returns the current language code, "zh" or "en". */
export function lang() {
  return current;
}

/** locale is the BCP 47 tag for Intl formatting in the current language. */
export function locale() {
  return current === 'zh' ? 'zh-CN' : 'en-GB';
}

/** setLang switches language, remembers it and tells listeners to re-render. */
export function setLang(next) {
  if ((next !== 'zh' && next !== 'en') || next === current) return;
  current = next;
  try { localStorage.setItem(STORAGE_KEY, next); } catch { /* not remembered; still switch */ }
  document.documentElement.lang = locale();
  for (const fn of listeners) fn(next);
}

/** onLangChange registers fn to run after a switch; it returns an unsubscribe function. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** t looks a key up and fills {name} placeholders; an unknown key shows itself so it gets noticed. */
export function t(key, params = {}) {
  const entry = messages[key];
  const text = entry ? entry[current] : key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/**
 * addMessages adds the words of a view that loads after sign-in, so that
 * they stay off the login page's first load; a key already here wins.
 */
export function addMessages(table) {
  for (const [key, entry] of Object.entries(table)) if (!(key in messages)) messages[key] = entry;
}

/**
 * addCodes adds the sentences of error codes met after sign-in
 * (strings.js); a code already here wins.
 */
export function addCodes(table) {
  for (const [code, entry] of Object.entries(table)) if (!(code in codes)) codes[code] = entry;
}

let rest = null;

/**
 * loadStrings imports strings.js once, resolving when its words are in the
 * tables; a failed import (no signal, no service worker yet) is tried again
 * on the next call.
 */
export function loadStrings() {
  rest ||= import('./strings.js').catch((err) => {
    rest = null;
    throw err;
  });
  return rest;
}

/**
 * codes are the API's stable error codes (docs/SECURITY.md, API.md) in the
 * person's language: the server's message is for logs and scripts, never
 * shown when the code is known.
 */
const codes = {
  bad_credentials: { zh: '用户名或密码错误。', en: 'Wrong username or password.' },
  rate_limited: { zh: '尝试次数过多，请稍后再试。', en: 'Too many attempts. Please try again later.' },
  database_unavailable: { zh: '系统繁忙，请稍后重试。', en: 'The system is busy. Please try again shortly.' },
  draining: { zh: '该服务节点正在停止，请稍后重试。', en: 'This server is shutting down. Please try again shortly.' },
  unauthenticated: { zh: '登录已失效，请重新登录。', en: 'Your session has ended. Please log in again.' },
  forbidden: { zh: '您无权执行此操作。', en: 'You may not do this.' },
  not_found: { zh: '未找到，可能已被删除或您无权查看。', en: 'Not found: it may have been removed, or you may not see it.' },
  internal: { zh: '服务器出错，请稍后重试。', en: 'Something went wrong on the server. Please try again.' },

  // Each error a person can meet has its own code (docs/ERRORS.md).
  credentials_required: { zh: '请输入用户名和密码。', en: 'Enter your username and password.' },

  // Class codes: a client program handles these; a person who meets one
  // still reads a sentence, never the protocol's wording.
  invalid: { zh: '请求未被接受，请检查填写的内容后重试。', en: 'The request was not accepted. Check what you entered and try again.' },
  conflict: { zh: '操作与当前情况冲突，请刷新后重试。', en: 'This clashes with the current state. Reload and try again.' },
  locked: { zh: '他人正在写入此文件，请稍候自动重试。', en: 'Someone else is writing this upload. It retries by itself in a moment.' },
  invalid_state: { zh: '当前状态不允许此操作，请刷新后查看。', en: 'This is not allowed in the current state. Reload to see where it stands.' },
  gone: { zh: '该内容已过期。', en: 'This has expired.' },
  precondition_failed: { zh: '内容已被修改，请刷新后重试。', en: 'It changed meanwhile. Reload and try again.' },
  checksum_mismatch: { zh: '数据传输出错，请重试。', en: 'The data was damaged on the way. Please retry.' },
  method_not_allowed: { zh: '不支持此操作。', en: 'This is not supported.' },
  range_not_satisfiable: { zh: '请求的部分不存在。', en: 'The part asked for does not exist.' },
  unavailable: { zh: '系统暂时不可用，请稍后重试。', en: 'The system is unavailable for now. Please try again shortly.' },
  network: { zh: '网络连接中断，请检查网络后重试。', en: 'The network connection broke. Check it and try again.' },
  error: { zh: '操作失败，请稍后重试。', en: 'That did not work. Please try again.' },
};

const FETCH_FAILED = /^(Failed to fetch|NetworkError when attempting to fetch|error loading dynamically imported module|Importing a module script failed|Load failed)/i;

/**
 * errorText is what a person reads for an API error: its code in their
 * language. A code the table lacks (a newer server) still gives a sentence
 * in their language, by its HTTP status class, never the server's English.
 */
export function errorText(err) {
  const entry = err && codes[err.code];
  if (entry) return entry[current];
  // A file or request the browser could not fetch (no signal, a module not
  // cached yet) fails with a TypeError in the browser's own words and
  // language (Chromium, Firefox, Safari); any other TypeError is a bug and
  // keeps its message.
  if (err instanceof TypeError && FETCH_FAILED.test(err.message)) return codes.network[current];
  // A local error (no code, no status) carries a sentence the UI wrote itself.
  if (err && !err.code && !err.status && err.message) return err.message;
  const status = Number(err?.status) || 0;
  if (status >= 500) return codes.internal[current];
  if (status === 401) return codes.unauthenticated[current];
  if (status === 403) return codes.forbidden[current];
  if (status === 404) return codes.not_found[current];
  return codes.error[current];
}

/** pick chooses the current language from an API value shaped {zh, en}. */
export function pick(value) {
  if (!value) return '';
  if (typeof value === 'string') return value;
  return value[current] || value.zh || value.en || '';
}

document.documentElement.lang = locale();
