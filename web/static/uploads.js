/**
 * The page's upload manager. Uploads live here, not in a view, so they keep
 * running while the user opens another case, goes back to the list or
 * switches language; the case view only subscribes and draws rows.
 * At most MAX_ACTIVE files move at once: on a weak mobile link several
 * files at a time only split the bandwidth and make every file slower.
 * One large file is another matter: over a link with latency and a
 * per-connection cap (4G, a proxy) PARALLEL_PARTS connections carry it
 * faster than one (tus concatenation; docs/BENCHMARKS.md measures it).
 */
import { csrfHeaders, enc, sessionLost } from './api.js';
import { TusUpload } from './tus.js';
import { fingerprint } from './uploadstore.js';

const MAX_ACTIVE = 2;
// Files of PARALLEL_MIN_SIZE (64 MiB) or more go as this many partial uploads at once.
const PARALLEL_PARTS = 4;
const SPEED_WINDOW_MS = 5000;

/** @type {Map<string, object>} fingerprint → entry */
const entries = new Map();
const listeners = new Set();

/** subscribe calls fn(entry, kind) with kind added|state|progress|removed; returns an unsubscribe. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(entry, kind) {
  for (const fn of listeners) fn(entry, kind);
}

/** uploadsFor lists a case's uploads in the order they were added. */
export function uploadsFor(caseId) {
  return [...entries.values()].filter((e) => e.caseId === caseId);
}

/**
 * addFiles queues files for a case; choosing a file again resumes its
 * earlier upload. opts.owedItem delivers the files as that owed material
 * of an approved case (承诺办: Upload-Metadata owed_item); opts.slot
 * files them under that document slot of a draft (Upload-Metadata slot).
 */
export function addFiles(caseId, files, opts = {}) {
  for (const file of files) {
    const scope = opts.owedItem ? `${caseId}/owed/${opts.owedItem}` : opts.slot ? `${caseId}/slot/${opts.slot}` : caseId;
    const key = fingerprint(scope, file);
    const old = entries.get(key);
    if (old && old.state !== 'done') {
      if (old.state === 'paused' || (old.state === 'error' && !old.error?.local)) resume(old);
      continue;
    }
    if (old) remove(old);
    const entry = {
      key, caseId, file, state: 'queued', sent: 0, total: file.size,
      samples: [], info: {}, error: null, evidenceId: null, owedItem: opts.owedItem || null, slot: opts.slot || null,
    };
    entry.checking = true;
    entry.tus = new TusUpload(file, {
      endpoint: `/api/v1/cases/${enc(caseId)}/uploads`,
      fingerprint: key,
      caseId,
      metadata: opts.owedItem ? { owed_item: opts.owedItem } : opts.slot ? { slot: opts.slot } : undefined,
      parallel: PARALLEL_PARTS,
      headers: csrfHeaders,
      onState: (state, info) => onState(entry, state, info),
      onProgress: (sent) => onProgress(entry, sent),
    });
    entries.set(key, entry);
    emit(entry, 'added');
    // The server refuses a file whose first bytes are not a video, photo
    // or PDF; say so now rather than after sending it.
    sniffFile(file).then((ok) => {
      entry.checking = false;
      if (entries.get(key) !== entry) return;
      if (!ok && entry.state === 'queued') {
        entry.error = { status: 415, code: 'file_type_refused', message: 'file_type_refused', local: true };
        setState(entry, 'error');
        return;
      }
      pump();
    });
  }
}

// SNIFF_LEN is how much of a file sniffFile reads; the server's sniff
// (storage/sniff.go) reads the same 4 KiB.
const SNIFF_LEN = 4096;

const ascii = (b, from, to) => String.fromCharCode(...b.subarray(from, to));
const printable = (b, from, to) => b.subarray(from, to).every((c) => c >= 0x20 && c <= 0x7e);

