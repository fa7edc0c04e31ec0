/**
 * The case list. Applicants see "My cases", newest first, with the New case
 * button; office staff see their queue ordered by due date, soonest first,
 * overdue cases marked, so the same-day promise is visible at a glance.
 * The status filter lives in the URL (#/cases?status=…) to survive a reload.
 */
import { enc, get, listOf } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { dateTime } from '../format.js';
import { t } from '../i18n.js';
import { STATUSES, isOverdue, permitName, permitTypes, statusBadge } from '../model.js';

/** render draws the list for ctx.user's role into view. */
export async function render(view, ctx) {
  const applicant = ctx.user.role === 'applicant';
  const title = t(applicant ? 'cases.mine' : 'cases.queue');
  document.title = `${title} · ${t('app.title')}`;
  const status = STATUSES.includes(ctx.query.get('status')) ? ctx.query.get('status') : '';

  const filter = h('select', {
    id: 'status-filter',
    onchange: () => ctx.navigate(filter.value ? `#/cases?status=${enc(filter.value)}` : '#/cases'),
  },
  h('option', { value: '' }, t('cases.all')),
  STATUSES.map((s) => h('option', { value: s }, t(`status.${s}`))));
  filter.value = status;

  const list = h('div', { class: 'case-list', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('common.loading')));
  view.append(
    h('div', { class: 'page-head' },
      h('h1', {}, title),
      h('div', { class: 'toolbar' },
        h('label', { class: 'filter' }, h('span', {}, t('cases.filter')), filter),
        applicant && h('a', { id: 'new-case', class: 'button primary', href: '#/cases/new' }, `+ ${t('cases.new')}`))),
    list);

  let cases;
  let types;
  try {
    [cases, types] = await Promise.all([
      get(`/api/v1/cases${status ? `?status=${enc(status)}` : ''}`).then(listOf),
      permitTypes().catch(() => []),
    ]);
  } catch (err) {
    fill(list, errorBox(err));
    list.removeAttribute('aria-busy');
    return;
  }
  list.removeAttribute('aria-busy');
  if (!cases.length) {
    fill(list, h('p', { class: 'empty' }, t(status ? 'cases.emptyFilter' : 'cases.empty')));
    return;
  }
  sortCases(cases, applicant);
  fill(list,
    h('div', { class: 'case-row case-row-head', 'aria-hidden': 'true' },
      ['col.number', 'col.permit', 'col.site', 'col.status', 'col.due'].map((k) => h('span', {}, t(k)))),
    cases.map((c) => row(c, types, applicant)));
}

/** sortCases: applicants by newest; staff by due time, cases without one last. */
function sortCases(cases, applicant) {
  const time = (iso, missing) => (iso ? Date.parse(iso) : missing);
  if (applicant) cases.sort((a, b) => time(b.created_at, 0) - time(a.created_at, 0));
  else cases.sort((a, b) => time(a.due_at, Infinity) - time(b.due_at, Infinity) || time(a.created_at, 0) - time(b.created_at, 0));
}

function row(c, types, applicant) {
  const overdue = isOverdue(c);
  const who = !applicant && c.applicant ? (c.applicant.org || c.applicant.display_name || c.applicant.username) : '';
  return h('a', { class: `case-row${overdue ? ' overdue' : ''}`, href: `#/cases/${enc(c.id)}`, dataset: { caseId: c.id } },
    h('span', { class: 'c-number' }, c.number || c.id),
    h('span', { class: 'c-permit' }, permitName(types, c.permit_type)),
    h('span', { class: 'c-site' }, c.site_name || t('common.none'), who && h('small', {}, who)),
    h('span', { class: 'c-status' }, statusBadge(c.status)),
    h('span', { class: 'c-due' },
      h('small', { class: 'c-label' }, t('col.due') + t('common.colon')),
      dateTime(c.due_at),
      overdue && h('span', { class: 'badge overdue' }, t('cases.overdue'))));
}
