/**
 * The video viewer. It plays the server's playback rendition (the original
 * when browsers can play it, else the H.264 proxy), never the raw upload, and
 * shows the poster until the first frame. Under the player a filmstrip bar
 * lets the officer skim: the tile under the pointer (or finger) appears with
 * its time, and a click or tap seeks there. While the file is still being
 * processed the poster (if made yet) and the state are shown instead, until
 * the pipeline finds it playable (then it plays, with the state under it). The
 * viewer's name and the office time lie over the picture (watermark.js).
 */
import { evidencePath } from '../api.js';
import { h } from '../dom.js';
import { clock } from '../format.js';
import { t } from '../i18n.js';
import { durationMs, playsNow, spinner, stateNote, techLine } from './evmeta.js';
import { watermark } from './watermark.js';

const BAR_HEIGHT = 44; // px; the tiles in the bar are scaled to this height

/** videoPlayer returns {el, cleanup}. */
export function videoPlayer(item) {
  const poster = item.derived?.poster ? evidencePath(item.id, 'poster') : null;
  const tech = techLine(item);
  if (!playsNow(item)) {
    const el = h('div', { class: 'viewer player' },
      h('div', { class: 'player-stage is-waiting' },
        poster ? h('img', { src: poster, alt: '' }) : h('div', { class: 'player-blank' }),
        item.status === 'processing' && h('div', { class: 'player-overlay' }, spinner())),
      stateNote(item),
      tech && h('p', { class: 'player-tech' }, tech));
    return { el, cleanup: () => {} };
  }

  const note = h('p', { class: 'notice error small', hidden: true }, t('evidence.unplayable'));
  const video = h('video', {
    controls: true, preload: 'metadata', playsinline: true, poster,
    src: evidencePath(item.id, 'playback'),
    onerror: () => { note.hidden = false; },
  });
  const strip = filmstrip(item, video);
  const stage = h('div', { class: 'player-stage' }, video);
  const stopWatermark = watermark(stage, video);
  const el = h('div', { class: 'viewer player' },
    stage,
    note,
    stateNote(item),
    strip?.el,
    tech && h('p', { class: 'player-tech' }, tech));

  function cleanup() {
    strip?.cleanup();
    stopWatermark();
    video.pause();
    // Dropping the source ends the range requests a paused video keeps open.
    video.removeAttribute('src');
    video.load();
  }
  return { el, cleanup };
}

/**
 * filmstrip builds the scrub bar from the sprite index; null when there is
 * none. The review workspace puts the same bar under its player.
 */
