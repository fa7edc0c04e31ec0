/**
 * Opening a case. The permit type picker shows, before anything is created,
 * whether the type allows approval on a signed commitment (承诺办), how fast
 * it is decided, and what the inspection will look at, so the applicant
 * knows what to film. No type is chosen for the applicant: the picker
 * starts on a placeholder. The company's 统一社会信用代码 is checked here
 * as on the server (GB 32100-2015 check character), with the contact
 * person and phone the office calls.
 */
import { enc, post } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { pick, t } from '../i18n.js';
import { permitTypes } from '../model.js';
import { siteCoords } from './sitecoords.js';

/** render draws the form; only applicants may create cases. */
export async function render(view, ctx) {
  document.title = `${t('newcase.title')} · ${t('app.title')}`;
  view.append(h('h1', {}, t('newcase.title')));
  if (ctx.user.role !== 'applicant') {
    view.append(h('p', { class: 'notice' }, t('newcase.onlyApplicants')));
    return;
  }
  let types;
  try {
    // A retired type takes no new applications (docs/CATALOGUE.md).
    types = (await permitTypes()).filter((p) => !p.retired_at);
  } catch (err) {
    view.append(errorBox(err));
    return;
  }
  if (!ctx.alive()) return;

  const select = h('select', { id: 'case-permit-type', name: 'permit_type', required: true, onchange: () => fill(preview, describe(current())) },
    h('option', { value: '', disabled: true, selected: true }, t('newcase.pickPermit')),
    types.map((p) => h('option', { value: p.code }, pick(p.name))));
  const current = () => types.find((p) => p.code === select.value);
  const preview = h('div', { class: 'permit-preview', 'aria-live': 'polite' }, ...describe(current()));
  const field = (id, label, control) => [h('label', { for: id }, label), control];
  const siteName = h('input', { id: 'case-site-name', name: 'site_name', required: true, maxlength: 200 });
  const siteAddress = h('input', { id: 'case-site-address', name: 'site_address', autocomplete: 'street-address', maxlength: 500 });
  const coords = siteCoords();
  const description = h('textarea', { id: 'case-description', name: 'description', rows: 4, maxlength: 4000 });
  const creditCode = h('input', { id: 'case-credit-code', name: 'credit_code', required: true, maxlength: 18, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
    oninput: () => creditCode.setCustomValidity(''), onblur: () => checkCredit() });
  const contactName = h('input', { id: 'case-contact-name', name: 'contact_name', required: true, maxlength: 100, autocomplete: 'name' });
  const contactPhone = h('input', { id: 'case-contact-phone', name: 'contact_phone', type: 'tel', required: true, maxlength: 20, autocomplete: 'tel',
    oninput: () => contactPhone.setCustomValidity('') });
  const checkCredit = () => {
    const v = creditCode.value.trim().toUpperCase();
    creditCode.value = v;
    creditCode.setCustomValidity(v && !creditCodeOK(v) ? t('newcase.creditCodeBad') : '');
    return creditCode.validity.valid;
  };
  const create = h('button', { id: 'case-create', type: 'submit', class: 'primary' }, t('newcase.create'));
  const message = h('div', { 'aria-live': 'assertive' });

  const form = h('form', {
    class: 'panel form',
    onsubmit: async (event) => {
      event.preventDefault();
      fill(message);
      coords.validate();
      checkCredit();
      if (!/^[0-9+\- ]{5,20}$/.test(contactPhone.value.trim()) || (contactPhone.value.match(/[0-9]/g) || []).length < 5) contactPhone.setCustomValidity(t('newcase.contactPhoneBad'));
      if (!select.value) select.setCustomValidity(t('newcase.pickPermit'));
      else select.setCustomValidity('');
      if (!form.reportValidity()) return;
      create.disabled = true;
      create.textContent = t('newcase.creating');
      try {
        const c = await post('/api/v1/cases', {
          permit_type: select.value,
          site_name: siteName.value.trim(),
          site_address: siteAddress.value.trim(),
          ...coords.values(),
          description: description.value.trim(),
          credit_code: creditCode.value.trim(),
          contact_name: contactName.value.trim(),
          contact_phone: contactPhone.value.trim(),
        });
        ctx.navigate(`#/cases/${enc(c.id)}`);
      } catch (err) {
        fill(message, errorBox(err));
        create.disabled = false;
        create.textContent = t('newcase.create');
      }
    },
  },
  field('case-permit-type', t('newcase.permit'), select),
  preview,
  field('case-credit-code', t('newcase.creditCode'), creditCode),
  h('p', { class: 'muted small' }, t('newcase.creditCodeHint')),
  field('case-site-name', t('newcase.siteName'), siteName),
  field('case-site-address', t('newcase.siteAddress'), siteAddress),
  coords.el,
  field('case-contact-name', t('newcase.contactName'), contactName),
  field('case-contact-phone', t('newcase.contactPhone'), contactPhone),
  field('case-description', t('newcase.description'), description),
  message,
  h('div', { class: 'actions' }, create, h('a', { class: 'button secondary', href: '#/cases' }, t('newcase.cancel'))));
  view.append(form);
}

/** describe summarises a permit type: commitment, target time and checklist. */
function describe(type) {
  if (!type) return [];
  const commit = type.commitment_allowed
    ? h('p', { class: 'commit yes' }, h('span', { class: 'badge commit-badge' }, t('newcase.commitBadge')), ' ', t('newcase.commitYes', { days: type.supplement_days ?? 60 }))
    : h('p', { class: 'commit no' }, t('newcase.commitNo'));
  const target = type.target_days > 0 ? t('newcase.targetDays', { n: type.target_days }) : t('newcase.sameDay');
  const items = type.checklist || [];
  return [
    commit,
    h('p', { class: 'target' }, target),
    items.length > 0 && h('div', { class: 'checklist-preview' },
      h('h3', {}, t('newcase.checklist')),
      h('ul', {}, items.map((item) => h('li', {}, pick(item.text))))),
  ];
}

// The GB 32100-2015 character set (no I, O, Z, S, V) and the weights of
// characters 1–17; the 18th is the check character.
const CREDIT_CHARS = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/** creditCodeOK checks a 统一社会信用代码's length, characters and check character. */
export function creditCodeOK(code) {
  if (code.length !== 18) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const v = CREDIT_CHARS.indexOf(code[i]);
    if (v < 0) return false;
    sum += v * CREDIT_WEIGHTS[i];
  }
  return code[17] === CREDIT_CHARS[(31 - (sum % 31)) % 31];
}
