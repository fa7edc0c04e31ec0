/**
 * Knowledge about cases and permit types that several views share: the status
 * list, what counts as overdue, permit type names, and the status badge.
 */
import { get, listOf } from './api.js';
import { h } from './dom.js';
import { pick, t } from './i18n.js';

/** STATUSES lists the case lifecycle in its natural order. */
export const STATUSES = [
  'draft', 'submitted', 'in_review', 'supplement_requested',
  'pending_countersign', 'approved', 'rejected', 'withdrawn',
];

const CLOSED = new Set(['approved', 'rejected', 'withdrawn']);

/** isClosed says whether the case has reached an end state. */
export function isClosed(status) {
  return CLOSED.has(status);
}

/** isOverdue says whether an open case has passed its due time. */
export function isOverdue(c, now = Date.now()) {
  if (!c.due_at || CLOSED.has(c.status)) return false;
  const due = Date.parse(c.due_at);
  return Number.isFinite(due) && due < now;
}

/** canUpload says whether the applicant may add evidence in this status. */
export function canUpload(status) {
  return status === 'draft' || status === 'supplement_requested';
}

let permitTypesPromise = null;

/** permitTypes loads the catalogue once per page; it rarely changes. */
export function permitTypes() {
  if (!permitTypesPromise) {
    permitTypesPromise = get('/api/v1/permit-types').then(listOf).catch((err) => {
      permitTypesPromise = null; // let the next view try again
      throw err;
    });
  }
  return permitTypesPromise;
}

/** permitName finds a permit type's name in the current language, or shows the code. */
export function permitName(types, code) {
  const type = types.find((p) => p.code === code);
  return type ? pick(type.name) : code;
}

/** statusBadge renders a coloured status label; data-status keeps the raw value. */
export function statusBadge(status, props = {}) {
  return h('span', { class: `badge status-${status}`, dataset: { status }, ...props }, t(`status.${status}`));
}