/**
 * sniffBytes tells whether the first bytes of a file look like a kind the
 * server accepts: JPEG, PNG, WebM/Matroska (EBML), PDF, or an ISO-BMFF
 * file (MP4, MOV, HEIC) whose ftyp brand is printable. It is looser than
 * the server's sniff, so it never refuses a file the server would take;
 * what it refuses, the server refuses too.
 */
export function sniffBytes(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return true;
  if (b.length >= 8 && ascii(b, 0, 8) === '\x89PNG\r\n\x1a\n') return true;
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return true;
  if (ascii(b, 0, Math.min(b.length, 1024)).includes('%PDF-')) return true;
  return b.length >= 16 && ascii(b, 4, 8) === 'ftyp' && printable(b, 8, 12);
}

/** sniffFile reads a file's first bytes and applies sniffBytes; an unreadable file is left to the server. */
export async function sniffFile(file) {
  try {
    return sniffBytes(new Uint8Array(await file.slice(0, SNIFF_LEN).arrayBuffer()));
  } catch {
    return true;
  }
}

/** pause stops an upload (or keeps a queued one from starting). */
export function pause(entry) {
  if (entry.state === 'queued') setState(entry, 'paused');
  else entry.tus.pause();
}

/** resume puts a paused or failed upload back in the queue. */
export function resume(entry) {
  entry.error = null;
  setState(entry, 'queued');
  pump();
}

/** cancel stops and deletes the upload on the server. */
export function cancel(entry) {
  entry.tus.cancel();
}

/** remove forgets a finished or failed row; a failed upload is also deleted on the server. */
export function remove(entry) {
  if (entry.state !== 'done') {
    entry.tus.cancel(); // its 'cancelled' callback drops the row
    return;
  }
  entries.delete(entry.key);
  emit(entry, 'removed');
}

/** speedOf returns bytes per second over the last few seconds, 0 when unknown. */
export function speedOf(entry) {
  const s = entry.samples;
  if (entry.state !== 'uploading' || s.length < 2) return 0;
  const [t0, b0] = s[0];
  const [t1, b1] = s[s.length - 1];
  return t1 - t0 > 500 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
}

function setState(entry, state) {
  entry.state = state;
  emit(entry, 'state');
}

function pump() {
  let active = [...entries.values()].filter((e) => e.state === 'uploading').length;
  for (const entry of entries.values()) {
    if (active >= MAX_ACTIVE) break;
    if (entry.state !== 'queued' || entry.checking) continue;
    active++;
    entry.tus.start();
  }
}

function onState(entry, state, info) {
  if (state === 'cancelled') {
    if (entries.get(entry.key) === entry) {
      entries.delete(entry.key);
      emit(entry, 'removed');
    }
    pump();
    return;
  }
  entry.info = info;
  entry.samples = [];
  if (state === 'error') entry.error = info.error;
  // The session ended under the upload: the page shows itself signed out.
  // The entry stays here, in error, so after signing in again the case's
  // page shows it with 重试 and it resumes where it stopped.
  if (state === 'error' && info.error?.status === 401) sessionLost(info.error);
  if (state === 'done') {
    entry.evidenceId = info.evidenceId;
    entry.sent = entry.total;
  }
  setState(entry, state);
  if (state !== 'uploading') pump();
}

function onProgress(entry, sent) {
  const now = Date.now();
  if (sent < entry.sent) entry.samples = []; // restarted: old samples would give a negative speed
  entry.sent = sent;
  entry.samples.push([now, sent]);
  while (entry.samples.length > 2 && now - entry.samples[0][0] > SPEED_WINDOW_MS) entry.samples.shift();
  emit(entry, 'progress');
}

// Leaving the page stops uploads; warn, since the files must be chosen again to resume.
window.addEventListener('beforeunload', (event) => {
  const moving = [...entries.values()].some((e) => e.state === 'uploading' || e.state === 'queued');
  if (moving) {
    event.preventDefault();
    event.returnValue = '';
  }
});
