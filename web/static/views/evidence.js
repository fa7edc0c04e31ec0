/**
 * The evidence list of a case. Rows are keyed by evidence id and updated in
 * place, so refreshing (after an upload, or while files are still being
 * processed) never restarts a video someone is watching.
 */
import { enc, get, listOf } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { bytes, dateTime } from '../format.js';
import { t } from '../i18n.js';

const POLL_MS = 5000;

/** evidenceList returns {el, refresh, cleanup}; refresh reloads from the API. */
export function evidenceList(caseId) {
  const rows = new Map(); // id → {el, info, sig}
  const list = h('ul', { class: 'evidence-list' });
  const status = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('common.loading')));
  const el = h('section', { class: 'panel evidence', 'aria-labelledby': 'evidence-title' },
    h('h2', { id: 'evidence-title' }, t('evidence.title')), status, list);
  let timer = 0;
  let stopped = false;
  let loading = null;

  async function load() {
    clearTimeout(timer);
    let items;
    try {
      items = listOf(await get(`/api/v1/cases/${enc(caseId)}/evidence`));
    } catch (err) {
      fill(status, errorBox(err));
      return;
    }
    if (stopped) return;
    items.sort((a, b) => (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0));
    fill(status, items.length ? '' : h('p', { class: 'muted' }, t('evidence.empty')));
    const seen = new Set();
    for (const item of items) {
      seen.add(item.id);
      let row = rows.get(item.id);
      if (!row) {
        row = { el: h('li', { class: 'evidence-row' }), info: h('div', { class: 'ev-info' }), sig: '' };
        row.el.append(media(item), row.info);
        rows.set(item.id, row);
      }
      const sig = JSON.stringify([item.status, item.sha256, item.size, item.filename]);
      if (sig !== row.sig) {
        row.sig = sig;
        Object.assign(row.el.dataset, { evidenceId: item.id, size: String(item.size ?? ''), filename: item.filename || '' });
        fill(row.info, info(item));
      }
      list.append(row.el); // re-append keeps the sorted order without rebuilding rows
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.el.remove(); rows.delete(id); }
    }
    // Files are probed and hashed after upload; watch until they settle.
    if (!stopped && items.some((i) => i.status === 'processing')) timer = setTimeout(refresh, POLL_MS);
  }

  /** refresh reloads once; calls during a load share it. */
  function refresh() {
    if (!loading) loading = load().finally(() => { loading = null; });
    return loading;
  }

  function cleanup() {
    stopped = true;
    clearTimeout(timer);
  }

  return { el, refresh, cleanup };
}

function contentURL(item) {
  return `/api/v1/evidence/${enc(item.id)}/content`;
}

/** media shows the file the way a browser can: a player, a picture or a link to the PDF. */
function media(item) {
  const src = contentURL(item);
  if (item.kind === 'video' || item.kind === 'recording') {
    const note = h('p', { class: 'muted small', hidden: true }, t('evidence.unplayable'));
    let fellBack = false;
    const video = h('video', {
      controls: true, preload: 'metadata', playsinline: true, src,
      onerror: () => {
        // Some originals (HEVC, MKV) do not play in every browser; the server's playback
        // rendition does. If that fails too, say so instead of a silent black box.
        if (!fellBack) {
          fellBack = true;
          video.src = `/api/v1/evidence/${enc(item.id)}/playback`;
        } else {
          note.hidden = false;
        }
      },
    });
    return h('div', { class: 'ev-media' }, video, note);
  }
  if (item.kind === 'image') {
    return h('div', { class: 'ev-media' }, h('img', { src, alt: item.filename || '', loading: 'lazy' }));
  }
  return h('div', { class: 'ev-media ev-doc' },
    h('a', { href: src, target: '_blank', rel: 'noopener', class: 'button secondary' }, t('evidence.openPdf')));
}

/** info lists name, kind, size, status, hash and time. */
function info(item) {
  const sha = item.sha256 || '';
  return [
    h('div', { class: 'ev-title' },
      h('strong', { class: 'ev-name', title: item.filename || '' }, item.filename || item.id)),
    h('div', { class: 'ev-tags' },
      h('span', { class: 'badge kind' }, t(`evidence.kind.${item.kind}`)),
      h('span', { class: `badge ev-status-${item.status}` }, t(`evidence.status.${item.status}`)),
      h('span', { class: 'ev-size' }, bytes(item.size)),
      h('time', { datetime: item.created_at || '' }, dateTime(item.created_at))),
    sha && h('div', { class: 'ev-hash' },
      h('span', { class: 'muted' }, 'SHA-256 '),
      h('code', { title: `${t('evidence.hashTitle')}: ${sha}` }, `${sha.slice(0, 12)}…`)),
    h('a', { href: contentURL(item), download: item.filename || '', class: 'small' }, t('evidence.download')),
  ];
}
