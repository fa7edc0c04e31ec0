/**
 * The officers' decision panel: the decision rounds and owed materials so
 * far, the inspector's decision dialog (outcome, summary, owed materials
 * and their due date; a refusal for missing findings names them), and the
 * reviewer's countersign view (the proposed decision; agree, or return it
 * with a comment). The findings and notes it rests on are shown read-only
 * in the checklist panel and the annotation list beside it.
 */
import { enc, get, listOf, post } from '../../api.js';
import { busy, errorBox, fill, h } from '../../dom.js';
import { dayFromNow, dayValue, endOfDay } from '../../format.js';
import { t, pick } from '../../i18n.js';
import { can } from '../../model.js';
import { missingFindings } from './checklist.js';
import { decisionItem, loadRecord, owedList, reportLink } from './record.js';
import { closedNotice, commitmentView } from '../owed.js';

const OUTCOMES = ['approve', 'reject', 'request_supplement'];

/**
 * reviewSummary is what the officer confirms against before deciding or
 * countersigning: the checklist items that failed and the violations
 * still open. {el, fails, confirm} — confirm is the checkbox to tick.
 */
function reviewSummary(caseId, type, findings, id) {
  const fails = findings.filter((f) => f.result === 'fail');
  const label = (f) => pick((type?.checklist || []).find((c) => c.id === f.checklist_item)?.text) || f.checklist_item;
  const violations = h('p', { class: 'small review-violations' }, t('common.loading'));
  get(`/api/v1/cases/${enc(caseId)}/annotations`).then(listOf).then((list) => {
    const open = list.filter((a) => a.severity === 'violation' && !a.resolved);
    fill(violations, open.length ? t('summary.violations', { n: open.length }) : t('summary.noViolations'));
    if (open.length) violations.classList.add('is-overdue');
  }).catch(() => fill(violations));
  const confirm = h('input', { type: 'checkbox', id, class: 'review-confirm' });
  const el = h('div', { class: `notice review-summary${fails.length ? ' has-failures' : ''}`, role: 'note' },
    h('h4', {}, t('summary.title')),
    fails.length
      ? h('div', {}, h('p', { class: 'small' }, t('summary.fails', { n: fails.length })),
        h('ul', { class: 'review-fails' }, fails.map((f) => h('li', { dataset: { checklistItem: f.checklist_item } }, label(f), f.note && h('span', { class: 'muted small' }, ` — ${f.note}`)))))
      : h('p', { class: 'small' }, t('summary.noFails')),
    violations,
    h('label', { class: 'decision-choice', for: id }, confirm, t('summary.confirm')));
  return { el, fails, confirm };
}

