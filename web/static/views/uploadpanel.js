/**
 * The upload area of a case page: file picker, drop zone, one row per file
 * with progress, speed and Pause/Resume/Cancel, and a reminder of uploads a
 * reload interrupted (the browser cannot reopen a file by itself, so the user
 * has to choose it again; the stored URL then lets it continue).
 */
import { csrfHeaders } from '../api.js';
import { fill, h } from '../dom.js';
import { bytes, duration, speed } from '../format.js';
import { errorText, t } from '../i18n.js';
import { terminate } from '../tus.js';
import { forgetStored, storedUploads } from '../uploadstore.js';
import * as uploads from '../uploads.js';

const ACCEPT = 'video/*,image/*,application/pdf,.mov,.mkv,.heic';

/** uploadPanel builds the panel; onDone runs when one of this case's uploads completes. */
export function uploadPanel(caseId, { onDone }) {
  const rows = new Map(); // entry key → row refs
  const list = h('div', { class: 'upload-list' });
  const pending = h('div', { class: 'upload-pending' });
  const input = h('input', {
    id: 'upload-input', class: 'file-input', type: 'file', multiple: true, accept: ACCEPT,
    onchange: () => {
      uploads.addFiles(caseId, [...input.files]);
      input.value = ''; // so choosing the same file again fires change (that is how resume works)
    },
  });
  const zone = h('label', { class: 'dropzone', for: 'upload-input' },
    input,
    h('span', { class: 'button primary' }, t('upload.choose')),
    h('span', { class: 'dropzone-text' }, t('upload.drop')));

  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  const onDragOver = (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // without this the browser would open the file and leave the page
    zone.classList.toggle('dragging', zone.contains(e.target));
  };
  const onDrop = (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    zone.classList.remove('dragging');
    if (zone.contains(e.target)) uploads.addFiles(caseId, [...e.dataTransfer.files]);
  };
  window.addEventListener('dragover', onDragOver);
  window.addEventListener('drop', onDrop);

  function paintPending() {
    const open = storedUploads(caseId).filter((s) => !uploads.uploadsFor(caseId).some((e) => e.key === s.key));
    fill(pending);
    if (!open.length) return;
    pending.append(
      h('h3', {}, t('upload.pending')),
      h('p', { class: 'muted' }, t('upload.pendingHint')),
      h('ul', {}, open.map((s) => h('li', {},
        h('span', { class: 'name' }, s.name), ' ', h('span', { class: 'muted' }, bytes(s.size)), ' ',
        h('button', {
          type: 'button', class: 'link',
          onclick: async () => { forgetStored(s.key); await terminate(s.url, csrfHeaders('DELETE')); paintPending(); },
        }, t('upload.discard'))))));
  }

  function addRow(entry) {
    const r = {
      bar: h('progress', { max: Math.max(entry.total, 1), value: entry.sent }),
      stateLabel: h('span', { class: 'upload-state' }),
      amount: h('span', { class: 'upload-amount' }),
      rate: h('span', { class: 'upload-speed' }),
      message: h('p', { class: 'upload-msg', role: 'status' }),
      actions: h('div', { class: 'upload-actions' }),
      frame: 0,
    };
    r.el = h('div', { class: 'upload-row', dataset: { key: entry.key } },
      h('div', { class: 'upload-head' }, h('span', { class: 'upload-name', title: entry.file.name }, entry.file.name), r.stateLabel),
      r.bar,
      h('div', { class: 'upload-meta' }, r.amount, r.rate),
      r.message, r.actions);
    rows.set(entry.key, r);
    list.append(r.el);
    paintState(entry, r);
  }

  function paintProgress(entry, r) {
    r.bar.max = Math.max(entry.total, 1);
    r.bar.value = entry.sent;
    const pct = entry.total ? Math.floor((entry.sent / entry.total) * 100) : 100;
    r.amount.textContent = `${pct}% · ${bytes(entry.sent)} / ${bytes(entry.total)}`;
    const bps = uploads.speedOf(entry);
    const eta = bps > 0 ? t('upload.eta', { time: duration((entry.total - entry.sent) / bps) }) : '';
    r.rate.textContent = [speed(bps), eta].filter(Boolean).join(' · ');
  }

  function paintState(entry, r) {
    r.el.dataset.state = entry.state;
    r.stateLabel.textContent = t(`upload.state.${entry.state}`);
    r.message.textContent = messageFor(entry);
    r.message.classList.toggle('error', entry.state === 'error');
    fill(r.actions, buttonsFor(entry));
    paintProgress(entry, r);
  }

  const unsubscribe = uploads.subscribe((entry, kind) => {
    if (entry.caseId !== caseId) return;
    const r = rows.get(entry.key);
    if (kind === 'added') {
      addRow(entry);
      paintPending();
      // On a phone the rows are below the fold: bring the progress into view.
      rows.get(entry.key)?.el.scrollIntoView?.({ block: 'nearest', behavior: 'smooth' });
      return;
    }
    if (!r) return;
    if (kind === 'removed') { r.el.remove(); rows.delete(entry.key); paintPending(); return; }
    if (kind === 'progress') {
      // Progress events come many times a second; draw at most once per frame.
      if (!r.frame) r.frame = requestAnimationFrame(() => { r.frame = 0; paintProgress(entry, r); });
      return;
    }
    paintState(entry, r);
    if (entry.state === 'done') onDone(entry);
  });

  for (const entry of uploads.uploadsFor(caseId)) addRow(entry);
  paintPending();

  const el = h('section', { class: 'panel uploads', 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title' }, t('upload.title')),
    zone,
    h('p', { class: 'muted small' }, t('upload.hint')),
    pending, list);

  function cleanup() {
    unsubscribe();
    window.removeEventListener('dragover', onDragOver);
    window.removeEventListener('drop', onDrop);
    for (const r of rows.values()) if (r.frame) cancelAnimationFrame(r.frame);
  }
  return { el, cleanup };
}

/** messageFor explains the row's situation: retrying, offline, resumed, or the server's error. */
function messageFor(entry) {
  if (entry.state === 'error') {
    const err = entry.error || {};
    if (err.status === 401) return t('upload.unauthorized');
    if (err.status && err.message) return errorText(err);
    return t('upload.failed', { status: err.status || err.code || '?' });
  }
  if (entry.state !== 'uploading') return '';
  const info = entry.info || {};
  // A request that never reached the server (no signal, even where the
  // phone still says it is online) waits for the network like offline.
  if (info.offline || info.error?.code === 'network') return t('upload.offline');
  if (info.retryIn) return t('upload.retrying', { s: Math.round(info.retryIn / 1000) });
  if (info.resumedAt) return t('upload.resumed', { size: bytes(info.resumedAt) });
  return '';
}

/** buttonsFor offers what makes sense in each state; retrying a refused file type would only fail again. */
function buttonsFor(entry) {
  const button = (cls, label, fn, extra = '') => h('button', { type: 'button', class: `small ${extra} ${cls}`, onclick: fn }, t(label));
  const cancel = button('upload-cancel', 'upload.cancel', () => uploads.cancel(entry), 'secondary');
  switch (entry.state) {
    case 'queued':
    case 'uploading':
      return [button('upload-pause', 'upload.pause', () => uploads.pause(entry), 'secondary'), cancel];
    case 'paused':
      return [button('upload-resume', 'upload.resume', () => uploads.resume(entry)), cancel];
    case 'error': {
      const final = [400, 413, 415].includes(entry.error?.status);
      const retry = final ? null : button('upload-retry', 'upload.retry', () => uploads.resume(entry));
      return [retry, button('upload-remove', 'upload.remove', () => uploads.remove(entry), 'secondary')].filter(Boolean);
    }
    default:
      return [];
  }
}
