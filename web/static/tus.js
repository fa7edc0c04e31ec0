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

// Some networks (proxies of government offices) refuse PATCH and DELETE.
// Once one did, this tab sends both as POST with X-HTTP-Method-Override
// (tus core §X-HTTP-Method-Override) for the rest of the session.
const OVERRIDE_KEY = 'siteinspect.tus.override';

/** overriding says whether PATCH and DELETE go as POST with X-HTTP-Method-Override in this tab. */
export function overriding() {
  try { return sessionStorage.getItem(OVERRIDE_KEY) === '1'; } catch { return false; }
}

function startOverriding() {
  try { sessionStorage.setItem(OVERRIDE_KEY, '1'); } catch { /* overrides for this page only */ }
}

/** wire returns the method to send and the extra header for a tus method, overridden or not. */
function wire(method) {
  if ((method === 'PATCH' || method === 'DELETE') && overriding()) return ['POST', { 'X-HTTP-Method-Override': method }];
  return [method, {}];
}

/**
 * refusedInBetween tells a refusal by something between us and the server:
 * 405, or an error page that is not ours (our answers all carry
 * Tus-Resumable or are JSON errors). Only then is switching to POST worth it.
 */
function refusedInBetween(status, header) {
  if (status === 405) return true;
  if (status < 400) return false;
  const json = (header('Content-Type') || '').includes('application/json');
  return !header('Tus-Resumable') && !json;
}

/** terminate DELETEs an upload the user gave up on (tus termination extension). */
export async function terminate(url, headers = {}) {
  if (!url) return;
  for (let tries = 0; tries < 2; tries++) {
    const [method, extra] = wire('DELETE');
    try {
      const res = await window.fetch(url, { method, headers: { 'Tus-Resumable': TUS_VERSION, ...headers, ...extra }, credentials: 'same-origin' });
      if (method === 'DELETE' && refusedInBetween(res.status, (h) => res.headers.get(h))) {
        startOverriding();
        continue;
      }
    } catch { /* the server expires abandoned uploads anyway */ }
    return;
  }
}

/** PARALLEL_MIN_SIZE is the size from which a file goes as several partial uploads at once (tus concatenation). */
export const PARALLEL_MIN_SIZE = 64 * 1024 * 1024;

/** splitRanges cuts size bytes into n nearly equal [start, end) ranges. */
function splitRanges(size, n) {
  const step = Math.ceil(size / n);
  const out = [];
  for (let start = 0; start < size; start += step) out.push({ start, end: Math.min(size, start + step) });
  return out;
}

