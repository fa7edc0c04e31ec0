/**
 * The office's audit trail (#/audit?actor=…&action=…&case=…&from=…&to=…):
 * every recorded act of the office, newest first, for supervisors and
 * admins. The server filters and pages (GET /api/v1/audit, Link
 * rel="next"); the list loads the next page when its end scrolls into
 * view. from and to are office days (the office's zone, both included).
 * The export link asks for the same filters as CSV (GET /api/v1/audit.csv).
 * Searching and exporting are themselves recorded in the trail.
 */
import { enc, getPage } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { t, lang } from '../i18n.js';
import { timeZone, wallClock } from '../format.js';
import { follow } from './follow.js';

const PAGE = 100;
const FILTERS = ['actor', 'action', 'case', 'from', 'to'];
const ACTIONS = ['auth.login', 'case.*', 'case.status', 'case.created', 'evidence.*', 'evidence.read', 'decision.*',
  'live.*', 'bundle.downloaded', 'report.issued', 'owed.*', 'audit.searched', 'audit.exported'];

/** render draws the filters and, for supervisors and admins, the trail. */
export async function render(view, ctx) {
  document.title = `${t('audit.title')} · ${t('app.title')}`;
  view.append(h('h1', {}, t('audit.title')));
  if (ctx.user.role !== 'supervisor' && ctx.user.role !== 'admin') {
    view.append(h('p', { class: 'notice' }, t('audit.onlySupervisors')));
    return;
  }
  const day = (v) => (/^\d{4}-\d{2}-\d{2}$/.test(v || '') ? v : '');
  const values = {};
  for (const k of FILTERS) values[k] = (ctx.query.get(k) || '').trim();
  values.from = day(values.from);
  values.to = day(values.to);

  const input = (k, props) => h('input', { id: `audit-${k}`, name: k, value: values[k], ...props });
  const fields = {
    actor: input('actor', { type: 'search', placeholder: t('audit.actorHint'), autocomplete: 'off' }),
    action: input('action', { type: 'search', placeholder: t('audit.actionHint'), list: 'audit-actions', autocomplete: 'off' }),
    case: input('case', { type: 'search', placeholder: t('audit.caseHint'), autocomplete: 'off' }),
    from: input('from', { type: 'date' }),
    to: input('to', { type: 'date' }),
  };
  const params = new URLSearchParams();
  for (const k of FILTERS) if (values[k]) params.set(k, values[k]);
  const form = h('form', {
    class: 'audit-filters',
    onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const k of FILTERS) if (fields[k].value.trim()) p.set(k, fields[k].value.trim());
      const qs = p.toString();
      ctx.navigate(qs ? `#/audit?${qs}` : '#/audit');
    },
  },
  FILTERS.map((k) => h('label', { class: 'audit-field', for: `audit-${k}` }, h('span', {}, t(`audit.${k}`)), fields[k])),
  h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a }))),
  h('div', { class: 'audit-buttons' },
    h('button', { type: 'submit', class: 'primary', id: 'audit-search' }, t('audit.search')),
    h('a', {
      class: 'button secondary', id: 'audit-export', download: '',
      href: `/api/v1/audit.csv?${new URLSearchParams([...params, ['lang', lang()]])}`,
    }, t('audit.export'))),
  h('p', { class: 'muted audit-note' }, t('audit.note', { zone: timeZone() })));

  const list = h('div', { class: 'audit-list', 'aria-busy': 'true', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('common.loading')));
  view.append(form, list);
  params.set('limit', String(PAGE));
  let page;
  try {
    page = await getPage(`/api/v1/audit?${params}`);
  } catch (err) {
    if (ctx.alive()) fill(list, errorBox(err));
    list.removeAttribute('aria-busy');
    return;
  }
  if (!ctx.alive()) return;
  list.removeAttribute('aria-busy');
  if (!page.items.length) {
    fill(list, h('p', { class: 'empty', id: 'audit-empty' }, t('audit.empty')));
    return;
  }
  fill(list,
    h('div', { class: 'audit-row audit-row-head', 'aria-hidden': 'true' },
      ['audit.colTime', 'audit.colActor', 'audit.colAction', 'audit.colCase', 'audit.colDetail'].map((k) => h('span', {}, t(k)))),
    page.items.map(row));
  follow(list, page.next, { id: 'audit-more', label: 'audit.more', row });
}

/** row is one event: when (office zone), who, what, on which case, and its details. */
function row(e) {
  const who = e.actor_display_name || e.actor_username || (e.actor_id ? e.actor_id : t('audit.system'));
  const data = e.data && typeof e.data === 'object' && Object.keys(e.data).length ? JSON.stringify(e.data) : '';
  const detail = [e.target, data].filter(Boolean).join(' ');
  return h('div', { class: 'audit-row', dataset: { seq: String(e.seq) } },
    h('span', { class: 'a-time' }, wallClock(new Date(e.at))),
    h('span', { class: 'a-actor', title: e.actor_username || '' }, who),
    h('span', { class: 'a-action' }, h('code', {}, e.action)),
    h('span', { class: 'a-case' }, e.case_id
      ? h('a', { href: `#/cases/${enc(e.case_id)}` }, e.case_number || e.case_id)
      : h('span', { class: 'muted' }, t('common.none'))),
    h('span', { class: 'a-detail' }, detail));
}