/** decisionPanel returns {el, refresh(c)}; onDone runs after a decision or countersignature. */
export function decisionPanel({ user, type, findings, onDone }) {
  const history = h('div', { class: 'decision-history' });
  const act = h('div', { class: 'decision-act' });
  const el = h('section', { id: 'decision-panel', class: 'panel decision-panel', 'aria-labelledby': 'decision-title' },
    h('h2', { id: 'decision-title' }, t('decision.title')), act, history);
  let c = null;
  let pending = null;
  let commitment = null;
  let slots = null;

  async function refresh(next) {
    c = next;
    let rec;
    try {
      rec = await loadRecord(c.id);
    } catch (err) {
      fill(history, errorBox(err));
      return;
    }
    pending = c.status === 'pending_countersign' ? [...rec.decisions].reverse().find((d) => !d.countersigned_at) : null;
    commitment = rec.commitment;
    // A return being written survives the record's refreshes (others'
    // notes, evidence becoming ready).
    if (history.querySelector('.owed-return-reason')) return;
    slots?.cleanup?.();
    // A confirmation may close the case (owed_closed_at): redraw from the case as it is now.
    slots = owedList(rec.owed, { c, onChange: () => get(`/api/v1/cases/${enc(c.id)}`).then((next) => { refresh(next); onDone(); }) });
    fill(history,
      reportLink(c),
      rec.owed.length > 0 && h('div', { class: 'owed' }, h('h3', {}, t('record.owed')), slots),
      closedNotice(c, rec.owed),
      commitmentView(commitment),
      rec.decisions.length
        ? h('ol', { class: 'decision-list' }, [...rec.decisions].reverse().map(decisionItem))
        : h('p', { class: 'muted small' }, t('decision.none')));
    // A refresh (another officer's note, the evidence becoming ready) keeps
    // a decision being written while it may still be made.
    if (!(act.querySelector('#decision-dialog') && can(c, 'decide'))) paintAct();
  }

  function paintAct() {
    if (can(c, 'decide')) {
      const open = h('button', { id: 'decide-open', type: 'button', class: 'primary', onclick: () => fill(act, dialog()) }, t('decision.open'));
      fill(act, open);
    } else if (can(c, 'countersign')) {
      fill(act, countersign());
    } else {
      fill(act);
    }
  }

  function dialog() {
    const msg = h('div', { 'aria-live': 'assertive' });
    const commitment = Boolean(type?.commitment_allowed);
    const radios = OUTCOMES.map((o) => h('label', { class: 'decision-choice' },
      h('input', { type: 'radio', name: 'decision-outcome', value: o, onchange: sync }), t(`outcome.${o}`)));
    const summary = h('textarea', { id: 'decision-summary', rows: 4, maxlength: 10000, required: true });
    const owed = h('textarea', { id: 'decision-owed', rows: 3, placeholder: t('decision.owedHint') });
    const due = h('input', { id: 'decision-due', type: 'date', min: dayFromNow(1), value: dayFromNow(type?.supplement_days || 60) });
    const owedBox = h('div', { class: 'decision-owed', hidden: true },
      h('label', { for: 'decision-owed' }, t('decision.owed')), owed,
      h('p', { class: 'muted small owed-note' }),
      h('label', { for: 'decision-due' }, t('decision.due')), due);
    const submit = h('button', { id: 'decision-submit', type: 'submit', class: 'primary' }, t('decision.submit'));
    const review = reviewSummary(c.id, type, findings(), 'decision-confirm');
    const reason = h('textarea', { id: 'decision-fail-reason', rows: 3, maxlength: 5000 });
    const reasonBox = h('div', { class: 'decision-fail-reason', hidden: true },
      h('label', { for: 'decision-fail-reason' }, t('summary.reason')), reason);

    function sync() {
      const o = outcome();
      reasonBox.hidden = !(o === 'approve' && review.fails.length > 0);
      owedBox.hidden = !(o === 'request_supplement' || (o === 'approve' && commitment));
      owedBox.querySelector('.owed-note').textContent = o === 'approve' ? t('decision.owedCommitment') : t('decision.owedRequired');
      // Approving a case whose applicant signed a commitment: the committed
      // materials and their due date, to keep or change.
      if (o === 'approve' && commitment?.items?.length && !owed.value.trim()) {
        owed.value = commitment.items.map((it) => it.material.zh).join('\n');
        due.value = dayValue(commitment.items[0].due_at);
        owedBox.querySelector('.owed-note').textContent = `${t('decision.owedCommitment')} ${t('decision.fromCommitment')}`;
      }
    }
    const outcome = () => radios.map((r) => r.querySelector('input')).find((i) => i.checked)?.value || '';

    async function send(e) {
      e.preventDefault();
      fill(msg);
      const o = outcome();
      if (!o) { fill(msg, h('p', { class: 'notice error small' }, t('decision.pickOutcome'))); return; }
      if (o !== 'request_supplement' && !review.confirm.checked) {
        fill(msg, h('p', { class: 'notice error small' }, t('summary.confirmFirst')));
        review.confirm.focus();
        return;
      }
      if (!reasonBox.hidden && !reason.value.trim()) {
        fill(msg, h('p', { class: 'notice error small' }, t('summary.reasonRequired')));
        reason.focus();
        return;
      }
      const body = { outcome: o, summary: summary.value.trim() };
      // Approving over a failed item: the written reason is part of the decision.
      if (!reasonBox.hidden) body.summary = `${body.summary}\n\n${t('summary.reasonHead')}${reason.value.trim()}`;
      if (!owedBox.hidden) {
        body.owed = owed.value.split('\n').map((s) => s.trim()).filter(Boolean);
        // The picked day ends at 23:59:59 in the office's zone, not the device's.
        if (due.value) body.supplement_due = endOfDay(due.value);
      }
      await busy(submit, async () => {
        try {
          await post(`/api/v1/cases/${enc(c.id)}/decision`, body);
          onDone();
        } catch (err) {
          const missing = err.status === 422 ? missingFindings(type, findings()) : [];
          fill(msg, errorBox(err), missing.length > 0 && h('div', { class: 'notice error small missing-findings', role: 'alert' },
            h('p', {}, t('decision.missing')),
            h('ul', {}, missing.map((m) => h('li', { dataset: { checklistItem: m.id } }, pick(m.text))))));
        }
      });
    }

    return h('form', { id: 'decision-dialog', class: 'decision-dialog', role: 'dialog', 'aria-labelledby': 'decision-dialog-title', onsubmit: send },
      h('h3', { id: 'decision-dialog-title' }, t('decision.open')),
      review.el,
      h('fieldset', { class: 'decision-outcomes' }, h('legend', {}, t('decision.outcome')), radios),
      h('label', { for: 'decision-summary' }, t('decision.summary')), summary,
      reasonBox, owedBox, msg,
      h('div', { class: 'actions' }, submit,
        h('button', { type: 'button', class: 'secondary', onclick: paintAct }, t('review.cancel'))));
  }

  function countersign() {
    const msg = h('div', { 'aria-live': 'assertive' });
    const comment = h('textarea', { id: 'countersign-comment', rows: 3, maxlength: 5000 });
    const review = reviewSummary(c.id, type, findings(), 'countersign-confirm');
    const send = (agree, button) => busy(button, async () => {
      fill(msg);
      if (agree && !review.confirm.checked) {
        fill(msg, h('p', { class: 'notice error small' }, t('summary.confirmFirst')));
        review.confirm.focus();
        return;
      }
      if (!agree && !comment.value.trim()) {
        fill(msg, h('p', { class: 'notice error small' }, t('countersign.needComment')));
        comment.focus();
        return;
      }
      try {
        await post(`/api/v1/cases/${enc(c.id)}/countersign`, { agree, comment: comment.value.trim() });
        onDone();
      } catch (err) { fill(msg, errorBox(err)); }
    });
    const agree = h('button', { id: 'countersign-agree', type: 'button', class: 'primary', onclick: () => send(true, agree) }, t('countersign.agree'));
    const back = h('button', { id: 'countersign-return', type: 'button', class: 'danger secondary', onclick: () => send(false, back) }, t('countersign.return'));
    return h('div', { id: 'countersign', class: 'countersign' },
      h('h3', {}, t('countersign.title')),
      pending ? h('ol', { class: 'decision-list proposed' }, decisionItem(pending)) : h('p', { class: 'muted' }, t('decision.none')),
      review.el,
      h('p', { class: 'muted small' }, t('countersign.hint')),
      h('label', { for: 'countersign-comment' }, t('countersign.comment')), comment,
      msg,
      h('div', { class: 'actions' }, agree, back));
  }

  return { el, refresh };
}
