/**
 * The office's follow-ups (整改, #/followups): each rating of 不满意 or worse
 * opened one, due by a deadline the office set. Open ones come first,
 * soonest due first, overdue ones marked; a supervisor closes one with its
 * outcome, which the applicant then reads on the case. Supervisors see
 * their office's, admins every office's (read only).
 */
import { enc, get, listOf, post } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { dateTime } from '../format.js';
import { t } from '../i18n.js';

/** render draws the list. */
export async function render(view, ctx) {
  document.title = `${t('followups.title')} · ${t('app.title')}`;
  const out = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('common.loading')));
  view.append(h('h1', {}, t('followups.title')), h('p', { class: 'muted small' }, t('followups.intro')), out);
  const supervisor = ctx.user.role === 'supervisor';

  const load = async () => {
    let list;
    try {
      list = listOf(await get('/api/v1/followups'));
    } catch (err) {
      if (ctx.alive()) fill(out, errorBox(err));
      return;
    }
    if (!ctx.alive()) return;
    if (!list.length) {
      fill(out, h('p', { class: 'empty muted' }, t('followups.none')));
      return;
    }
    fill(out, h('ul', { id: 'followup-list', class: 'followup-list' }, list.map(item)));
  };

  const item = (f) => {
    const state = f.closed_at ? 'closed' : (f.overdue ? 'overdue' : 'open');
    const slot = h('div');
    const li = h('li', { class: `panel followup is-${state}`, dataset: { followupId: f.id, caseId: f.case_id } },
      h('div', { class: 'followup-head' },
        h('a', { href: `#/cases/${enc(f.case_id)}` }, f.case_number),
        h('span', { class: `badge rating-level level-${f.level}` }, t(`rating.level.${f.level}`)),
        h('span', { class: `badge followup-${state}` }, t(`followups.state.${state}`))),
      f.comment && h('p', { class: 'followup-comment' }, f.comment),
      h('p', { class: 'muted small' }, t('followups.dates', { opened: dateTime(f.opened_at), due: dateTime(f.due_at) })),
      f.closed_at && h('div', { class: 'followup-outcome' },
        h('p', { class: 'muted small' }, t('followups.closedBy', { at: dateTime(f.closed_at), who: f.closed_by?.display_name || f.closed_by?.username || '' })),
        h('p', {}, f.outcome)),
      slot);
    if (!f.closed_at && supervisor) {
      const outcome = h('textarea', { class: 'followup-outcome-input', rows: 3, maxlength: 2000, required: true, 'aria-label': t('followups.outcome') });
      const message = h('div', { 'aria-live': 'polite' });
      const close = h('button', { type: 'submit', class: 'primary followup-close' }, t('followups.close'));
      const form = h('form', { class: 'followup-form' },
        h('label', { class: 'field' }, h('span', {}, t('followups.outcome')), outcome), message, h('div', { class: 'actions' }, close));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        busy(close, async () => {
          fill(message);
          try {
            await post(`/api/v1/followups/${enc(f.id)}/close`, { outcome: outcome.value });
            await load();
          } catch (err) {
            fill(message, errorBox(err));
          }
        });
      });
      fill(slot, form);
    }
    return li;
  };
  await load();
}
