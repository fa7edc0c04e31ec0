/**
 * The applicant's 受理回执 (acknowledgement of receipt) once a case is
 * submitted: the case number, the office's name, the permit type and site,
 * when it was submitted and when the office is due to decide (both in the
 * office's time zone), and what happens next. It prints on its own (the
 * rest of the page is hidden for the print).
 */
import { get } from '../api.js';
import { h } from '../dom.js';
import { dateTime } from '../format.js';
import { t } from '../i18n.js';
import { permitName } from '../model.js';

let office = null;

/** officeName is the office's name from GET /api/v1/config (its code if the server has no name). */
function officeName() {
  office ||= get('/api/v1/config').then((cfg) => cfg?.office?.name || cfg?.office?.code || '').catch(() => '');
  return office;
}

/** printReceipt prints the receipt alone. */
function printReceipt() {
  document.body.classList.add('print-receipt');
  const done = () => {
    document.body.classList.remove('print-receipt');
    window.removeEventListener('afterprint', done);
  };
  window.addEventListener('afterprint', done);
  window.print();
}

/**
 * receipt returns the receipt for the submitted case c, or null before
 * submission. open: shown unfolded (right after submitting).
 */
export function receipt(c, types, { open = false } = {}) {
  if (!c.submitted_at || c.status === 'draft' || c.status === 'withdrawn') return null;
  const name = h('dd', { id: 'receipt-office' }, t('common.loading'));
  officeName().then((n) => { name.textContent = n || t('common.none'); });
  const row = (label, value, id) => [h('dt', {}, label), h('dd', id ? { id } : {}, value)];
  const type = (types || []).find((p) => p.code === c.permit_type);
  return h('details', { id: 'case-receipt', class: 'panel receipt', open },
    h('summary', {}, t('receipt.title')),
    h('h2', { class: 'receipt-title' }, t('receipt.heading')),
    h('dl', { class: 'receipt-facts' },
      row(t('receipt.number'), c.number || c.id, 'receipt-number'),
      h('dt', {}, t('receipt.office')), name,
      row(t('receipt.permit'), permitName(types, c.permit_type)),
      row(t('case.site'), [c.site_name, c.site_address].filter(Boolean).join(' · ')),
      c.credit_code && row(t('newcase.creditCode'), c.credit_code),
      c.contact_name && row(t('newcase.contactName'), [c.contact_name, c.contact_phone].filter(Boolean).join(' · ')),
      row(t('receipt.submitted'), dateTime(c.submitted_at), 'receipt-submitted'),
      c.due_at && row(t('receipt.due'), dateTime(c.due_at), 'receipt-due'),
      type?.target_days > 0 && row(t('receipt.target'), t('newcase.targetDays', { n: type.target_days }))),
    h('h3', {}, t('receipt.next')),
    h('ol', { class: 'receipt-next' },
      h('li', {}, t('receipt.next1')),
      h('li', {}, t('receipt.next2')),
      h('li', {}, t('receipt.next3'))),
    h('p', { class: 'muted small' }, t('receipt.zone')),
    h('div', { class: 'actions no-print' },
      h('button', { id: 'receipt-print', type: 'button', class: 'secondary', onclick: printReceipt }, t('receipt.print'))));
}
