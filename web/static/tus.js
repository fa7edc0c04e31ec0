/**
 * A small tus 1.0.0 client (https://tus.io/protocols/resumable-upload):
 * core (HEAD, PATCH), creation (POST) and termination (DELETE). Our own rather
 * than tus-js-client because the UI ships without third-party code or a build
 * step, and we need only what our server speaks plus two things phones on bad
 * networks need: resume after a page reload (upload URLs kept in localStorage
 * by uploadstore.js) and patient retries after a dropped connection.
 *
 * This module knows nothing of the DOM or the i18n table; it reports state and
 * progress through callbacks and errors as TusError with a code the UI maps.
 */
import { forgetStored, recall, remember } from './uploadstore.js';

const TUS_VERSION = '1.0.0';

/** DEFAULT_CHUNK_SIZE is 8 MiB: big enough to keep a link busy, small enough to lose little on a drop. */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
/** RETRY_DELAYS_MS is the back-off; the last value repeats for as long as it takes. */
export const RETRY_DELAYS_MS = [1000, 3000, 5000, 10000];
// A request that makes no progress for this long is treated as a dead connection.
const STALL_MS = 60000;

/** TusError is an upload failure. retryable says whether waiting and trying again can help. */
export class TusError extends Error {
  constructor(message, { status = 0, code = 'network', retryable = false } = {}) {
    super(message);
    this.name = 'TusError';
    this.status = status;
    this.code = code;
    this.retryable = retryable;
  }
}

/** terminate DELETEs an upload the user gave up on (tus termination extension). */
export async function terminate(url, headers = {}) {
  try {
    await window.fetch(url, { method: 'DELETE', headers: { 'Tus-Resumable': TUS_VERSION, ...headers }, credentials: 'same-origin' });
  } catch { /* the server expires abandoned uploads anyway */ }
}

