/**
 * What the media pipeline learned about an evidence item, drawn the same way
 * in the list and in the viewers: the processing or failed state, length or
 * page count and size, the technical small print, and when and where it was
 * captured (with a warning when that was far from the case's site).
 */
import { evidencePath } from '../api.js';
import { h } from '../dom.js';
import { clock, dateTime, distance, latLon, mapURL, number } from '../format.js';
import { errorText, t } from '../i18n.js';

/** isVideo says whether the item plays as a video (uploads and live recordings). */
export const isVideo = (item) => item.kind === 'video' || item.kind === 'recording';

/**
 * playsNow says whether a video can be played now: once ready, or while its
 * poster and filmstrip are still being made, once the pipeline has found it
 * (or its proxy) playable.
 */
export const playsNow = (item) => isVideo(item) &&
  (item.status === 'ready' || (item.status === 'processing' && Boolean(item.derived?.playable)));

/** viewState is what decides how an item is shown: its status, and whether it plays yet. */
export const viewState = (item) => `${item.status}${playsNow(item) ? '+playable' : ''}`;

/** pageCount is a PDF's number of page images (or, before they exist, its pages). */
export function pageCount(item) {
  return item.derived?.pages || item.media?.pages || 0;
}

/** durationMs is a video's length, from the probe or else from its filmstrip. */
export function durationMs(item) {
  const d = item.media?.duration_ms;
  if (d > 0) return d;
  const f = item.derived?.filmstrip;
  return f ? f.count * f.interval_ms : 0;
}

/**
 * thumbURL is the small picture for the list: a video's poster, an image's
 * thumbnail (or its upright preview), a PDF's first page; '' when none exists yet.
 */
export function thumbURL(item) {
  const d = item.derived || {};
  if (isVideo(item)) return d.poster ? evidencePath(item.id, 'poster') : '';
  if (item.kind === 'image') {
    if (d.thumbnail) return evidencePath(item.id, 'thumbnail');
    return d.poster ? evidencePath(item.id, 'poster') : '';
  }
  if (item.kind === 'pdf') return d.pages > 0 ? `${evidencePath(item.id, 'pages/1')}?thumb=1` : '';
  return '';
}

/** lengthLabel is the short text over a thumbnail: "03:25" or "12 pages". */
export function lengthLabel(item) {
  if (isVideo(item)) {
    const d = durationMs(item);
    return d > 0 ? clock(d) : '';
  }
  const pages = pageCount(item);
  return item.kind === 'pdf' && pages > 0 ? t('evidence.pages', { n: number(pages) }) : '';
}

/** dimensions is "1920 × 1080" when the pipeline measured the picture. */
export function dimensions(item) {
  const { width, height } = item.media || {};
  return width > 0 && height > 0 ? `${width} × ${height}` : '';
}

/** summary lists length or pages and size for the list row. */
export function summary(item) {
  return [lengthLabel(item), item.kind !== 'pdf' && dimensions(item)].filter(Boolean).join(' · ');
}

/** techLine is the small print under a player: codecs, resolution, frame rate. */
export function techLine(item) {
  const m = item.media || {};
  return [
    m.video_codec && m.video_codec.toUpperCase(),
    dimensions(item),
    m.fps > 0 && t('evidence.fps', { n: number(m.fps, 2) }),
    m.audio_codec && m.audio_codec.toUpperCase(),
    item.derived?.proxy && t('evidence.proxy'),
  ].filter(Boolean).join(' · ');
}

/** spinner is a small animated ring; hidden from screen readers, which get the text next to it. */
export function spinner() {
  return h('span', { class: 'spinner', 'aria-hidden': 'true' });
}

/** stateNote is "processing…" with a spinner, or "failed: reason" in red; null once ready. */
export function stateNote(item) {
  if (item.status === 'processing') {
    const words = playsNow(item) ? t('evidence.processingPlayable') : t('evidence.processing');
    return h('p', { class: 'ev-state ev-processing', role: 'status' }, spinner(), words);
  }
  if (item.status === 'failed') {
    // A limit the pipeline enforces names its code first ("video_too_long: …"):
    // the person reads the code's sentence in their language.
    const coded = /^([a-z_]+): /.exec(item.status_reason || '');
    const known = coded && errorText({ code: coded[1] });
    const reason = (coded && known !== errorText({}) ? known : item.status_reason) || t('error.generic');
    return h('p', { class: 'ev-state ev-failed' }, t('evidence.failedReason', { reason }));
  }
  return null;
}

/** placeLink links a coordinate to an external map in a new tab. */
export function placeLink(pos) {
  return h('a', { href: mapURL(pos), target: '_blank', rel: 'noopener noreferrer', class: 'ev-place' },
    `${pos.lat.toFixed(5)}, ${pos.lon.toFixed(5)}`);
}

/** capture shows when and where the item was captured, if the file said so, and warns when far from the site. */
export function capture(item) {
  const m = item.media || {};
  const pos = latLon(m.location);
  const far = item.location_warning === true;
  const dist = Number.isFinite(item.site_distance_m) ? distance(item.site_distance_m) : '';
  if (!m.captured_at && !pos && !far) return null;
  return h('div', { class: 'ev-capture small' },
    m.captured_at && h('span', {},
      h('span', { class: 'muted' }, t('evidence.capturedAt') + t('common.colon')),
      h('time', { datetime: m.captured_at }, dateTime(m.captured_at))),
    pos && h('span', {},
      h('span', { class: 'muted' }, t('evidence.capturedPlace') + t('common.colon')),
      placeLink(pos),
      dist && !far && h('span', { class: 'muted' }, ` (${t('evidence.fromSite', { d: dist })})`)),
    far && h('p', { class: 'ev-warning', role: 'note' },
      h('span', { 'aria-hidden': 'true' }, '⚠ '),
      dist ? t('evidence.farFromSite', { d: dist }) : t('evidence.farUnknown')));
}
