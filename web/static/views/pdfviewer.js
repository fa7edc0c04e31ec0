/**
 * The PDF viewer: one page image at a time with previous/next and "page N / M",
 * a strip of page thumbnails, and a link to the original. A 300-page filing
 * stays fast because only the page on screen (and the next one, prefetched)
 * is fetched at full size, and the strip's thumbnails load lazily as they
 * scroll into view.
 */
import { evidencePath } from '../api.js';
import { h } from '../dom.js';
import { number } from '../format.js';
import { t } from '../i18n.js';
import { pageCount, stateNote } from './evmeta.js';

/**
 * pdfViewer returns {el, cleanup}, and once pages exist also go(n), current(),
 * the page image and its stage (where the review workspace lays its drawing
 * layer); onPage(n) runs after every page change.
 */
export function pdfViewer(item, { onPage } = {}) {
  const original = h('a', { href: evidencePath(item.id, 'content'), target: '_blank', rel: 'noopener', class: 'pdfv-original' },
    t('evidence.openPdf'));
  const total = item.derived?.pages || 0;
  if (item.status !== 'ready' || total < 1) {
    const el = h('div', { class: 'viewer pdfv' },
      stateNote(item),
      item.status === 'ready' && h('p', { class: 'muted small' }, t('pdf.noPages')),
      h('p', { class: 'small' }, original));
    return { el, cleanup: () => {} };
  }

  const pageURL = (n, thumb) => `${evidencePath(item.id, `pages/${n}`)}${thumb ? '?thumb=1' : ''}`;
  let current = 1;
  let prefetch = null;

  const prev = h('button', { type: 'button', class: 'secondary small pdfv-prev', onclick: () => go(current - 1) },
    h('span', { 'aria-hidden': 'true' }, '‹ '), t('pdf.prev'));
  const next = h('button', { type: 'button', class: 'secondary small pdfv-next', onclick: () => go(current + 1) },
    t('pdf.next'), h('span', { 'aria-hidden': 'true' }, ' ›'));
  const counter = h('span', { class: 'pdfv-count', 'aria-live': 'polite' });
  const jump = h('input', {
    class: 'pdfv-jump', type: 'number', min: 1, max: total, step: 1, inputmode: 'numeric',
    onchange: () => { const n = Number(jump.value); if (Number.isInteger(n)) go(n); },
  });
  const failed = h('p', { class: 'notice error small', hidden: true }, t('pdf.pageFailed'));
  const page = h('img', {
    class: 'pdfv-page', alt: '', decoding: 'async',
    onload: () => { page.classList.remove('is-loading'); failed.hidden = true; },
    onerror: () => { page.classList.remove('is-loading'); failed.hidden = false; },
  });
  const stage = h('div', { class: 'pdfv-stage', tabindex: '0', 'aria-label': t('pdf.pageArea') }, page, failed);

  // The strip holds one button per page; each thumbnail has a fixed box and
  // loading="lazy", so the browser fetches only those near the visible part.
  const thumbs = [];
  for (let n = 1; n <= total; n++) {
    thumbs.push(h('button', {
      type: 'button', class: 'pdfv-thumb', dataset: { page: String(n) },
      'aria-label': t('pdf.page', { n, total }), onclick: () => go(n),
    },
    h('img', { src: pageURL(n, true), alt: '', loading: 'lazy', decoding: 'async', width: 64, height: 90 }),
    h('span', { class: 'pdfv-thumb-n' }, String(n))));
  }
  const strip = h('div', { class: 'pdfv-strip', role: 'group', 'aria-label': t('pdf.thumbs') }, thumbs);

  function go(n, focusThumb = false) {
    const target = Math.max(1, Math.min(total, n));
    thumbs[current - 1]?.removeAttribute('aria-current');
    current = target;
    const thumb = thumbs[current - 1];
    thumb.setAttribute('aria-current', 'page');
    // Scroll only the strip (scrollIntoView would also move the page to it).
    strip.scrollLeft = thumb.offsetLeft - (strip.clientWidth - thumb.offsetWidth) / 2;
    if (focusThumb) thumb.focus();
    page.classList.add('is-loading');
    page.src = pageURL(current, false);
    page.alt = t('pdf.page', { n: current, total });
    counter.textContent = t('pdf.page', { n: number(current), total: number(total) });
    jump.value = String(current);
    prev.disabled = current <= 1;
    next.disabled = current >= total;
    // Reading goes forward: fetch the next page while this one is read.
    if (current < total) {
      prefetch = new Image();
      prefetch.src = pageURL(current + 1, false);
    }
    onPage?.(current);
  }

  const onKey = (e) => {
    if (e.target === jump) return;
    if (e.key === 'ArrowLeft' || e.key === 'PageUp') go(current - 1, strip.contains(e.target));
    else if (e.key === 'ArrowRight' || e.key === 'PageDown') go(current + 1, strip.contains(e.target));
    else return;
    e.preventDefault();
  };

  const el = h('div', { class: 'viewer pdfv', onkeydown: onKey },
    h('div', { class: 'pdfv-bar' },
      h('div', { class: 'pdfv-nav' }, prev, counter, next),
      h('label', { class: 'pdfv-goto' }, h('span', {}, t('pdf.goTo')), jump),
      original),
    stage,
    strip);
  go(1);

  function cleanup() {
    if (prefetch) prefetch.src = '';
    page.removeAttribute('src');
  }
  return { el, cleanup, go, current: () => current, page, stage, thumbs };
}
