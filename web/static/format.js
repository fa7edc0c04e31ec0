/**
 * Number, size and date formatting in the current language. Sizes are
 * decimal (1 MB = 1,000,000 bytes), as phones show them.
 */
import { locale, t } from './i18n.js';

const UNITS = ['kB', 'MB', 'GB', 'TB'];

/** bytes renders a size like "12.3 MB". */
export function bytes(n) {
  if (!Number.isFinite(n) || n < 0) return t('common.none');
  if (n < 1000) return `${n} B`;
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < UNITS.length - 1);
  return `${v.toFixed(v < 100 ? 1 : 0)} ${UNITS[i]}`;
}

/** speed renders bytes per second like "1.2 MB/s". */
export function speed(bps) {
  return bps > 0 ? `${bytes(Math.round(bps))}/s` : '';
}

/** duration renders seconds coarsely ("3 min"), enough for an estimate. */
export function duration(sec) {
  if (!Number.isFinite(sec) || sec < 0) return '';
  if (sec < 60) return t('time.s', { n: Math.ceil(sec) });
  if (sec < 3600) return t('time.min', { n: Math.ceil(sec / 60) });
  return t('time.h', { n: (sec / 3600).toFixed(1) });
}

function parse(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** dateTime renders an RFC 3339 string (or null) as a local date and time. */
export function dateTime(iso) {
  const d = parse(iso);
  if (!d) return t('common.none');
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

/** date renders an RFC 3339 string (or null) as a local date. */
export function date(iso) {
  const d = parse(iso);
  if (!d) return t('common.none');
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium' }).format(d);
}

/** clock renders milliseconds as a media time: "m:ss", or "h:mm:ss" from an hour. */
export function clock(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  const total = Math.floor(ms / 1000);
  const s = String(total % 60).padStart(2, '0');
  const m = Math.floor(total / 60) % 60;
  const hr = Math.floor(total / 3600);
  return hr > 0 ? `${hr}:${String(m).padStart(2, '0')}:${s}` : `${String(m).padStart(2, '0')}:${s}`;
}

/** number renders a number in the current language with at most `digits` decimals. */
export function number(n, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
}

/** distance renders metres as "850 m" or "12.3 km" (in Chinese 米 / 公里). */
export function distance(m) {
  if (!Number.isFinite(m) || m < 0) return '';
  if (m < 1000) return t('unit.m', { n: number(Math.round(m)) });
  const km = m / 1000;
  return t('unit.km', { n: number(km, km < 100 ? 1 : 0) });
}

/**
 * latLon parses the API's "lat,lon" decimal string; null when it is missing
 * or not a valid coordinate, so nothing malformed ends up in a map link.
 */
export function latLon(value) {
  if (typeof value !== 'string') return null;
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length !== 2 || parts.some((s) => !/^[+-]?\d+(\.\d+)?$/.test(s))) return null;
  const [lat, lon] = parts.map(Number);
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { lat, lon };
}

/** mapURL points an external map at a coordinate (OpenStreetMap, no key needed). */
export function mapURL({ lat, lon }) {
  const la = lat.toFixed(6);
  const lo = lon.toFixed(6);
  return `https://www.openstreetmap.org/?mlat=${la}&mlon=${lo}#map=17/${la}/${lo}`;
}
