/**
 * Opens the right viewer for an evidence item: the video player, the PDF
 * pager, or the picture. Every viewer returns {el, cleanup}; cleanup stops
 * playback and network work when the row closes or the page changes.
 */
import { evidencePath } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { dimensions, isVideo, stateNote } from './evmeta.js';
import { pdfViewer } from './pdfviewer.js';
import { videoPlayer } from './player.js';

/** openViewer returns {el, cleanup} for the item's kind. */
export function openViewer(item) {
  if (isVideo(item)) return videoPlayer(item);
  if (item.kind === 'pdf') return pdfViewer(item);
  return imageViewer(item);
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