/** base64 encodes a string's UTF-8 bytes, as Upload-Metadata requires (tus 1.0.0 §Upload-Metadata). */
function base64(text) {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** httpError reads our JSON error body; 5xx and 429 are worth retrying, other 4xx are not. */
async function httpError(status, bodyText) {
  let message = '';
  let code = `http_${status}`;
  try {
    const body = JSON.parse(bodyText);
    message = body?.error?.message || '';
    code = body?.error?.code || code;
  } catch { /* not JSON */ }
  const retryable = status === 0 || status === 408 || status === 429 || status >= 500;
  return new TusError(message, { status, code, retryable });
}

/**
 * TusUpload uploads one File. Options: endpoint (creation URL), fingerprint,
 * chunkSize, headers(method) → extra headers (CSRF), onState(state, info),
 * onProgress(sent, total), onSuccess(evidenceId), onError(err).
 * States: uploading, paused, done, error, cancelled.
 */
export class TusUpload {
  constructor(file, opts) {
    this.file = file;
    this.opts = { chunkSize: DEFAULT_CHUNK_SIZE, headers: () => ({}), ...opts };
    this.url = null;
    this.offset = 0;
    this.state = 'paused';
    this.run = 0; // bumped by pause/cancel so a running loop notices it is stale
    this.xhr = null;
    this.wake = null;
    this.attempt = 0;
  }

  /** start begins or resumes; it always asks the server where to continue. */
  async start() {
    if (this.state === 'uploading' || this.state === 'done' || this.state === 'cancelled') return;
    const run = ++this.run;
    this.attempt = 0;
    while (run === this.run) {
      this.setState('uploading');
      try {
        await this.transfer(run);
        return;
      } catch (err) {
        if (run !== this.run) return; // paused or cancelled meanwhile
        if (!(err instanceof TusError) || !err.retryable) {
          if (err.status === 413 || err.status === 415) {
            // Refused for size or type: the server keeps nothing, so there is nothing to resume.
            forgetStored(this.opts.fingerprint);
            this.url = null;
          }
          this.setState('error', { error: err });
          this.opts.onError?.(err);
          return;
        }
        const delay = RETRY_DELAYS_MS[Math.min(this.attempt++, RETRY_DELAYS_MS.length - 1)];
        this.setState('uploading', { retryIn: delay, offline: !navigator.onLine, error: err });
        await this.wait(delay);
      }
    }
  }

  /** pause stops at once; bytes the server already took are kept (HEAD finds them). */
  pause() {
    if (this.state !== 'uploading') return;
    this.run++;
    this.stop();
    this.setState('paused');
  }

  /** cancel stops and terminates the upload on the server (tus termination extension). */
  async cancel() {
    this.run++;
    this.stop();
    this.setState('cancelled');
    forgetStored(this.opts.fingerprint);
    if (this.url) await terminate(this.url, this.opts.headers('DELETE'));
  }

  stop() {
    this.xhr?.abort();
    this.wake?.();
  }

  setState(state, info = {}) {
    this.state = state;
    this.opts.onState?.(state, info);
  }

  /** wait sleeps for the back-off, ends early when the network returns, and while offline keeps waiting. */
  wait(ms) {
    return new Promise((resolve) => {
      let timer;
      const done = () => {
        clearTimeout(timer);
        window.removeEventListener('online', done);
        this.wake = null;
        resolve();
      };
      const tick = () => { if (navigator.onLine) done(); else timer = setTimeout(tick, RETRY_DELAYS_MS.at(-1)); };
      timer = setTimeout(tick, ms);
      window.addEventListener('online', done);
      this.wake = done;
    });
  }

  /** transfer finds or creates the upload, then sends chunks until the end. */
  async transfer(run) {
    const { fingerprint: fp, chunkSize } = this.opts;
    const size = this.file.size;
    if (!this.url) this.url = recall(fp)?.url || null;
    if (this.url && !(await this.locate())) this.url = null;
    if (!this.url) await this.create();
    let conflicts = 0;
    while (run === this.run) {
      if (this.offset >= size) return this.finish(null);
      const xhr = await this.patch(Math.min(this.offset + chunkSize, size));
      if (xhr.status === 409) {
        // §PATCH: the offsets disagree (a chunk landed after all, or another tab); ask the server.
        // Repeated conflicts fall back to the back-off, whose next attempt asks again.
        if (conflicts++ >= 3) throw new TusError('offset conflict', { status: 409, code: 'conflict', retryable: true });
        if (!(await this.locate())) throw new TusError('upload gone', { code: 'gone', retryable: true });
        continue;
      }
      if (xhr.status === 404 || xhr.status === 410) {
        forgetStored(fp);
        this.url = null; // expired: the next attempt creates a new upload
        throw new TusError('upload gone', { status: xhr.status, code: 'gone', retryable: true });
      }
      if (xhr.status < 200 || xhr.status > 299) throw await httpError(xhr.status, xhr.responseText);
      const next = Number.parseInt(xhr.getResponseHeader('Upload-Offset') || '', 10);
      if (!Number.isFinite(next)) throw new TusError('missing Upload-Offset', { code: 'protocol', retryable: true });
      this.offset = next;
      this.attempt = 0;
      conflicts = 0;
      this.opts.onProgress?.(this.offset, size);
      if (this.offset >= size) return this.finish(xhr.getResponseHeader('Evidence-Id'));
    }
  }

  /** locate HEADs the upload (§HEAD); false means it is gone or belongs to another file. */
  async locate() {
    const res = await this.fetch('HEAD', this.url);
    if (res.status === 404 || res.status === 410 || res.status === 403) {
      forgetStored(this.opts.fingerprint);
      return false;
    }
    if (!res.ok) throw await httpError(res.status, '');
    const offset = Number.parseInt(res.headers.get('Upload-Offset') || '', 10);
    const length = Number.parseInt(res.headers.get('Upload-Length') || '', 10);
    if (!Number.isFinite(offset) || (Number.isFinite(length) && length !== this.file.size)) return false;
    this.offset = offset;
    this.opts.onProgress?.(offset, this.file.size);
    if (offset > 0) this.opts.onState?.('uploading', { resumedAt: offset });
    return true;
  }

  /** create POSTs to the creation endpoint (§Creation) and remembers the new URL. */
  async create() {
    const meta = [`filename ${base64(this.file.name)}`];
    if (this.file.type) meta.push(`filetype ${base64(this.file.type)}`);
    const res = await this.fetch('POST', this.opts.endpoint, {
      'Upload-Length': String(this.file.size),
      'Upload-Metadata': meta.join(','),
    });
    if (res.status !== 201 && !res.ok) throw await httpError(res.status, await res.text());
    const location = res.headers.get('Location');
    if (!location) throw new TusError('no Location in the creation response', { code: 'protocol' });
    // Location may be relative (RFC 9110 §10.2.2): resolve it against the request URL.
    this.url = new URL(location, new URL(this.opts.endpoint, window.location.href)).href;
    this.offset = 0;
    if (this.state === 'cancelled') {
      // Cancelled while the POST was in flight: terminate what was just created.
      terminate(this.url, this.opts.headers('DELETE'));
      return;
    }
    remember(this.opts.fingerprint, { url: this.url, caseId: this.opts.caseId, name: this.file.name, size: this.file.size });
  }

  /** finish reports success; if the Evidence-Id header was missed, the upload resource names it. */
  async finish(evidenceId) {
    let id = evidenceId;
    if (!id) {
      try {
        const res = await this.fetch('GET', this.url, { Accept: 'application/json' });
        if (res.ok) id = (await res.json())?.evidence_id || null;
      } catch { /* the evidence list will show it anyway */ }
    }
    forgetStored(this.opts.fingerprint);
    this.setState('done', { evidenceId: id });
    this.opts.onSuccess?.(id);
  }

  /** fetch sends a small tus request; a network failure becomes a retryable TusError. */
  async fetch(method, url, extra = {}) {
    const headers = { 'Tus-Resumable': TUS_VERSION, ...this.opts.headers(method), ...extra };
    try {
      return await window.fetch(url, { method, headers, credentials: 'same-origin', cache: 'no-store' });
    } catch {
      throw new TusError('network', { code: 'network', retryable: true });
    }
  }

  /** patch sends bytes [offset, end) with XHR, whose upload.onprogress moves the bar within a chunk. */
  patch(end) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const start = this.offset;
      let last = Date.now();
      let stalled = false;
      const watchdog = setInterval(() => {
        if (Date.now() - last > STALL_MS) { stalled = true; xhr.abort(); }
      }, 5000);
      const settle = () => { clearInterval(watchdog); if (this.xhr === xhr) this.xhr = null; };
      xhr.open('PATCH', this.url);
      const headers = {
        'Tus-Resumable': TUS_VERSION,
        'Upload-Offset': String(start),
        'Content-Type': 'application/offset+octet-stream',
        ...this.opts.headers('PATCH'),
      };
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => { last = Date.now(); this.opts.onProgress?.(start + e.loaded, this.file.size); };
      // Once the body is sent the server may still be checking the file: allow it longer.
      xhr.upload.onload = () => { last = Date.now() + STALL_MS; };
      xhr.onload = () => { settle(); resolve(xhr); };
      xhr.onerror = () => { settle(); reject(new TusError('network', { code: 'network', retryable: true })); };
      xhr.onabort = () => {
        settle();
        reject(new TusError(stalled ? 'stalled' : 'aborted', { code: stalled ? 'stalled' : 'aborted', retryable: true }));
      };
      this.xhr = xhr;
      xhr.send(this.file.slice(start, end));
    });
  }
}
