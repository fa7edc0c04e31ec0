/**
 * The case list. Applicants see "My cases", newest first, with the New case
 * button; office staff see their queue ordered by due date, soonest first,
 * overdue cases marked, so the same-day promise is visible at a glance;
 * urgent cases (特事特办) head it with a countdown to their target.
 * The server orders, filters and searches (GET /api/v1/cases: sort, status,
 * q, unit) and pages with a cursor; the list loads the next page (its Link
 * rel="next") when its end scrolls into view. Search, status and order live
 * in the URL (#/cases?q=…&status=…&unit=…&sort=…) to survive a reload.
 */
import { enc, get, getPage, listOf } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { dateTime } from '../format.js';
import { lang, t } from '../i18n.js';
import { STATUSES, isOverdue, permitName, permitTypes, statusBadge } from '../model.js';
import { follow } from './follow.js';
import { myRatings, urgentBadge } from './rating.js';

const PAGE = 50;
const SORTS = ['due', 'newest'];

/** render draws the list for ctx.user's role into view. */
export async function render(view, ctx) {
  const applicant = ctx.user.role === 'applicant';
  const title = t(applicant ? 'cases.mine' : 'cases.queue');
  document.title = `${title} · ${t('app.title')}`;
  const status = STATUSES.includes(ctx.query.get('status')) ? ctx.query.get('status') : '';
  const sort = SORTS.includes(ctx.query.get('sort')) ? ctx.query.get('sort') : (applicant ? 'newest' : 'due');
  const q = (ctx.query.get('q') || '').trim();
  const unit = applicant ? '' : (ctx.query.get('unit') || '');

  const go = () => {
    const p = new URLSearchParams();
    if (search.value.trim()) p.set('q', search.value.trim());
    if (filter.value) p.set('status', filter.value);
    if (unitFilter.value) p.set('unit', unitFilter.value);
    if (order.value !== (applicant ? 'newest' : 'due')) p.set('sort', order.value);
    const qs = p.toString();
    ctx.navigate(qs ? `#/cases?${qs}` : '#/cases');
  };
  const search = h('input', { id: 'case-search', type: 'search', value: q, placeholder: t('cases.search'), 'aria-label': t('cases.search') });
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
  search.addEventListener('search', go);
  const filter = h('select', { id: 'status-filter', onchange: go },
    h('option', { value: '' }, t('cases.all')),
    STATUSES.map((s) => h('option', { value: s }, t(`status.${s}`))));
  filter.value = status;
  const order = h('select', { id: 'sort-order', onchange: go },
    SORTS.map((s) => h('option', { value: s }, t(`cases.sort.${s}`))));
  order.value = sort;
  // The units (分中心) of the office, for the office's people; hidden while
  // the office has none.
  const unitFilter = h('select', { id: 'unit-filter', onchange: go }, h('option', { value: '' }, t('cases.allUnits')));
  const unitLabel = h('label', { class: 'filter', hidden: true }, h('span', {}, t('cases.unit')), unitFilter);
  if (!applicant) {
    get('/api/v1/units').then(listOf).then((units) => {
      if (!units.length || !ctx.alive()) return;
      unitFilter.append(...units.map((u) => h('option', { value: u.id }, lang() === 'zh' ? u.name_zh : u.name_en)));
      unitFilter.value = unit;
      unitLabel.hidden = false;
    }).catch(() => { /* the list works without the filter */ });
  }

  const list = h('div', { class: 'case-list', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('common.loading')));
  view.append(
    h('div', { class: 'page-head' },
      h('h1', {}, title),
      h('div', { class: 'toolbar' },
        h('label', { class: 'filter' }, h('span', {}, t('cases.searchLabel')), search),
        h('label', { class: 'filter' }, h('span', {}, t('cases.filter')), filter),
        unitLabel,
        h('label', { class: 'filter' }, h('span', {}, t('cases.sort')), order),
        applicant && h('a', { id: 'new-case', class: 'button primary', href: '#/cases/new' }, `+ ${t('cases.new')}`))),
    // An officer's own 好差评 aggregate: counts only, never who rated.
    (ctx.user.role === 'inspector' || ctx.user.role === 'reviewer') && myRatings(),
    list);

  const params = new URLSearchParams({ limit: String(PAGE), sort });
  if (status) params.set('status', status);
  if (q) params.set('q', q);
  if (unit) params.set('unit', unit);
  let page;
  let types;
  try {
    [page, types] = await Promise.all([
      getPage(`/api/v1/cases?${params}`),
      permitTypes().catch(() => []),
    ]);
  } catch (err) {
    fill(list, errorBox(err));
    list.removeAttribute('aria-busy');
    return;
  }
  list.removeAttribute('aria-busy');
  if (!page.items.length) {
    fill(list, h('p', { class: 'empty' }, t(status || q || unit ? 'cases.emptyFilter' : 'cases.empty')));
    return;
  }
  fill(list,
    h('div', { class: 'case-row case-row-head', 'aria-hidden': 'true' },
      ['col.number', 'col.permit', 'col.site', 'col.status', 'col.due'].map((k) => h('span', {}, t(k)))),
    page.items.map((c) => row(c, types, applicant)));
  follow(list, page.next, { id: 'more-cases', label: 'cases.more', row: (c) => row(c, types, applicant) });
}

function row(c, types, applicant) {
  const overdue = isOverdue(c);
  const who = !applicant && c.applicant ? (c.applicant.org || c.applicant.display_name || c.applicant.username) : '';
  const urgent = c.urgent?.active;
  return h('a', { class: `case-row${overdue ? ' overdue' : ''}${urgent ? ' urgent' : ''}`, href: `#/cases/${enc(c.id)}`, dataset: { caseId: c.id } },
    h('span', { class: 'c-number' }, c.number || c.id, urgentBadge(c)),
    h('span', { class: 'c-permit' }, permitName(types, c.permit_type)),
    h('span', { class: 'c-site' }, c.site_name || t('common.none'), who && h('small', {}, who)),
    h('span', { class: 'c-status' }, statusBadge(c.status)),
    h('span', { class: 'c-due' },
      h('small', { class: 'c-label' }, t('col.due') + t('common.colon')),
      dateTime(c.due_at),
      overdue && h('span', { class: 'badge overdue' }, t('cases.overdue'))));
}
