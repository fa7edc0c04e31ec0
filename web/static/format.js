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
