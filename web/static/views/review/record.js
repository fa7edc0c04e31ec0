/**
 * The case's record as both sides see it: decision rounds, materials owed
 * with their due dates (overdue ones in red), and the report download once
 * the decision is final. The applicant's view is built from these: what the
 * office asked for, what is still owed and by when, and the outcome.
 */
import { enc, get, listOf } from '../../api.js';
import { errorBox, fill, h } from '../../dom.js';
import { dateTime } from '../../format.js';
import { t } from '../../i18n.js';
import { personName } from './common.js';
import { closedNotice, commitmentView, loadCommitment, owedSlots } from '../owed.js';

export const FINAL = new Set(['approved', 'rejected']);

/** reportLink is the download of the inspection report (final decisions only). */
export function reportLink(c) {
  if (!FINAL.has(c.status)) return null;
  return h('a', { id: 'report-download', class: 'button secondary report-link', href: `/api/v1/cases/${enc(c.id)}/report.pdf`, download: `${c.number || c.id}.pdf` },
    `⤓ ${t('record.report')}`);
}

/**
 * owedList shows owed materials: text, state, due date, overdue or handed
 * in; given {c, onChange} also the controls its user may use now
 * (owed.js owedSlots).
 */
export function owedList(items, opts) {
  return owedSlots(items, opts);
}

/** outcomeText names a decision round's outcome, and the countersignature if any. */
export function decisionItem(d) {
  const signed = d.countersigned_at
    ? t(d.agree ? 'record.agreed' : 'record.returned', { who: personName(d.reviewer), at: dateTime(d.countersigned_at) })
    : (d.outcome === 'request_supplement' ? '' : t('record.awaiting'));
  return h('li', { class: `decision-item outcome-${d.outcome}`, dataset: { decisionId: d.id, outcome: d.outcome } },
    h('div', { class: 'decision-head' },
      h('strong', {}, t(`outcome.${d.outcome}`)),
      h('span', { class: 'muted small' }, ` · ${personName(d.inspector)} · ${dateTime(d.decided_at)}`)),
    h('p', { class: 'decision-summary' }, d.summary),
    signed && h('p', { class: 'small decision-sign' }, signed),
    d.comment && h('p', { class: 'small decision-comment' }, `${t('record.comment')}${t('common.colon')}${d.comment}`));
}

/** loadRecord fetches decision rounds, owed materials and the commitment (or null). */
export async function loadRecord(caseId) {
  const [decisions, owed, commitment] = await Promise.all([
    get(`/api/v1/cases/${enc(caseId)}/decisions`).then(listOf),
    get(`/api/v1/cases/${enc(caseId)}/owed`).then(listOf),
    loadCommitment(caseId),
  ]);
  return { decisions, owed, commitment };
}

/**
 * applicantOutcome is the applicant's panel: a supplement request with its
 * owed materials and due date, the final decision with the report, and
 * materials still owed under a commitment. {el, refresh}.
 */
export function applicantOutcome(caseId) {
  const body = h('div', {});
  const el = h('section', { id: 'applicant-outcome', class: 'panel outcome-panel', 'aria-labelledby': 'outcome-title', hidden: true },
    h('h2', { id: 'outcome-title' }, t('record.title')), body);
  let slots = null;

  async function refresh(c) {
    let rec;
    try {
      rec = await loadRecord(caseId);
    } catch (err) {
      el.hidden = false;
      fill(body, errorBox(err));
      return;
    }
    const { decisions, owed, commitment } = rec;
    const open = owed.filter((o) => !o.fulfilled_at);
    slots?.cleanup?.();
    slots = owedSlots(owed, { c, onChange: () => get(`/api/v1/cases/${enc(caseId)}`).then(refresh) });
    const request = c.status === 'supplement_requested' ? [...decisions].reverse().find((d) => d.outcome === 'request_supplement') : null;
    const final = FINAL.has(c.status) ? [...decisions].reverse().find((d) => d.agree) : null;
    el.hidden = !request && !final && !owed.length && !(commitment && c.status !== 'draft');
    fill(body,
      request && h('div', { class: 'notice supplement-request', role: 'note' },
        h('h3', {}, t('record.supplementAsked')),
        h('p', { class: 'decision-summary' }, request.summary),
        h('p', { class: 'small' }, t('record.supplementHint'))),
      final && h('div', { class: `final-decision outcome-${final.outcome}` },
        h('h3', {}, t(`status.${c.status}`)),
        h('p', { class: 'decision-summary' }, final.summary),
        h('p', { class: 'muted small' }, dateTime(final.countersigned_at)),
        reportLink(c)),
      owed.length > 0 && h('div', { class: 'owed' },
        h('h3', {}, open.length ? t('record.owedOpen', { n: open.length }) : t('record.owed')),
        open.length > 0 && c.status === 'approved' && h('p', { class: 'muted small' }, t('owed.deliverHint')),
        slots),
      closedNotice(c, owed),
      c.status !== 'draft' && commitmentView(commitment));
  }
  return { el, refresh };
}
