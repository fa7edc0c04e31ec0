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

/**
 * isOverdue is the server's answer (Case.Overdue): the UI keeps no rule of
 * its own, so the badge and the office's figures never disagree.
 */
export function isOverdue(c) {
  return Boolean(c.overdue);
}

/**
 * can says whether the logged-in user may do action to case c now: the
 * server's policy table answers in c.allowed_actions (storage/policy.go),
 * so a button shows exactly when the request would be accepted.
 */
export function can(c, action) {
  return Array.isArray(c?.allowed_actions) && c.allowed_actions.includes(action);
}

/** canUpload says whether the user may add evidence to case c now. */
export function canUpload(c) {
  return can(c, 'upload');
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
