/**
 * Routing a case to a unit (分中心) of the office: an admin's control on the
 * case page, shown when the case's allowed_actions has "route" and the
 * office has units. A routed case's open slots go to that unit's officers
 * only (docs/ADMIN.md); "the whole office" routes it back.
 */
import { enc, get, listOf, post } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { lang, t } from '../i18n.js';
import { can } from '../model.js';

/** routeControl returns the unit picker for c (hidden until the units arrive), or null. */
export function routeControl(c, onChange) {
  if (!can(c, 'route')) return null;
  const select = h('select', { id: 'case-route-unit', 'aria-label': t('route.label') }, h('option', { value: '' }, t('route.office')));
  const message = h('span', { 'aria-live': 'polite' });
  const save = h('button', { id: 'case-route', type: 'button', class: 'secondary', onclick: () => busy(save, async () => {
    fill(message);
    try {
      onChange(await post(`/api/v1/cases/${enc(c.id)}/route`, { unit_id: select.value }));
    } catch (err) {
      fill(message, errorBox(err));
    }
  }) }, t('route.save'));
  const el = h('span', { class: 'route-control', hidden: true }, h('label', { for: 'case-route-unit' }, t('route.label')), select, save, message);
  get('/api/v1/units').then(listOf).then((units) => {
    if (!units.length) return;
    select.append(...units.map((u) => h('option', { value: u.id }, lang() === 'zh' ? u.name_zh : u.name_en)));
    select.value = c.unit_id || '';
    el.hidden = false;
  }).catch(() => { /* no units, no control */ });
  return el;
}
