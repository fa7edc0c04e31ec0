/**
 * Optional site coordinates for a new case. With them the server can tell
 * whether a video was filmed at the site; without them nothing is checked.
 * "Use my location" fills both from the phone when the applicant is standing
 * at the site. Both or neither: half a coordinate is refused before sending.
 */
import { fill, h } from '../dom.js';
import { t } from '../i18n.js';

/** siteCoords returns {el, validate, values}; values() is {} or {site_lat, site_lon} as numbers. */
export function siteCoords() {
  const input = (id, name, min, max) => h('input', {
    id, name, type: 'number', inputmode: 'decimal', step: 'any', min, max, autocomplete: 'off',
    oninput: () => validate(),
  });
  const lat = input('case-site-lat', 'site_lat', -90, 90);
  const lon = input('case-site-lon', 'site_lon', -180, 180);
  const status = h('p', { class: 'small muted coords-status', 'aria-live': 'polite' });

  const canLocate = typeof navigator !== 'undefined' && 'geolocation' in navigator;
  const locate = canLocate && h('button', {
    id: 'case-site-locate', type: 'button', class: 'secondary small',
    onclick: () => {
      locate.disabled = true;
      fill(status, t('coords.locating'));
      status.classList.remove('error');
      navigator.geolocation.getCurrentPosition((pos) => {
        locate.disabled = false;
        lat.value = pos.coords.latitude.toFixed(6);
        lon.value = pos.coords.longitude.toFixed(6);
        validate();
        fill(status, t('coords.located', { m: Math.round(pos.coords.accuracy || 0) }));
      }, (err) => {
        locate.disabled = false;
        status.classList.add('error');
        fill(status, t(err?.code === 1 ? 'coords.denied' : 'coords.unavailable'));
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    },
  }, t('coords.useMine'));

  /** validate sets each field's message; it returns true when the pair may be sent. */
  function validate() {
    const check = (el, other, max, rangeKey) => {
      const raw = el.value.trim();
      let msg = '';
      if (el.validity.badInput) msg = t('coords.notNumber');
      else if (raw === '' && other.value.trim() !== '') msg = t('coords.both');
      else if (raw !== '' && !(Math.abs(Number(raw)) <= max)) msg = t(rangeKey);
      el.setCustomValidity(msg);
      return !msg;
    };
    const a = check(lat, lon, 90, 'coords.latRange');
    const b = check(lon, lat, 180, 'coords.lonRange');
    return a && b;
  }

  function values() {
    const a = lat.value.trim();
    const b = lon.value.trim();
    if (a === '' || b === '') return {};
    return { site_lat: Number(a), site_lon: Number(b) };
  }

  const field = (id, label, control) => h('div', { class: 'coords-field' }, h('label', { for: id }, label), control);
  const el = h('fieldset', { class: 'coords' },
    h('legend', {}, t('coords.legend')),
    h('p', { class: 'small muted' }, t('coords.hint')),
    h('div', { class: 'coords-row' },
      field('case-site-lat', t('coords.lat'), lat),
      field('case-site-lon', t('coords.lon'), lon)),
    locate, status);
  return { el, validate, values };
}