/** base64 encodes a string's UTF-8 bytes, as Upload-Metadata requires (tus 1.0.0 §Upload-Metadata). */
function base64(text) {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * httpError reads our JSON error body; 5xx, 429 and 423 (another request, perhaps on a
 * replica that died, holds the upload for a few seconds) are worth retrying, other 4xx are not.
 */
async function httpError(status, bodyText) {
  let message = '';
  let code = `http_${status}`;
  try {
    const body = JSON.parse(bodyText);
    message = body?.error?.message || '';
    code = body?.error?.code || code;
  } catch { /* not JSON */ }
  const retryable = status === 0 || status === 408 || status === 423 || status === 429 || status >= 500;
  return new TusError(message, { status, code, retryable });
}

/**
 * TusUpload uploads one File. Options: endpoint (creation URL), fingerprint,
 * chunkSize, headers(method) → extra headers (CSRF), parallel (how many
 * connections a file of parallelMinSize bytes or more uses: partial uploads
 * joined by a final one, tus concatenation), onState(state, info),
 * onProgress(sent, total), onSuccess(evidenceId), onError(err).
 * States: uploading, paused, done, error, cancelled.
 */
export class TusUpload {
  constructor(file, opts) {
    this.file = file;
    this.opts = { chunkSize: DEFAULT_CHUNK_SIZE, headers: () => ({}), parallel: 1, parallelMinSize: PARALLEL_MIN_SIZE, ...opts };
    // legs are the byte ranges sent at once: one for a plain upload, several
    // partial uploads for a parallel one. Each: { start, end, url, offset, sent, xhr }.
    this.legs = null;
    this.state = 'paused';
    this.run = 0; // bumped by pause/cancel so a running loop notices it is stale
    this.wake = null;
    this.attempt = 0;
  }

  /** parallel says whether this file goes as partial uploads. */
  get parallel() {
    return this.opts.parallel > 1 && this.file.size >= this.opts.parallelMinSize;
  }

  /** url is the plain upload's URL (null for a parallel one until its final upload exists). */
  get url() {
    return this.parallel ? this.finalUrl || null : this.legs?.[0]?.url || null;
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
            this.legs = null;
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

  /** cancel stops and terminates the upload, or each partial upload, on the server (tus termination extension). */
  async cancel() {
    this.run++;
    this.stop();
    this.setState('cancelled');
    forgetStored(this.opts.fingerprint);
    const urls = (this.legs || []).map((l) => l.url).filter(Boolean);
    await Promise.all(urls.map((u) => terminate(u, this.opts.headers('DELETE'))));
  }

  stop() {
    for (const leg of this.legs || []) leg.xhr?.abort();
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

  /** planLegs restores the legs remembered for this file, or cuts new ones. */
  planLegs() {
    if (this.legs) return;
    const size = this.file.size;
    const stored = recall(this.opts.fingerprint);
    const ranges = this.parallel ? splitRanges(size, this.opts.parallel) : [{ start: 0, end: size }];
    const urls = this.parallel ? stored?.parts || [] : [stored?.url];
    this.legs = ranges.map((r, i) => ({ ...r, url: urls.length === ranges.length ? urls[i] || null : null, offset: 0, sent: 0, xhr: null }));
  }

  /** save remembers the URLs known so far, so a reload continues. */
  save() {
    const { fingerprint: fp, caseId } = this.opts;
    const entry = { caseId, name: this.file.name, size: this.file.size };
    if (this.parallel) entry.parts = this.legs.map((l) => l.url);
    else entry.url = this.legs[0].url;
    remember(fp, entry);
  }

  progress() {
    const sent = this.legs.reduce((n, l) => n + l.offset + l.sent, 0);
    this.opts.onProgress?.(sent, this.file.size);
  }

  /** transfer sends every leg to its end, all at once, then joins partial uploads with a final one. */
  async transfer(run) {
    this.planLegs();
    let failure = null;
    const alive = () => run === this.run && failure === null;
    await Promise.all(this.legs.map((leg) => this.sendLeg(leg, alive).catch((err) => {
      if (failure === null) {
        failure = err;
        for (const l of this.legs) l.xhr?.abort(); // the others stop too; the retry resumes them all
      }
    })));
    if (failure) throw failure;
    if (run !== this.run) return;
    if (!this.parallel) return this.finish(this.legs[0].evidenceId);
    return this.createFinal();
  }

  /** sendLeg finds or creates the leg's upload, then sends chunks until its end. */
  async sendLeg(leg, alive) {
    if (leg.url && !(await this.locate(leg))) leg.url = null;
    if (!alive()) return;
    if (!leg.url) await this.create(leg);
    let conflicts = 0;
    const size = leg.end - leg.start;
    while (alive() && leg.offset < size) {
      const xhr = await this.patch(leg, Math.min(leg.offset + this.opts.chunkSize, size));
      const header = (h) => xhr.getResponseHeader(h);
      if (refusedInBetween(xhr.status, header) && !xhr.overridden) {
        // Something between us and the server refuses PATCH: send it as POST from now on
        // (the other legs, refused at the same moment, retry the same way).
        startOverriding();
        continue;
      }
      if (xhr.status === 409) {
        // §PATCH: the offsets disagree (a chunk landed after all, or another tab); ask the server.
        // Repeated conflicts fall back to the back-off, whose next attempt asks again.
        if (conflicts++ >= 3) throw new TusError('offset conflict', { status: 409, code: 'conflict', retryable: true });
        if (!(await this.locate(leg))) throw new TusError('upload gone', { code: 'gone', retryable: true });
        continue;
      }
      if (xhr.status === 404 || xhr.status === 410) {
        leg.url = null; // expired: the next attempt creates a new upload
        this.save();
        throw new TusError('upload gone', { status: xhr.status, code: 'gone', retryable: true });
      }
      if (xhr.status < 200 || xhr.status > 299) throw await httpError(xhr.status, xhr.responseText);
      const next = Number.parseInt(header('Upload-Offset') || '', 10);
      if (!Number.isFinite(next)) throw new TusError('missing Upload-Offset', { code: 'protocol', retryable: true });
      leg.offset = next;
      leg.sent = 0;
      if (next >= size) leg.evidenceId = header('Evidence-Id');
      this.attempt = 0;
      conflicts = 0;
      this.progress();
    }
  }

  /** locate HEADs a leg's upload (§HEAD); false means it is gone or belongs to another file. */
  async locate(leg) {
    const res = await this.fetch('HEAD', leg.url);
    if (res.status === 404 || res.status === 410 || res.status === 403) return false;
    if (!res.ok) throw await httpError(res.status, '');
    const offset = Number.parseInt(res.headers.get('Upload-Offset') || '', 10);
    const length = Number.parseInt(res.headers.get('Upload-Length') || '', 10);
    if (!Number.isFinite(offset) || (Number.isFinite(length) && length !== leg.end - leg.start)) return false;
    leg.offset = offset;
    leg.sent = 0;
    if (offset >= length) leg.evidenceId = res.headers.get('Evidence-Id');
    this.progress();
    if (offset > 0) this.opts.onState?.('uploading', { resumedAt: this.legs.reduce((n, l) => n + l.offset, 0) });
    return true;
  }

  /** metadata is the file's Upload-Metadata (§Upload-Metadata). */
  metadata() {
    const meta = [`filename ${base64(this.file.name)}`];
    if (this.file.type) meta.push(`filetype ${base64(this.file.type)}`);
    // Extra keys the caller names (owed_item: the owed material it delivers).
    for (const [k, v] of Object.entries(this.opts.metadata || {})) meta.push(`${k} ${base64(v)}`);
    return meta.join(',');
  }

  /** create POSTs to the creation endpoint (§Creation), a partial upload for a parallel file, and remembers the URL. */
  async create(leg) {
    const headers = { 'Upload-Length': String(leg.end - leg.start) };
    if (this.parallel) headers['Upload-Concat'] = 'partial';
    else headers['Upload-Metadata'] = this.metadata();
    const res = await this.fetch('POST', this.opts.endpoint, headers);
    if (res.status !== 201 && !res.ok) throw await httpError(res.status, await res.text());
    leg.url = this.resolve(res);
    leg.offset = 0;
    if (this.state === 'cancelled') {
      // Cancelled while the POST was in flight: terminate what was just created.
      terminate(leg.url, this.opts.headers('DELETE'));
      return;
    }
    this.save();
  }

  /** resolve reads Location, which may be relative (RFC 9110 §10.2.2). */
  resolve(res) {
    const location = res.headers.get('Location');
    if (!location) throw new TusError('no Location in the creation response', { code: 'protocol' });
    return new URL(location, new URL(this.opts.endpoint, window.location.href)).href;
  }

  /** createFinal joins the partial uploads, in order, into the evidence item (tus concatenation §Upload-Concat). */
  async createFinal() {
    const refs = this.legs.map((l) => new URL(l.url).pathname).join(' ');
    const res = await this.fetch('POST', this.opts.endpoint, {
      'Upload-Concat': `final;${refs}`,
      'Upload-Metadata': this.metadata(),
    });
    if (res.status === 404 || res.status === 409 || res.status === 410) {
      // A partial upload expired or was used: send the file again from the start.
      forgetStored(this.opts.fingerprint);
      this.legs = null;
      throw new TusError('partial upload gone', { status: res.status, code: 'gone', retryable: true });
    }
    if (res.status !== 201 && !res.ok) throw await httpError(res.status, await res.text());
    this.finalUrl = this.resolve(res);
    return this.finish(res.headers.get('Evidence-Id'));
  }

  /** finish reports success; if the Evidence-Id header was missed, the upload resource names it. */
  async finish(evidenceId) {
    let id = evidenceId;
    if (!id && this.url) {
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

  /** patch sends a leg's bytes [offset, end) with XHR, whose upload.onprogress moves the bar within a chunk. */
  patch(leg, end) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const start = leg.offset;
      let last = Date.now();
      let stalled = false;
      const watchdog = setInterval(() => {
        if (Date.now() - last > STALL_MS) { stalled = true; xhr.abort(); }
      }, 5000);
      const settle = () => { clearInterval(watchdog); if (leg.xhr === xhr) leg.xhr = null; };
      const [method, override] = wire('PATCH');
      xhr.overridden = method !== 'PATCH';
      xhr.open(method, leg.url);
      const headers = {
        'Tus-Resumable': TUS_VERSION,
        'Upload-Offset': String(start),
        'Content-Type': 'application/offset+octet-stream',
        ...this.opts.headers('PATCH'),
        ...override,
      };
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => { last = Date.now(); leg.sent = e.loaded; this.progress(); };
      // Once the body is sent the server may still be checking the file: allow it longer.
      xhr.upload.onload = () => { last = Date.now() + STALL_MS; };
      xhr.onload = () => { settle(); leg.sent = 0; resolve(xhr); };
      xhr.onerror = () => { settle(); leg.sent = 0; reject(new TusError('network', { code: 'network', retryable: true })); };
      xhr.onabort = () => {
        settle();
        leg.sent = 0;
        reject(new TusError(stalled ? 'stalled' : 'aborted', { code: stalled ? 'stalled' : 'aborted', retryable: true }));
      };
      leg.xhr = xhr;
      xhr.send(this.file.slice(leg.start + start, leg.start + end));
    });
  }
}
