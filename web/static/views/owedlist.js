/**
 * The office's owed materials (#/owed, #/owed?all=1): the escalation list
 * of 承诺办 — each material owed on an approved case (or a supplement
 * request) past its due date with nothing delivered, soonest due first,
 * with the case, the company and the inspector to chase. ?all=1 shows every
 * open item, delivered ones awaiting confirmation included. The office
 * head (supervisor) and officers see their office's; admins every office's.
 */
import { enc, get, listOf } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { date } from '../format.js';
import { t } from '../i18n.js';
import { permitName, permitTypes } from '../model.js';

const DAY = 86400000;

/** render draws the list. */
export async function render(view, ctx) {
  document.title = `${t('owedlist.title')} · ${t('app.title')}`;
  const all = ctx.query.get('all') === '1';
  view.append(h('h1', {}, t('owedlist.title')),
    h('p', { class: 'muted small' }, all ? t('owedlist.introAll') : t('owedlist.intro')),
    h('p', {}, h('a', { id: 'owedlist-toggle', href: all ? '#/owed' : '#/owed?all=1' }, all ? t('owedlist.showOverdue') : t('owedlist.showAll'))));
  const out = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('common.loading')));
  view.append(out);
  let list;
  let types;
  try {
    [list, types] = await Promise.all([get(`/api/v1/owed${all ? '' : '?overdue=1'}`).then(listOf), permitTypes().catch(() => [])]);
  } catch (err) {
    if (ctx.alive()) fill(out, errorBox(err));
    return;
  }
  if (!ctx.alive()) return;
  if (!list.length) {
    fill(out, h('p', { class: 'empty muted' }, all ? t('owedlist.noneAll') : t('owedlist.none')));
    return;
  }
  const person = (p) => (p ? p.display_name || p.username : t('case.unassigned'));
  const late = (o) => Math.floor((Date.now() - Date.parse(o.due_at)) / DAY);
  fill(out, h('table', { id: 'owed-table', class: 'owed-table' },
    h('thead', {}, h('tr', {}, [t('col.number'), t('owedlist.item'), t('owedlist.company'), t('owedlist.due'), t('owedlist.state'), t('case.inspector')]
      .map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.map((o) => h('tr', { class: `owed-row${o.overdue ? ' is-overdue' : ''}`, dataset: { owedId: o.id, caseId: o.case_id } },
      h('td', {}, h('a', { href: `#/cases/${enc(o.case_id)}` }, o.case_number), h('div', { class: 'muted small' }, permitName(types, o.permit_type))),
      h('td', {}, o.text),
      h('td', {}, o.applicant_org || '—', h('div', { class: 'muted small' }, o.site_name)),
      h('td', {}, date(o.due_at), o.overdue && h('div', { class: 'small' }, h('span', { class: 'badge overdue' }, t('owedlist.late', { n: Math.max(late(o), 0) })))),
      h('td', {}, t(`owed.state.${o.state}`)),
      h('td', {}, person(o.inspector)))))));
}
