/**
 * The evidence list of a case. Each row shows a small picture (a video's
 * poster, an image's thumbnail, a PDF's first page) with the length or page
 * count, the facts, and opens a viewer in place. Rows are keyed by evidence
 * id and updated in place, so refreshing (after an upload, or while files are
 * still being processed) never restarts a video someone is watching; an open
 * viewer is redrawn only when its item's status changes.
 */
import { enc, evidencePath, get, listOf } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { bytes, dateTime } from '../format.js';
import { t } from '../i18n.js';
import { capture, lengthLabel, spinner, stateNote, summary, thumbURL, viewState } from './evmeta.js';
import { openViewer } from './viewer.js';

// While the pipeline works on a file the list asks again this often; once
// nothing is processing it stops asking.
const POLL_MS = 2500;

/**
 * evidenceList returns {el, refresh, cleanup, items, markOpen}; refresh
 * reloads from the API. With onOpen (the review workspace), a row opens its
 * item there instead of in place, and onChange hears of items that changed.
 */
export function evidenceList(caseId, { onOpen = null, onChange = () => {} } = {}) {
  const rows = new Map(); // id → row (see makeRow)
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
      if (stopped) return;
      fill(status, errorBox(err));
      // A dropped connection while files are processing should not end the watch.
      if ([...rows.values()].some((r) => r.item.status === 'processing')) timer = setTimeout(refresh, POLL_MS * 2);
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
        row = makeRow(item, onOpen);
        rows.set(item.id, row);
      }
      if (update(row, item)) onChange(item);
      list.append(row.el); // re-append keeps the sorted order without rebuilding rows
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.close(); row.el.remove(); rows.delete(id); }
    }
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
    for (const row of rows.values()) row.close();
  }

  /** markOpen shows which row is on the workspace's stage. */
  function markOpen(id) {
    for (const [rid, row] of rows) row.el.classList.toggle('is-open', rid === id);
  }

  return { el, refresh, cleanup, items: () => [...rows.values()].map((r) => r.item), markOpen };
}

/** makeRow builds the stable parts of a row; update fills them. */
function makeRow(item, onOpen) {
  const viewerId = `ev-viewer-${item.id}`;
  const row = {
    item,
    sig: '',
    viewer: null,
    onOpen,
    thumb: h('button', { type: 'button', class: 'ev-thumb', 'aria-expanded': 'false', 'aria-controls': viewerId }),
    info: h('div', { class: 'ev-info' }),
    slot: h('div', { class: 'ev-viewer', id: viewerId, hidden: true }),
  };
  row.el = h('li', { class: 'evidence-row' },
    h('div', { class: 'ev-summary' }, row.thumb, row.info),
    row.slot);
  row.open = () => {
    row.close();
    row.viewer = openViewer(row.item);
    fill(row.slot, row.viewer.el);
    row.slot.hidden = false;
    row.el.classList.add('is-open');
    paintToggles(row);
  };
  row.close = () => {
    row.viewer?.cleanup();
    row.viewer = null;
    fill(row.slot);
    row.slot.hidden = true;
    row.el.classList.remove('is-open');
    paintToggles(row);
  };
  row.toggle = () => {
    if (onOpen) onOpen(row.item);
    else if (row.viewer) row.close();
    else row.open();
  };
  row.thumb.addEventListener('click', row.toggle);
  return row;
}

/** update redraws a row when anything the user sees about its item changed; true if it did. */
function update(row, item) {
  const before = row.item;
  row.item = item;
  const sig = JSON.stringify([item.status, item.status_reason, item.sha256, item.size, item.filename,
    item.media, item.derived, item.site_distance_m, item.location_warning]);
  if (sig === row.sig) return false;
  row.sig = sig;
  Object.assign(row.el.dataset, {
    evidenceId: item.id, size: String(item.size ?? ''), filename: item.filename || '', status: item.status || '',
  });
  // The button's name is its own text: the hidden "View file" words, then
  // what it shows (the length), so the name contains the visible text and
  // a speech user can say what they see (WCAG 2.5.3 Label in Name).
  fill(row.thumb, h('span', { class: 'visually-hidden' }, t('evidence.open', { name: item.filename || item.id })), thumbContent(item));
  fill(row.info, info(item, row));
  paintToggles(row);
  // A viewer opened while the file was processing shows the finished one now.
  if (row.viewer && viewState(before) !== viewState(item)) row.open();
  return true;
}

function paintToggles(row) {
  if (row.onOpen) {
    const toggle = row.info.querySelector('.ev-toggle');
    if (toggle) toggle.textContent = t('evidence.review');
    row.thumb.removeAttribute('aria-expanded');
    return;
  }
  const open = Boolean(row.viewer);
  row.thumb.setAttribute('aria-expanded', String(open));
  const toggle = row.info.querySelector('.ev-toggle');
  if (toggle) {
    toggle.textContent = t(open ? 'evidence.hide' : 'evidence.view');
    toggle.setAttribute('aria-expanded', String(open));
  }
}

/** thumbContent is the picture (or a placeholder) and the length label over it. */
function thumbContent(item) {
  const src = thumbURL(item);
  const label = lengthLabel(item);
  let picture;
  if (src) {
    picture = h('img', { src, alt: '', loading: 'lazy', decoding: 'async' });
  } else if (item.status === 'processing') {
    picture = h('span', { class: 'ev-thumb-empty' }, spinner());
  } else {
    picture = h('span', { class: 'ev-thumb-empty' }, t(`evidence.kind.${item.kind}`));
  }
  return [
    picture,
    src && item.status === 'processing' && h('span', { class: 'ev-thumb-busy' }, spinner()),
    label && h('span', { class: 'ev-length' }, label),
  ];
}

/** info lists name, kind, size, status, what the pipeline found, hash, time and links. */
function info(item, row) {
  const sha = item.sha256 || '';
  const facts = summary(item);
  return [
    h('div', { class: 'ev-title' },
      h('strong', { class: 'ev-name', title: item.filename || '' }, item.filename || item.id)),
    h('div', { class: 'ev-tags' },
      h('span', { class: 'badge kind' }, t(`evidence.kind.${item.kind}`)),
      h('span', { class: `badge ev-status-${item.status}` }, t(`evidence.status.${item.status}`)),
      facts && h('span', { class: 'ev-facts' }, facts),
      h('span', { class: 'ev-size' }, bytes(item.size)),
      h('time', { datetime: item.created_at || '' }, dateTime(item.created_at))),
    stateNote(item),
    capture(item),
    sha && h('div', { class: 'ev-hash' },
      h('span', { class: 'muted' }, 'SHA-256 '),
      h('code', { title: `${t('evidence.hashTitle')}: ${sha}` }, `${sha.slice(0, 12)}…`)),
    h('div', { class: 'ev-links' },
      h('button', { type: 'button', class: 'link ev-toggle', 'aria-controls': `ev-viewer-${item.id}`, onclick: () => row.toggle() },
        t('evidence.view')),
      h('a', { href: evidencePath(item.id, 'content'), download: item.filename || '', class: 'small' }, t('evidence.download'))),
  ];
}
