/**
 * Small pieces the review views share: who may write notes on a case now,
 * media times with milliseconds and frames, an annotation's anchor and
 * severity, checklist item names.
 */
import { h } from '../../dom.js';
import { clock } from '../../format.js';
import { pick, t } from '../../i18n.js';
import { can } from '../../model.js';

/** REVIEW_STATUSES are the statuses in which officers may annotate. */
export const REVIEW_STATUSES = new Set(['in_review', 'supplement_requested', 'pending_countersign']);

/** WORKSPACE_STATUSES are those in which an officer sees the review workspace. */
export const WORKSPACE_STATUSES = new Set([...REVIEW_STATUSES, 'approved', 'rejected']);

export const SEVERITIES = ['info', 'concern', 'violation'];
export const RESULTS = ['pass', 'fail', 'na'];

/** isOfficer says whether the user works for the office (sees working notes). */
export const isOfficer = (user) => user.role !== 'applicant';

/** onCase says whether the user is the case's inspector or reviewer. */
export function onCase(user, c) {
  return Boolean((c.inspector && c.inspector.id === user.id) || (c.reviewer && c.reviewer.id === user.id));
}

/** mayAnnotate is the server's policy answer for the case (allowed_actions). */
export function mayAnnotate(user, c) {
  return can(c, 'annotate');
}

/** isInspector says whether the user is the case's assigned inspector. */
export const isInspector = (user, c) => Boolean(c.inspector && c.inspector.id === user.id);

/** clockMs renders a media time with milliseconds: "00:03.200". */
export function clockMs(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  return `${clock(ms)}.${String(Math.floor(ms % 1000)).padStart(3, '0')}`;
}

/** anchorText says where an annotation is: a moment (and frame), a range, a page, or the photo. */
export function anchorText(a) {
  if (a.page != null) return t('review.atPage', { n: a.page });
  if (a.start_ms == null) return t('review.onPhoto');
  const frame = (f) => (f != null ? ` ${t('review.frame', { n: f })}` : '');
  if (a.end_ms != null) {
    return `${clockMs(a.start_ms)}–${clockMs(a.end_ms)}${frame(a.start_frame)}`;
  }
  return `${clockMs(a.start_ms)}${frame(a.start_frame)}`;
}

/** severityBadge is a coloured label for info, concern or violation. */
export function severityBadge(severity) {
  const s = SEVERITIES.includes(severity) ? severity : 'info';
  return h('span', { class: `badge severity severity-${s}`, dataset: { severity: s } }, t(`severity.${s}`));
}

/** checklistText names a checklist item of the permit type in the current language. */
export function checklistText(type, id) {
  if (!id) return '';
  const item = type?.checklist?.find((c) => c.id === id);
  return item ? pick(item.text) : id;
}

/** checklistSelect is a select of the permit type's checklist, with "none" (or "all") first. */
export function checklistSelect(type, props, firstLabel) {
  return h('select', props,
    h('option', { value: '' }, firstLabel),
    (type?.checklist || []).map((c) => h('option', { value: c.id }, pick(c.text))));
}

/** personName shows a user reference. */
export function personName(p) {
  return p ? p.display_name || p.username : t('common.none');
}
