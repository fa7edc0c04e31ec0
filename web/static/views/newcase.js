/**
 * Opening a case. The permit type picker shows, before anything is created,
 * whether the type allows approval on a signed commitment (承诺办), how fast
 * it is decided, and what the inspection will look at, so the applicant
 * knows what to film.
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
    types.map((p) => h('option', { value: p.code }, pick(p.name))));
  const current = () => types.find((p) => p.code === select.value);
  const preview = h('div', { class: 'permit-preview', 'aria-live': 'polite' }, ...describe(current()));
  const field = (id, label, control) => [h('label', { for: id }, label), control];
  const siteName = h('input', { id: 'case-site-name', name: 'site_name', required: true, maxlength: 200 });
  const siteAddress = h('input', { id: 'case-site-address', name: 'site_address', autocomplete: 'street-address', maxlength: 500 });
  const coords = siteCoords();
  const description = h('textarea', { id: 'case-description', name: 'description', rows: 4, maxlength: 4000 });
  const create = h('button', { id: 'case-create', type: 'submit', class: 'primary' }, t('newcase.create'));
  const message = h('div', { 'aria-live': 'assertive' });

  const form = h('form', {
    class: 'panel form',
    onsubmit: async (event) => {
      event.preventDefault();
      fill(message);
      coords.validate();
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
  field('case-site-name', t('newcase.siteName'), siteName),
  field('case-site-address', t('newcase.siteAddress'), siteAddress),
  coords.el,
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
