/**
 * The phone page's panel for its own recording (recorder.js): that the
 * phone records, what it holds, and the upload to the case over tus with
 * the publish token (POST /api/v1/live/{lid}/uploads, LIVE.md "The phone's
 * own recording"), allowed until 7 days after the session ended. Each part
 * is its own file and becomes its own video evidence item; they go one
 * after another, and an uploaded part is deleted from the phone at once.
 *
 * The page calls offer() when publishing stops or the session ends (with
 * auto when the call broke up: the upload starts after COUNTDOWN_S unless
 * the applicant cancels), offerEarlier() for a recording an earlier visit
 * left behind, and hold() when publishing starts again, which pauses a
 * running upload so it does not take the call's bandwidth. The fingerprint
 * names the session, the part and its size, so after a reload the same
 * part continues where its upload stopped.
 *
 * For tests the page root carries data-local-recording (none, recording,
 * ready, uploading, uploaded, error) and, once parts are uploaded,
 * data-upload-evidence (their evidence ids, comma-separated, oldest first).
 */
import { fill, h } from '../../dom.js';
import { bytes, duration, speed } from '../../format.js';
import { errorText, t } from '../../i18n.js';
import { TusUpload } from '../../tus.js';
import { recall } from '../../uploadstore.js';
import { livePath } from './parts.js';
import { baseType } from './recorder.js';

const COUNTDOWN_S = 5;
const SPEED_WINDOW_MS = 5000;

/** fingerprintOf identifies one part's upload across reloads (uploadstore.js keeps its URL). */
const fingerprintOf = (lid, part, size) => `live/${lid}/${part.id}/${size}`;

