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
 * countersigning, as the server reads it for this officer
 * (/review-summary): the checklist items that failed, the violations still
 * open and the evidence they have not opened (the audit log's reads).
 * {el, confirm, needsReason()}: confirm is the checkbox to tick; onLoad
 * runs when the summary arrives (a failure asks for a reason).
 */
function reviewSummary(caseId, type, id, onLoad) {
  const label = (item) => pick((type?.checklist || []).find((c) => c.id === item)?.text) || item;
  let needs = false;
  const body = h('div', { class: 'review-summary-body' }, h('p', { class: 'muted small' }, t('common.loading')));
  const confirm = h('input', { type: 'checkbox', id, class: 'review-confirm' });
  const el = h('div', { class: 'notice review-summary', role: 'note' },
    h('h4', {}, t('summary.title')), body,
    h('label', { class: 'decision-choice', for: id }, confirm, t('summary.confirm')));
  const evLink = (evId, text) => h('a', { href: `#/cases/${enc(caseId)}?ev=${enc(evId)}` }, text);
  get(`/api/v1/cases/${enc(caseId)}/review-summary`).then((s) => {
    needs = s.failed.length > 0 || s.open_violations.length > 0;
    el.classList.toggle('has-failures', needs);
    fill(body,
      s.failed.length
        ? h('div', {}, h('p', { class: 'small' }, t('summary.fails', { n: s.failed.length })),
          h('ul', { class: 'review-fails' }, s.failed.map((f) => h('li', { dataset: { checklistItem: f.checklist_item } },
            label(f.checklist_item), f.note && h('span', { class: 'muted small' }, ` — ${f.note}`)))))
        : h('p', { class: 'small' }, t('summary.noFails')),
      s.open_violations.length
        ? h('div', {}, h('p', { class: 'small review-violations is-overdue' }, t('summary.violations', { n: s.open_violations.length })),
          h('ul', { class: 'review-open-violations' }, s.open_violations.map((v) => h('li', { dataset: { annotationId: v.id } },
            evLink(v.evidence_id, v.body), v.checklist_item && h('span', { class: 'muted small' }, ` — ${label(v.checklist_item)}`)))))
        : h('p', { class: 'small review-violations' }, t('summary.noViolations')),
      s.unopened.length
        ? h('div', {}, h('p', { class: 'small review-unopened-head is-overdue' }, t('summary.unopened', { n: s.unopened.length, total: s.evidence_total })),
          h('ul', { class: 'review-unopened' }, s.unopened.map((e) => h('li', { dataset: { evidenceId: e.id } }, evLink(e.id, e.filename)))))
        : h('p', { class: 'small review-unopened-head' }, t('summary.allOpened', { total: s.evidence_total })));
    onLoad?.();
  }).catch((err) => fill(body, errorBox(err)));
  return { el, confirm, needsReason: () => needs };
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
    // a decision or a countersignature being written while it may still be
    // made: repainting would drop the typed text and the ticked confirmation
    // under the reviewer's pointer.
    const writing = (act.querySelector('#decision-dialog') && can(c, 'decide')) ||
      (act.querySelector('#countersign') && can(c, 'countersign') && act.dataset.pending === (pending?.id || ''));
    if (!writing) paintAct();
  }

  function paintAct() {
    if (can(c, 'decide')) {
      const open = h('button', { id: 'decide-open', type: 'button', class: 'primary', onclick: () => fill(act, dialog()) }, t('decision.open'));
      fill(act, open);
    } else if (can(c, 'countersign')) {
      act.dataset.pending = pending?.id || '';
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
    const due = h('input', { id: 'decision-due', type: 'date', min: dayFromNow(1), max: dayFromNow(365), value: dayFromNow(type?.supplement_days || 60) });
    const owedBox = h('div', { class: 'decision-owed', hidden: true },
      h('label', { for: 'decision-owed' }, t('decision.owed')), owed,
      h('p', { class: 'muted small owed-note' }),
      h('label', { for: 'decision-due' }, t('decision.due')), due);
    const submit = h('button', { id: 'decision-submit', type: 'submit', class: 'primary' }, t('decision.submit'));
    const review = reviewSummary(c.id, type, 'decision-confirm', () => sync());
    const reason = h('textarea', { id: 'decision-fail-reason', rows: 3, maxlength: 5000 });
    const reasonBox = h('div', { class: 'decision-fail-reason', hidden: true },
      h('label', { for: 'decision-fail-reason' }, t('summary.reason')), reason);

    function sync() {
      const o = outcome();
      reasonBox.hidden = !(o === 'approve' && review.needsReason());
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
      // Approving over a failed item or an open violation: the written
      // reason is kept with the decision (the server asks for it too).
      if (!reasonBox.hidden) body.reason = reason.value.trim();
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
    const reason = h('textarea', { id: 'countersign-reason', rows: 3, maxlength: 5000 });
    const reasonBox = h('div', { class: 'decision-fail-reason', hidden: true },
      h('label', { for: 'countersign-reason' }, t('summary.agreeReason')), reason);
    // Agreeing to an approval over a failure needs the reviewer's own reason.
    const review = reviewSummary(c.id, type, 'countersign-confirm', () => {
      reasonBox.hidden = !(pending?.outcome === 'approve' && review.needsReason());
    });
    const send = (agree, button) => busy(button, async () => {
      fill(msg);
      if (agree && !review.confirm.checked) {
        fill(msg, h('p', { class: 'notice error small' }, t('summary.confirmFirst')));
        review.confirm.focus();
        return;
      }
      if (agree && !reasonBox.hidden && !reason.value.trim()) {
        fill(msg, h('p', { class: 'notice error small' }, t('summary.reasonRequired')));
        reason.focus();
        return;
      }
      if (!agree && !comment.value.trim()) {
        fill(msg, h('p', { class: 'notice error small' }, t('countersign.needComment')));
        comment.focus();
        return;
      }
      try {
        const body = { agree, comment: comment.value.trim() };
        if (agree && !reasonBox.hidden) body.reason = reason.value.trim();
        await post(`/api/v1/cases/${enc(c.id)}/countersign`, body);
        onDone();
      } catch (err) { fill(msg, errorBox(err)); }
    });
    const agree = h('button', { id: 'countersign-agree', type: 'button', class: 'primary', onclick: () => send(true, agree) }, t('countersign.agree'));
    const back = h('button', { id: 'countersign-return', type: 'button', class: 'danger secondary', onclick: () => send(false, back) }, t('countersign.return'));
    return h('div', { id: 'countersign', class: 'countersign' },
      h('h3', {}, t('countersign.title')),
      pending ? h('ol', { class: 'decision-list proposed' }, decisionItem(pending)) : h('p', { class: 'muted' }, t('decision.none')),
      review.el,
      reasonBox,
      h('p', { class: 'muted small' }, t('countersign.hint')),
      h('label', { for: 'countersign-comment' }, t('countersign.comment')), comment,
      msg,
      h('div', { class: 'actions' }, agree, back));
  }

  return { el, refresh };
}