export function filmstrip(item, video) {
  const fs = item.derived?.filmstrip;
  if (!fs || !(fs.count > 0 && fs.columns > 0 && fs.tile_width > 0 && fs.tile_height > 0 && fs.interval_ms > 0)) return null;
  const sprite = `url("${evidencePath(item.id, 'thumbnails')}")`;
  const total = durationMs(item) || fs.count * fs.interval_ms;

  /** tileStyle shows tile i of the sprite in a w × hgt box, scaled to cover it and centred. */
  const tileStyle = (el, i, w, hgt) => {
    const scale = Math.max(w / fs.tile_width, hgt / fs.tile_height);
    const tw = fs.tile_width * scale;
    const th = fs.tile_height * scale;
    const col = i % fs.columns;
    const row = Math.floor(i / fs.columns);
    el.style.backgroundImage = sprite;
    el.style.backgroundSize = `${fs.columns * tw}px ${fs.rows * th}px`;
    el.style.backgroundPosition = `${-col * tw + (w - tw) / 2}px ${-row * th + (hgt - th) / 2}px`;
  };
  const tileAt = (ms) => Math.max(0, Math.min(fs.count - 1, Math.floor(ms / fs.interval_ms)));

  const tiles = h('div', { class: 'filmstrip-tiles', 'aria-hidden': 'true' });
  const head = h('div', { class: 'filmstrip-head', 'aria-hidden': 'true' });
  const hover = h('div', { class: 'filmstrip-hover', 'aria-hidden': 'true', hidden: true });
  const previewW = Math.min(fs.tile_width, 160);
  const previewH = Math.round((previewW * fs.tile_height) / fs.tile_width);
  const tile = h('div', { class: 'filmstrip-tile', style: `width:${previewW}px;height:${previewH}px` });
  const stamp = h('span', { class: 'filmstrip-time' });
  const preview = h('div', { class: 'filmstrip-preview', 'aria-hidden': 'true', hidden: true }, tile, stamp);
  const bar = h('div', {
    class: 'filmstrip', role: 'slider', tabindex: '0', 'aria-label': t('player.scrub'),
    'aria-valuemin': '0', 'aria-valuemax': String(Math.round(total / 1000)), 'aria-valuenow': '0',
    style: `height:${BAR_HEIGHT}px`,
  }, tiles, head, hover);
  const el = h('div', { class: 'filmstrip-wrap' }, preview, bar);

  /** paintTiles fills the bar's width with evenly spread tiles, each close to its own aspect ratio. */
  function paintTiles() {
    const width = bar.clientWidth;
    if (!width) return;
    const natural = (BAR_HEIGHT * fs.tile_width) / fs.tile_height;
    const n = Math.max(1, Math.min(fs.count, Math.ceil(width / natural)));
    const cellW = width / n;
    const cells = [];
    for (let j = 0; j < n; j++) {
      const cell = h('div', { class: 'filmstrip-cell', style: `width:${cellW}px` });
      tileStyle(cell, Math.floor((j * fs.count) / n), cellW, BAR_HEIGHT);
      cells.push(cell);
    }
    tiles.replaceChildren(...cells);
  }

  const msAt = (clientX) => {
    const r = bar.getBoundingClientRect();
    const x = Math.max(0, Math.min(r.width, clientX - r.left));
    return { ms: r.width ? (x / r.width) * total : 0, x, width: r.width };
  };

  function show(clientX) {
    const { ms, x, width } = msAt(clientX);
    tileStyle(tile, tileAt(ms), previewW, previewH);
    stamp.textContent = clock(ms);
    preview.hidden = false;
    hover.hidden = false;
    hover.style.left = `${x}px`;
    const left = Math.max(0, Math.min(width - previewW, x - previewW / 2));
    preview.style.transform = `translateX(${left}px)`;
  }
  function hide() {
    preview.hidden = true;
    hover.hidden = true;
  }
  function seek(ms) {
    const s = Math.max(0, Math.min(total, ms)) / 1000;
    video.currentTime = Number.isFinite(video.duration) ? Math.min(s, video.duration) : s;
    playhead();
  }
  function playhead() {
    const ms = (video.currentTime || 0) * 1000;
    head.style.left = `${Math.min(100, (ms / total) * 100)}%`;
    bar.setAttribute('aria-valuenow', String(Math.round(ms / 1000)));
    bar.setAttribute('aria-valuetext', `${clock(ms)} / ${clock(total)}`);
  }

  bar.addEventListener('pointermove', (e) => show(e.clientX));
  bar.addEventListener('pointerdown', (e) => {
    if (e.pointerType !== 'mouse') bar.setPointerCapture(e.pointerId); // a finger keeps scrubbing off the bar
    show(e.clientX);
  });
  bar.addEventListener('pointerup', (e) => {
    seek(msAt(e.clientX).ms);
    if (e.pointerType !== 'mouse') hide();
  });
  bar.addEventListener('pointerleave', hide);
  bar.addEventListener('pointercancel', hide);
  bar.addEventListener('keydown', (e) => {
    const step = { ArrowLeft: -fs.interval_ms, ArrowRight: fs.interval_ms, PageDown: -10 * fs.interval_ms, PageUp: 10 * fs.interval_ms }[e.key];
    if (step !== undefined) seek((video.currentTime || 0) * 1000 + step);
    else if (e.key === 'Home') seek(0);
    else if (e.key === 'End') seek(total);
    else return;
    e.preventDefault();
  });
  video.addEventListener('timeupdate', playhead);

  const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(paintTiles) : null;
  observer?.observe(bar);
  requestAnimationFrame(paintTiles);
  playhead();

  return { el, cleanup: () => observer?.disconnect() };
}
