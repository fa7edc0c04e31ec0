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
  const d = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

// The office's time zone (GET /api/v1/config). Every time the UI shows or
// takes is in it, whatever the device's clock says: a deadline reads the
// same on an inspector's laptop abroad as in the office's report.
// The last zone the office's settings gave is kept, so a phone with no
// signal shows the same times.
const ZONE_KEY = 'siteinspect.timezone';
let zone = 'Asia/Shanghai';
try { useZone(localStorage.getItem(ZONE_KEY) || zone); } catch { /* private mode */ }

/**
 * useZone makes tz the zone if it is a zone's name, and says whether it is
 * now. The zone in use was checked already. Checking builds a formatter,
 * which loads the time zone data: on a slow phone that is 60-120 ms, so it
 * happens only for a new zone, and this module stays off the login page.
 */
function useZone(tz) {
  if (tz === zone) return true;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    return false; // keep the previous zone
  }
  zone = tz;
  return true;
}

/** setTimeZone sets the office's zone (an IANA name) and remembers it; an unknown name is ignored. */
export function setTimeZone(tz) {
  if (!useZone(tz)) return;
  try { localStorage.setItem(ZONE_KEY, tz); } catch { /* private mode: this visit only */ }
}

/** timeZone is the office's zone, the one every formatter here uses. */
export function timeZone() {
  return zone;
}

/** dateTime renders an RFC 3339 string (or null) as a date and time in the office's zone. */
export function dateTime(iso) {
  const d = parse(iso);
  if (!d) return t('common.none');
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short', timeZone: zone }).format(d);
}

/** date renders an RFC 3339 string (or null) as a date in the office's zone. */
export function date(iso) {
  const d = parse(iso);
  if (!d) return t('common.none');
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: zone }).format(d);
}

/** time renders an RFC 3339 string or Date (default now) as "HH:mm" in the office's zone. */
export function time(iso = new Date()) {
  const d = parse(iso);
  if (!d) return '';
  const p = wall(d);
  return `${p.hour}:${p.minute}`;
}

/** wallClock renders a Date (default now) as "YYYY-MM-DD HH:mm:ss" in the office's zone. */
export function wallClock(d = new Date()) {
  const p = wall(d);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

// wall is an instant's wall-clock fields in the office's zone, zero-padded.
function wall(d) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(d);
  const out = {};
  for (const { type, value } of parts) out[type] = value;
  return out;
}

/** dayValue is a date input's value ("YYYY-MM-DD") for an instant, as the office's calendar has it. */
export function dayValue(iso) {
  const d = parse(iso);
  if (!d) return '';
  const p = wall(d);
  return `${p.year}-${p.month}-${p.day}`;
}

/** dayFromNow is dayValue of now plus n days. */
export function dayFromNow(n) {
  return dayValue(new Date(Date.now() + n * 86400000));
}

/** dateTimeValue is a datetime-local input's value ("YYYY-MM-DDTHH:mm") in the office's zone. */
export function dateTimeValue(iso) {
  const d = parse(iso);
  if (!d) return '';
  const p = wall(d);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

// zoned is the instant at which the office's clock reads the given wall
// time. The zone's offset is read at a first guess and again at the
// result, which settles it across a daylight-saving change.
function zoned(y, mo, d, h, mi, s) {
  const want = Date.UTC(y, mo - 1, d, h, mi, s);
  const offsetAt = (ms) => {
    const p = wall(new Date(ms));
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - ms;
  };
  let at = want - offsetAt(want);
  at = want - offsetAt(at);
  return new Date(at);
}

/**
 * endOfDay turns a date input's value ("YYYY-MM-DD") into the RFC 3339
 * instant of 23:59:59 that day in the office's zone; null when malformed.
 */
export function endOfDay(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  if (!m) return null;
  return zoned(+m[1], +m[2], +m[3], 23, 59, 59).toISOString();
}

/**
 * fromDateTimeValue turns a datetime-local input's value into the RFC 3339
 * instant it names in the office's zone; null when malformed.
 */
export function fromDateTimeValue(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || '');
  if (!m) return null;
  return zoned(+m[1], +m[2], +m[3], +m[4], +m[5], +(m[6] || 0)).toISOString();
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
