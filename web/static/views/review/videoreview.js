/**
 * The review player: the playback rendition with the drawing overlay on the
 * frame, an annotation bar under it (a tick per note, a span per range, the
 * I/O range being set), the filmstrip, and NLE keys: J/K/L (back, pause,
 * forward; L again speeds up), "," and "." one frame back and forward, I and
 * O set a range. Times go to the API as whole milliseconds of the frame on
 * screen; jumping to a note lands in the middle of its frame, so rounding in
 * the browser can never show the neighbour.
 */
import { evidencePath } from '../../api.js';
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import { durationMs, techLine } from '../evmeta.js';
import { filmstrip } from '../player.js';
import { watermark } from '../watermark.js';
import { clockMs } from './common.js';
import { drawOverlay } from './overlay.js';

export const SPEEDS = [0.25, 0.5, 1, 2, 4];
const REVERSE_TICK_MS = 100;

/** videoReview returns the stage API the workspace drives (see workspace.js). */
export function videoReview(item, { onDraft, onAnchor, onSelect }) {
  const fps = item.media?.fps > 0 ? item.media.fps : 0;
  const step = fps ? 1 / fps : 1 / 30;
  const note = h('p', { class: 'notice error small', hidden: true }, t('evidence.unplayable'));
  const video = h('video', {
    id: 'review-player', preload: 'auto', playsinline: true, dataset: { evidenceId: item.id, fps: String(fps) },
    poster: item.derived?.poster ? evidencePath(item.id, 'poster') : null,
    src: evidencePath(item.id, 'playback'), onerror: () => { note.hidden = false; },
  });
  const stage = h('div', { class: 'player-stage review-stage' }, video);
  const overlay = drawOverlay(video, stage, { onStart: () => pause(), onDraft });
  const stopWatermark = watermark(stage, video);
  let annotations = [];
  let selected = '';
  let rangeIn = null;
  let rangeOut = null;
  let revSpeed = 0;
  let revTimer = 0;

  const total = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration * 1000 : durationMs(item));
  const nowMs = () => Math.round((video.currentTime || 0) * 1000);
  const frameAt = (sec) => (fps ? Math.floor(sec * fps + 1e-4) : null);

  // Controls.
  const play = h('button', { type: 'button', id: 'review-play', class: 'secondary small', onclick: () => (video.paused ? startPlay() : pause()) });
  const prev = h('button', { type: 'button', id: 'frame-prev', class: 'secondary small', title: t('review.framePrev'), 'aria-label': t('review.framePrev'), onclick: () => frameStep(-1) }, '‹|');
  const next = h('button', { type: 'button', id: 'frame-next', class: 'secondary small', title: t('review.frameNext'), 'aria-label': t('review.frameNext'), onclick: () => frameStep(1) }, '|›');
  const time = h('span', { id: 'review-time', class: 'review-time', 'aria-live': 'off' });
  const speed = h('select', { id: 'review-speed', class: 'review-speed', 'aria-label': t('review.speed'), onchange: () => { video.playbackRate = Number(speed.value); } },
    SPEEDS.map((s) => h('option', { value: String(s) }, `${s}×`)));
  speed.value = '1';
  const setIn = h('button', { type: 'button', id: 'range-in', class: 'secondary small', title: t('review.rangeInHint'), onclick: () => mark('in') }, t('review.rangeIn'));
  const setOut = h('button', { type: 'button', id: 'range-out', class: 'secondary small', title: t('review.rangeOutHint'), onclick: () => mark('out') }, t('review.rangeOut'));
  const clearRange = h('button', { type: 'button', id: 'range-clear', class: 'link small', hidden: true, onclick: () => { rangeIn = null; rangeOut = null; paintRange(); } }, t('review.rangeClear'));
  const controls = h('div', { class: 'review-controls' }, play, prev, next, time, speed, setIn, setOut, clearRange);

  // The annotation bar: ticks, range spans, the I/O range and the playhead.
  const ticks = h('div', { class: 'ann-ticks' });
  const io = h('div', { class: 'io-range', hidden: true });
  const head = h('div', { class: 'ann-playhead', 'aria-hidden': 'true' });
  const bar = h('div', { class: 'ann-markers', title: t('review.markers') }, io, ticks, head);
  bar.addEventListener('click', (e) => {
    if (e.target.closest('.ann-marker')) return;
    const r = bar.getBoundingClientRect();
    if (r.width) seek(((e.clientX - r.left) / r.width) * total() / 1000);
  });
  const strip = filmstrip(item, video);
  const tech = techLine(item);
  const keysHelp = h('p', { class: 'muted small review-keys' }, t('review.keys'));
  const el = h('div', { class: 'viewer player review-player' }, stage, note, controls, bar, strip?.el, keysHelp,
    tech && h('p', { class: 'player-tech' }, tech));

  function pct(ms) {
    const tot = total();
    return tot > 0 ? `${Math.max(0, Math.min(100, (ms / tot) * 100))}%` : '0%';
  }

  function paintTicks() {
    ticks.replaceChildren(...annotations.filter((a) => a.start_ms != null).map((a) => {
      const isRange = a.end_ms != null;
      const m = h('button', {
        type: 'button', class: `ann-marker${isRange ? ' is-range' : ''} severity-${a.severity || 'info'}${a.id === selected ? ' is-selected' : ''}${a.resolved ? ' is-resolved' : ''}`,
        dataset: { annotationId: a.id }, title: `${clockMs(a.start_ms)} ${a.body}`, 'aria-label': `${clockMs(a.start_ms)} ${a.body}`,
        onclick: () => onSelect(a),
      });
      m.style.left = pct(a.start_ms);
      if (isRange) m.style.width = `calc(${pct(a.end_ms)} - ${pct(a.start_ms)})`;
      return m;
    }));
  }

  function paintRange() {
    const has = rangeIn != null || rangeOut != null;
    io.hidden = !has;
    clearRange.hidden = !has;
    if (has) {
      const a = rangeIn ?? 0;
      const b = rangeOut ?? a;
      io.style.left = pct(Math.min(a, b));
      io.style.width = `calc(${pct(Math.max(a, b))} - ${pct(Math.min(a, b))})`;
    }
    onAnchor();
  }

  /** paintShapes shows the shapes of the notes on the frame on screen. */
  function paintShapes() {
    const f = frameAt(video.currentTime || 0);
    const ms = nowMs();
    const here = (a) => {
      if (!a.shape || a.start_ms == null) return false;
      if (fps && a.start_frame != null) return f >= a.start_frame && f <= (a.end_frame ?? a.start_frame);
      return ms >= a.start_ms - 17 && ms <= (a.end_ms ?? a.start_ms) + 17;
    };
    overlay.show(annotations.filter(here).map((a) => ({ id: a.id, shape: a.shape, selected: a.id === selected })));
  }

  function tick() {
    const ms = nowMs();
    const f = frameAt(video.currentTime || 0);
    time.textContent = `${clockMs(ms)} / ${clockMs(total())}${f != null ? ` · ${t('review.frame', { n: f })}` : ''}`;
    head.style.left = pct(ms);
    play.textContent = video.paused ? `▶ ${t('review.play')}` : `❚❚ ${t('review.pause')}`;
    paintShapes();
    onAnchor();
  }

  function stopReverse() {
    clearInterval(revTimer);
    revTimer = 0;
    revSpeed = 0;
  }
  function pause() {
    stopReverse();
    video.pause();
  }
  function startPlay(rate = Number(speed.value)) {
    stopReverse();
    video.playbackRate = rate;
    speed.value = String(rate);
    video.play().catch(() => {});
  }
  function seek(sec) {
    const max = Number.isFinite(video.duration) ? video.duration : total() / 1000;
    video.currentTime = Math.max(0, Math.min(max, sec));
  }
  function frameStep(d) {
    pause();
    const f = frameAt(video.currentTime || 0);
    seek(fps ? (f + d + 0.5) / fps : (video.currentTime || 0) + d * step);
  }
  function mark(which) {
    const ms = nowMs();
    if (which === 'in') rangeIn = ms;
    else rangeOut = ms;
    if (rangeIn != null && rangeOut != null && rangeOut < rangeIn) [rangeIn, rangeOut] = [rangeOut, rangeIn];
    paintRange();
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || !el.isConnected) return;
    const tag = e.target?.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || e.target?.isContentEditable) return;
    const k = e.key.toLowerCase();
    if (k === 'k') pause();
    else if (k === 'l') {
      if (revTimer || video.paused) startPlay(revTimer ? 1 : Number(speed.value));
      else startPlay(Math.min(4, video.playbackRate * 2));
    } else if (k === 'j') {
      video.pause();
      revSpeed = revSpeed ? Math.min(4, revSpeed * 2) : 1;
      if (!revTimer) {
        revTimer = setInterval(() => {
          const tt = (video.currentTime || 0) - (REVERSE_TICK_MS / 1000) * revSpeed;
          seek(tt);
          if (tt <= 0) stopReverse();
        }, REVERSE_TICK_MS);
      }
    } else if (e.key === ',') frameStep(-1);
    else if (e.key === '.') frameStep(1);
    else if (k === 'i') mark('in');
    else if (k === 'o') mark('out');
    else return;
    e.preventDefault();
  }
  document.addEventListener('keydown', onKey);
  video.addEventListener('click', () => { if (!overlay.tool()) (video.paused ? startPlay() : pause()); });
  video.addEventListener('play', () => overlay.clearDraft());
  for (const ev of ['timeupdate', 'seeked', 'pause', 'play', 'loadedmetadata', 'ratechange']) video.addEventListener(ev, tick);
  video.addEventListener('loadedmetadata', () => { paintTicks(); paintRange(); });
  tick();

  /** ready resolves once the video knows its duration (seeking works from then). */
  const ready = () => (video.readyState >= 1 ? Promise.resolve() : new Promise((resolve) => {
    video.addEventListener('loadedmetadata', resolve, { once: true });
  }));

  return {
    el,
    kind: 'video',
    overlay,
    fps,
    /** anchor is where a note saved now belongs: the I/O range, else the frame on screen. */
    anchor() {
      if (rangeIn != null && rangeOut != null && rangeOut > rangeIn) return { start_ms: rangeIn, end_ms: rangeOut };
      return { start_ms: nowMs() };
    },
    anchorText() {
      if (rangeIn != null && rangeOut != null && rangeOut > rangeIn) return t('review.anchorRange', { a: clockMs(rangeIn), b: clockMs(rangeOut) });
      const f = frameAt(video.currentTime || 0);
      return t('review.anchorAt', { at: `${clockMs(nowMs())}${f != null ? ` · ${t('review.frame', { n: f })}` : ''}` });
    },
    /** afterSave forgets the range once a note used it. */
    afterSave() { rangeIn = null; rangeOut = null; paintRange(); },
    setAnnotations(list, sel) {
      annotations = list;
      selected = sel || '';
      paintTicks();
      paintShapes();
    },
    /** show seeks to a note's frame (the middle of it), pauses and draws its shape. */
    async show(a) {
      selected = a.id;
      pause();
      await ready();
      const sec = fps && a.start_frame != null ? (a.start_frame + 0.5) / fps : (a.start_ms || 0) / 1000;
      seek(sec);
      paintTicks();
      paintShapes();
    },
    cleanup() {
      stopReverse();
      document.removeEventListener('keydown', onKey);
      strip?.cleanup();
      overlay.cleanup();
      stopWatermark();
      video.pause();
      video.removeAttribute('src');
      video.load();
    },
  };
}
