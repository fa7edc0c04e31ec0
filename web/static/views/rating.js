/**
 * 好差评 and 特事特办 on a case: the applicant's rating form after the final
 * decision (five levels and a comment) with the follow-up's state and
 * outcome once rated; the urgent badge with its countdown, and the mark and
 * clear dialog for the office's officers and supervisors. docs/RATINGS.md
 * describes the rules; the server's allowed_actions says who may do what.
 */
import { del, enc, get, post } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { dateTime, number } from '../format.js';
import { t } from '../i18n.js';
import { can } from '../model.js';

/** LEVELS are the national scheme's five levels, best first. */
export const LEVELS = [1, 2, 3, 4, 5];

const HOUR = 3600000;
const MINUTE = 60000;

/**
 * countdown is a span that counts down to iso ("3 h 20 min left", or
 * "over by …"), redrawn every half minute while it is on the page.
 */
export function countdown(iso) {
  const target = Date.parse(iso);
  const el = h('span', { class: 'urgent-countdown' });
  const draw = () => {
    const left = target - Date.now();
    const abs = Math.abs(left);
    const hours = Math.floor(abs / HOUR);
    const mins = Math.floor((abs % HOUR) / MINUTE);
    el.classList.toggle('is-over', left < 0);
    fill(el, t(left >= 0 ? 'urgent.left' : 'urgent.over', { h: hours, m: mins }));
  };
  draw();
  const timer = setInterval(() => {
    if (!el.isConnected && el.dataset.drawn) {
      clearInterval(timer);
      return;
    }
    if (el.isConnected) el.dataset.drawn = '1';
    draw();
  }, 30000);
  return el;
}

/** urgentBadge shows an active urgent mark with its countdown, or nothing. */
export function urgentBadge(c) {
  if (!c.urgent?.active) return null;
  return h('span', { class: 'urgent-mark', title: c.urgent.reason },
    h('span', { class: 'badge urgent' }, t('urgent.badge')), ' ', countdown(c.urgent.target_at));
}

/**
 * urgentControls are the mark, change and clear buttons for who may mark
 * the case (mark_urgent), drawing the dialog into slot; onChange gets the
 * case as the server answers it.
 */
export function urgentControls(c, slot, onChange) {
  if (!can(c, 'mark_urgent')) return [];
  const active = c.urgent?.active;
  const open = () => {
    const reason = h('textarea', { id: 'urgent-reason', rows: 2, maxlength: 1000, required: true }, active ? c.urgent.reason : '');
    const hours = h('input', { id: 'urgent-hours', type: 'number', min: 1, max: 720, step: 1, required: true, value: active ? c.urgent.target_hours : 24 });
    const message = h('div', { 'aria-live': 'polite' });
    const save = h('button', { id: 'urgent-save', type: 'submit', class: 'primary' }, t('urgent.save'));
    const cancel = h('button', { id: 'urgent-cancel', type: 'button', class: 'secondary', onclick: () => fill(slot) }, t('urgent.cancel'));
    const form = h('form', { id: 'urgent-dialog', class: 'panel urgent-dialog', role: 'dialog', 'aria-label': t('urgent.title') },
      h('h2', {}, t('urgent.title')),
      h('p', { class: 'muted small' }, t('urgent.intro')),
      h('label', { class: 'field' }, h('span', {}, t('urgent.reason')), reason),
      h('label', { class: 'field' }, h('span', {}, t('urgent.hours')), hours),
      message,
      h('div', { class: 'actions' }, save, cancel));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(save, async () => {
        fill(message);
        try {
          const next = await post(`/api/v1/cases/${enc(c.id)}/urgent`, { reason: reason.value, target_hours: Number(hours.value) });
          fill(slot);
          onChange(next);
        } catch (err) {
          fill(message, errorBox(err));
        }
      });
    });
    fill(slot, form);
    reason.focus();
  };
  const list = [h('button', { id: 'urgent-open', type: 'button', class: 'secondary', onclick: open }, t(active ? 'urgent.change' : 'urgent.mark'))];
  if (active) {
    const clear = h('button', {
      id: 'urgent-clear',
      type: 'button',
      class: 'secondary',
      onclick: () => busy(clear, async () => {
        try {
          onChange(await del(`/api/v1/cases/${enc(c.id)}/urgent`));
        } catch (err) {
          fill(slot, errorBox(err));
        }
      }),
    }, t('urgent.clear'));
    list.push(clear);
  }
  return list;
}

