/**
 * Opens the right viewer for an evidence item: the video player, the PDF
 * pager, or the picture. Every viewer returns {el, cleanup}; cleanup stops
 * playback and network work when the row closes or the page changes.
 *
 * The video player and the PDF pager are imported when a person first
 * opens such a file, not with the case page: the case page is part of the
 * service worker's shell, which every first visit downloads (the login
 * page's budget in TestFrontendSlowPhone), and the files they show come
 * from the network anyway.
 */
import { evidencePath } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { dimensions, isVideo, spinner, stateNote } from './evmeta.js';

/** openViewer returns {el, cleanup} for the item's kind. */
export function openViewer(item) {
  if (isVideo(item)) return lazyViewer(import('./player.js').then((m) => m.videoPlayer(item)));
  if (item.kind === 'pdf') return lazyViewer(import('./pdfviewer.js').then((m) => m.pdfViewer(item)));
  return imageViewer(item);
}

/**
 * lazyViewer stands in for a viewer whose module is still loading: a
 * spinner, then the viewer, or the error if the module did not load. A
 * cleanup before the viewer arrives cleans it up as soon as it does.
 */
function lazyViewer(pending) {
  const el = h('div', { class: 'viewer-slot' }, h('p', { class: 'muted small', role: 'status' }, spinner(), t('common.loading')));
  let closed = false;
  let inner = null;
  pending.then((viewer) => {
    if (closed) {
      viewer.cleanup();
      return;
    }
    inner = viewer;
    fill(el, viewer.el);
  }, (err) => {
    if (!closed) fill(el, errorBox(err));
  });
  return {
    el,
    cleanup: () => {
      closed = true;
      inner?.cleanup();
    },
  };
}

/**
 * imageViewer shows the upright preview the pipeline made (phones store many
 * photos sideways with an EXIF rotation some viewers ignore), and links to
 * the untouched original.
 */
function imageViewer(item) {
  const original = evidencePath(item.id, 'content');
  const hasPreview = Boolean(item.derived?.poster);
  const note = h('p', { class: 'muted small', hidden: true }, t('evidence.noPreview'));
  const picture = hasPreview
    ? h('img', {
      class: 'image-view', src: evidencePath(item.id, 'poster'), alt: item.filename || '', decoding: 'async',
      onerror: () => { picture.hidden = true; note.hidden = false; },
    })
    : null;
  const el = h('div', { class: 'viewer image-viewer' },
    stateNote(item),
    picture,
    !hasPreview && item.status === 'ready' && h('p', { class: 'muted small' }, t('evidence.noPreview')),
    note,
    h('p', { class: 'viewer-foot small' },
      dimensions(item) && h('span', { class: 'muted' }, dimensions(item)),
      h('a', { href: original, target: '_blank', rel: 'noopener' }, t('evidence.openOriginal'))));
  return { el, cleanup: () => {} };
}
