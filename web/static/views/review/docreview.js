/**
 * Review stages for PDFs and photos: the page image (or the upright photo
 * preview) with the drawing layer over it. A PDF note belongs to the page on
 * screen; the notes of that page are listed under it, and thumbnails of
 * pages with notes are marked. Same stage API as the video player.
 */
import { evidencePath } from '../../api.js';
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import { pdfViewer } from '../pdfviewer.js';
import { stateNote } from '../evmeta.js';
import { severityBadge } from './common.js';
import { drawOverlay } from './overlay.js';

/** pdfReview is the PDF pager with region drawing and the notes of the page. */
export function pdfReview(item, { onDraft, onAnchor, onSelect }) {
  let annotations = [];
  let selected = '';
  let overlay = null;
  const pageNotes = h('ul', { class: 'page-notes' });
  const pv = pdfViewer(item, {
    onPage: () => {
      overlay?.clearDraft();
      paint();
      onAnchor();
    },
  });
  if (!pv.page) return notReady(pv);
  overlay = drawOverlay(pv.page, pv.stage, { onDraft });
  const el = h('div', { class: 'review-doc' }, pv.el,
    h('section', { class: 'page-notes-wrap', 'aria-label': t('review.pageNotes') },
      h('h3', {}, t('review.pageNotes')), pageNotes));

  function paint() {
    if (!overlay) return;
    const page = pv.current();
    const here = annotations.filter((a) => a.page === page);
    overlay.show(here.filter((a) => a.shape).map((a) => ({ id: a.id, shape: a.shape, selected: a.id === selected })));
    pageNotes.replaceChildren(...(here.length ? here.map((a) => h('li', {},
      h('button', { type: 'button', class: `link page-note${a.id === selected ? ' is-selected' : ''}`, dataset: { annotationId: a.id }, onclick: () => onSelect(a) },
        severityBadge(a.severity), ' ', a.body))) : [h('li', { class: 'muted small' }, t('review.noPageNotes'))]));
    const withNotes = new Set(annotations.map((a) => a.page));
    for (const th of pv.thumbs) th.classList.toggle('has-notes', withNotes.has(Number(th.dataset.page)));
  }
  paint();

  return {
    el,
    kind: 'pdf',
    overlay,
    anchor: () => ({ page: pv.current() }),
    anchorText: () => t('review.atPage', { n: pv.current() }),
    afterSave() {},
    setAnnotations(list, sel) {
      annotations = list;
      selected = sel || '';
      paint();
    },
    show(a) {
      selected = a.id;
      if (a.page && a.page !== pv.current()) pv.go(a.page);
      paint();
    },
    cleanup() {
      overlay.cleanup();
      pv.cleanup();
    },
  };
}

/** imageReview is the upright photo preview with region drawing. */
export function imageReview(item, { onDraft, onSelect }) {
  if (item.status !== 'ready' || !item.derived?.poster) return notReady({ el: h('div', { class: 'viewer' }, stateNote(item), h('p', { class: 'muted small' }, t('evidence.noPreview'))), cleanup() {} });
  let annotations = [];
  let selected = '';
  const img = h('img', { class: 'image-view review-image', src: evidencePath(item.id, 'poster'), alt: item.filename || '', decoding: 'async' });
  const stage = h('div', { class: 'review-image-stage' }, img);
  const overlay = drawOverlay(img, stage, { onDraft });
  const list = h('ul', { class: 'page-notes' });
  const el = h('div', { class: 'viewer review-photo' }, stage, list);

  function paint() {
    overlay.show(annotations.filter((a) => a.shape).map((a) => ({ id: a.id, shape: a.shape, selected: a.id === selected })));
    list.replaceChildren(...annotations.map((a) => h('li', {},
      h('button', { type: 'button', class: `link page-note${a.id === selected ? ' is-selected' : ''}`, dataset: { annotationId: a.id }, onclick: () => onSelect(a) },
        severityBadge(a.severity), ' ', a.body))));
  }

  return {
    el,
    kind: 'image',
    overlay,
    anchor: () => ({}),
    anchorText: () => t('review.onPhoto'),
    afterSave() {},
    setAnnotations(next, sel) {
      annotations = next;
      selected = sel || '';
      paint();
    },
    show(a) {
      selected = a.id;
      paint();
    },
    cleanup() { overlay.cleanup(); },
  };
}

/** notReady is a stage for an item that cannot be annotated yet. */
function notReady(viewer) {
  return {
    el: viewer.el,
    kind: 'none',
    overlay: null,
    anchor: () => null,
    anchorText: () => t('review.notReady'),
    afterSave() {},
    setAnnotations() {},
    show() {},
    cleanup: () => viewer.cleanup(),
  };
}