/**
 * ratingPanel is the applicant's 好差评 panel: after the final decision,
 * the form while the decision is unrated, then the rating and its
 * follow-up (整改) with the outcome once the office closes it.
 * refresh(c) redraws it for the case as it now is.
 */
export function ratingPanel(caseId) {
  const el = h('section', { id: 'rating-panel', class: 'panel rating-panel', hidden: true });
  let shown = null;

  const form = (c) => {
    const choices = LEVELS.map((n) => h('label', { class: `rating-choice level-${n}` },
      h('input', { type: 'radio', name: 'rating-level', value: n, id: `rating-level-${n}` }), ' ', t(`rating.level.${n}`)));
    const comment = h('textarea', { id: 'rating-comment', rows: 3, maxlength: 2000, placeholder: t('rating.commentHint') });
    const message = h('div', { 'aria-live': 'polite' });
    const send = h('button', { id: 'rating-submit', type: 'submit', class: 'primary' }, t('rating.submit'));
    const f = h('form', { id: 'rating-form' },
      h('fieldset', { class: 'rating-levels' }, h('legend', {}, t('rating.question')), choices),
      h('label', { class: 'field' }, h('span', {}, t('rating.comment')), comment),
      message,
      h('div', { class: 'actions' }, send));
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const picked = f.querySelector('input[name="rating-level"]:checked');
      busy(send, async () => {
        fill(message);
        try {
          await post(`/api/v1/cases/${enc(caseId)}/rating`, { level: picked ? Number(picked.value) : 0, comment: comment.value });
          await refresh(c);
        } catch (err) {
          fill(message, errorBox(err));
        }
      });
    });
    return [h('h2', {}, t('rating.title')), h('p', { class: 'muted small' }, t('rating.intro')), f];
  };

  const result = (r) => {
    const fu = r.followup;
    return [
      h('h2', {}, t('rating.title')),
      h('p', { id: 'rating-given' }, t('rating.given', { level: t(`rating.level.${r.level}`), at: dateTime(r.rated_at) })),
      r.comment && h('p', { class: 'muted' }, r.comment),
      fu && !fu.closed_at && h('p', { id: 'rating-followup', class: 'notice' }, t('rating.followupOpen', { at: dateTime(fu.due_at) })),
      fu && fu.closed_at && h('div', { id: 'rating-followup', class: 'notice success' },
        h('p', {}, t('rating.followupClosed', { at: dateTime(fu.closed_at) })),
        h('p', { id: 'rating-outcome' }, fu.outcome)),
    ];
  };

  async function refresh(c) {
    if (c.status !== 'approved' && c.status !== 'rejected') {
      el.hidden = true;
      return;
    }
    let r;
    try {
      r = await get(`/api/v1/cases/${enc(caseId)}/rating`);
    } catch (err) {
      el.hidden = false;
      fill(el, errorBox(err));
      return;
    }
    const key = JSON.stringify(r);
    if (key === shown && !el.hidden) return; // keep a half-written form
    shown = key;
    el.hidden = false;
    if (r) fill(el, result(r));
    else if (can(c, 'rate')) fill(el, form(c));
    else el.hidden = true;
  }
  return { el, refresh };
}

/** myRatings is an officer's own aggregate, one line; nothing names a rater. */
export function myRatings() {
  const el = h('p', { id: 'my-ratings', class: 'muted small my-ratings' });
  get('/api/v1/me/ratings').then((a) => {
    if (!a || !a.count) {
      fill(el, t('rating.mineNone'));
      return;
    }
    if (a.withheld) {
      fill(el, t('rating.mineFew', { n: a.count, min: a.min_count }));
      return;
    }
    fill(el, t('rating.mine', {
      n: a.count,
      avg: number(a.average, 1),
      share: Math.round(a.share * 100),
    }));
  }).catch(() => el.remove());
  return el;
}