/** stamp renders a part's start as local "YYYYMMDD-HHMMSS" for its file name. */
function stamp(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** fileName is what the case's evidence list shows: the session and when the part began. */
function fileName(lid, part) {
  const ext = baseType(part.type) === 'video/mp4' ? 'mp4' : 'webm';
  return `live-${lid}-${stamp(part.startedAt || part.id)}.${ext}`;
}

/**
 * recordingPanel builds the panel. rec is the page's localRecording, root
 * the page element that carries the data attributes; onBusy(true|false)
 * brackets an upload (keep the screen on), onUploaded runs when everything
 * pending has arrived, onPaint(state) after each repaint (the page's end
 * message follows the recording's state). Returns {el, paint, offer, offerEarlier, hold,
 * cleanup}.
 */
export function recordingPanel({ lid, token, rec, root, onBusy = () => {}, onUploaded = () => {}, onPaint = () => {} }) {
  let mode = 'idle'; // idle | countdown | uploading | error | done
  let left = 0; // seconds of the countdown
  let ticker = 0;
  let earlier = false; // what is offered was left by an earlier visit
  let broke = false; // what is offered is sent because the call broke up
  let tus = null;
  let runs = 0; // bumped by hold and cleanup, so a stale upload loop stops
  let upState = 'uploading'; // the row: uploading | paused | done | error
  let info = {};
  let error = null;
  let frame = 0;
  const evidence = [];
  const progress = { base: 0, sent: 0, total: 0, index: 0, count: 0, samples: [] };

  const title = h('h2', { id: 'join-recording-title' });
  const why = h('p', { id: 'join-recording-why', class: 'muted small' });
  const status = h('p', { id: 'join-recording-status', class: 'join-recording-status', role: 'status' });
  const partLabel = h('span', { class: 'upload-name' });
  const stateLabel = h('span', { id: 'join-upload-state', class: 'upload-state' });
  const bar = h('progress', { id: 'join-upload-progress', max: 1, value: 0 });
  const amount = h('span', { id: 'join-upload-amount', class: 'upload-amount' });
  const rate = h('span', { id: 'join-upload-speed', class: 'upload-speed' });
  const note = h('p', { id: 'join-upload-msg', class: 'upload-msg' });
  const row = h('div', { id: 'join-upload', class: 'upload-row', hidden: true },
    h('div', { class: 'upload-head' }, partLabel, stateLabel), bar, h('div', { class: 'upload-meta' }, amount, rate), note);
  const send = h('button', { id: 'join-upload-recording', type: 'button', class: 'primary', hidden: true, onclick: () => upload() });
  const cancel = h('button', { id: 'join-upload-cancel', type: 'button', class: 'secondary', hidden: true, onclick: () => stopCountdown() });
  const el = h('section', { id: 'join-recording', class: 'panel join-recording', 'aria-labelledby': 'join-recording-title', hidden: true },
    title, why, status, row, h('div', { class: 'join-recording-actions' }, send, cancel));

  /** state is what data-local-recording says. */
  function state() {
    if (rec.recording()) return 'recording';
    if (mode === 'uploading') return 'uploading';
    if (mode === 'error') return 'error';
    if (rec.pending().length) return 'ready';
    if (evidence.length || mode === 'done') return 'uploaded';
    return 'none';
  }

  function speedOf() {
    const s = progress.samples;
    if (upState !== 'uploading' || s.length < 2) return 0;
    const [t0, b0] = s[0];
    const [t1, b1] = s[s.length - 1];
    return t1 - t0 > 500 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }

  function paintProgress() {
    const total = Math.max(progress.total, 1);
    bar.max = total;
    bar.value = Math.min(progress.sent, total);
    const pct = progress.total ? Math.floor((progress.sent / progress.total) * 100) : 0;
    amount.textContent = `${pct}% · ${bytes(progress.sent)} / ${bytes(progress.total)}`;
    const bps = speedOf();
    const eta = bps > 0 ? t('upload.eta', { time: duration((progress.total - progress.sent) / bps) }) : '';
    rate.textContent = [speed(bps), eta].filter(Boolean).join(' · ');
  }

  /** noteText explains the row: offline, retrying, resumed, the evidence it became, or why it failed. */
  function noteText() {
    if (upState === 'error') {
      const err = error || {};
      if (err.status === 401 || err.status === 403) return t('join.rec.refused');
      if (err.code === 'unreadable') return t('join.rec.unreadable');
      if (err.status && err.message) return errorText(err);
      return t('upload.failed', { status: err.status || err.code || '?' });
    }
    if (upState === 'done') return evidence.length ? t('join.rec.evidence', { id: evidence.join(', ') }) : '';
    if (info.offline) return t('upload.offline');
    if (info.retryIn) return t('upload.retrying', { s: Math.round(info.retryIn / 1000) });
    if (info.resumedAt) return t('upload.resumed', { size: bytes(info.resumedAt) });
    return '';
  }

  function statusText(s, pending) {
    const size = bytes(pending.reduce((n, p) => n + p.size, 0));
    switch (s) {
      case 'recording':
        return t('join.rec.recording', { size: bytes(rec.recordingSize()) });
      case 'ready': {
        if (mode === 'countdown') return [broke && t('join.rec.broke'), t('join.rec.countdown', { s: left })].filter(Boolean).join(' ');
        if (earlier) return t('join.rec.earlier', { size });
        return pending.length > 1 ? t('join.rec.readyParts', { n: pending.length, size }) : t('join.rec.ready', { size });
      }
      case 'uploading':
        return t('join.rec.uploading');
      case 'uploaded':
        return t('join.rec.uploaded');
      case 'error':
        return t('join.rec.notSent');
      default:
        return '';
    }
  }

  function paint() {
    const s = state();
    const pending = rec.pending();
    root.dataset.localRecording = s;
    if (evidence.length) root.dataset.uploadEvidence = evidence.join(',');
    el.hidden = s === 'none';
    el.dataset.state = s;
    title.textContent = t('join.rec.title');
    why.textContent = t('join.rec.why');
    fill(status, statusText(s, pending),
      !rec.persisting() && s !== 'uploaded' && h('span', { class: 'join-recording-warn' }, ` ${t('join.rec.memoryOnly')}`));
    row.hidden = mode !== 'uploading' && mode !== 'error' && mode !== 'done';
    row.dataset.state = upState;
    partLabel.textContent = progress.count > 1 ? t('join.rec.part', { i: progress.index + 1, n: progress.count }) : '';
    stateLabel.textContent = t(`upload.state.${upState}`);
    note.textContent = noteText();
    note.classList.toggle('error', upState === 'error');
    paintProgress();
    send.hidden = !(s === 'ready' || s === 'error') || !pending.length;
    send.textContent = t('join.rec.upload');
    cancel.hidden = mode !== 'countdown';
    cancel.textContent = t('join.rec.cancel');
    onPaint(s);
  }

  function track(sent) {
    const now = Date.now();
    const total = progress.base + sent;
    if (total < progress.sent) progress.samples = []; // started the part again: old samples would give a negative speed
    progress.sent = total;
    progress.samples.push([now, total]);
    while (progress.samples.length > 2 && now - progress.samples[0][0] > SPEED_WINDOW_MS) progress.samples.shift();
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; paintProgress(); });
  }

  /** sendPart uploads one file and resolves its evidence id; a refusal rejects. */
  function sendPart(file, part, run) {
    return new Promise((resolve, reject) => {
      tus = new TusUpload(file, {
        endpoint: livePath(lid, 'uploads'),
        fingerprint: fingerprintOf(lid, part, file.size),
        headers: () => ({ Authorization: `Bearer ${token}` }),
        // Guided filming's marks made while this part recorded (docs/LIVE.md).
        metadata: part.shots?.length ? { shots: JSON.stringify(part.shots) } : {},
        onState: (next, i) => {
          if (run !== runs || next !== 'uploading') return;
          info = i || {};
          const paused = Boolean(info.retryIn || info.offline);
          if (paused !== (upState === 'paused')) progress.samples = [];
          upState = paused ? 'paused' : 'uploading';
          paint();
        },
        onProgress: (sent) => { if (run === runs) track(sent); },
        onSuccess: resolve,
        onError: reject,
      });
      tus.start();
    });
  }

  /** upload sends every pending part, oldest first. */
  async function upload() {
    stopTicker();
    if (mode === 'uploading' || rec.recording()) return;
    const list = rec.pending();
    if (!list.length) {
      paint();
      return;
    }
    const run = ++runs;
    mode = 'uploading';
    upState = 'uploading';
    info = {};
    error = null;
    Object.assign(progress, { base: 0, sent: 0, total: list.reduce((n, p) => n + p.size, 0), index: 0, count: list.length, samples: [] });
    onBusy(true);
    window.addEventListener('beforeunload', warn);
    paint();
    try {
      for (const [i, part] of list.entries()) {
        const blob = await rec.blob(part);
        if (run !== runs) return;
        if (!blob || !blob.size) throw Object.assign(new Error('unreadable'), { code: 'unreadable' });
        progress.index = i;
        progress.total += blob.size - part.size;
        const file = new File([blob], fileName(lid, part), { type: baseType(part.type) });
        const id = await sendPart(file, part, run);
        if (run !== runs) return;
        if (id) evidence.push(id);
        progress.base += file.size;
        track(0);
        await rec.forget(part);
      }
      mode = 'done';
      upState = 'done';
      earlier = false;
      onUploaded();
    } catch (err) {
      if (run !== runs) return;
      mode = 'error';
      upState = 'error';
      error = err;
    } finally {
      if (run === runs) {
        tus = null;
        window.removeEventListener('beforeunload', warn);
        onBusy(false);
        paint();
      }
    }
  }

  // Leaving mid-upload loses nothing (a later visit continues it), but it stops it: ask first.
  function warn(e) {
    e.preventDefault();
    e.returnValue = '';
  }

  function stopTicker() {
    clearInterval(ticker);
    ticker = 0;
  }

  function stopCountdown() {
    stopTicker();
    if (mode === 'countdown') mode = 'idle';
    paint();
  }

  /** halt stops a running upload where it is; its part stays pending and resumes later. */
  function halt() {
    stopTicker();
    if (mode !== 'uploading') return;
    runs++;
    tus?.pause();
    tus = null;
    window.removeEventListener('beforeunload', warn);
    onBusy(false);
  }

  /**
   * offer shows what the phone holds after publishing stopped or the
   * session ended; auto starts the upload after the countdown, now at
   * once (a take recorded without streaming), broke says why (the call
   * broke up).
   */
  function offer({ auto = false, now = false, broke: why = false } = {}) {
    if (mode === 'uploading' || rec.recording()) {
      paint();
      return;
    }
    stopTicker();
    broke = why;
    earlier = false;
    if (rec.pending().length) mode = 'idle';
    if (now && rec.pending().length) {
      upload();
      return;
    }
    if (auto && rec.pending().length) {
      mode = 'countdown';
      left = COUNTDOWN_S;
      ticker = setInterval(() => {
        left--;
        if (left <= 0) upload();
        else paint();
      }, 1000);
    }
    paint();
  }

  /**
   * offerEarlier offers a recording an earlier visit left behind. If its
   * upload had already begun (a reload mid-upload) it goes on by itself,
   * after the countdown.
   */
  function offerEarlier() {
    const pending = rec.pending();
    if (!pending.length || mode !== 'idle') {
      paint();
      return;
    }
    const begun = pending.some((p) => recall(fingerprintOf(lid, p, p.size)));
    offer({ auto: begun });
    earlier = pending.every((p) => p.earlier);
    paint();
  }

  /** hold makes way for publishing again: no countdown, a running upload paused. */
  function hold() {
    halt();
    if (mode !== 'done') mode = 'idle';
    earlier = false;
    paint();
  }

  function cleanup() {
    halt();
    if (frame) cancelAnimationFrame(frame);
  }

  return { el, paint, offer, offerEarlier, hold, cleanup };
}
