/**
 * The watermark over evidence video: the viewer's name and the office's
 * clock time to the second, drawn over the picture and redrawn every second,
 * so a screenshot, a screen recording or a phone photo of the screen names
 * who made it and when. It is a layer above the video, never part of the
 * evidence. Clicks pass through it to the player (pointer-events: none), so
 * no click hides it; a layer taken out of the page is put back; and full
 * screen shows the stage, video and watermark together: the native control
 * would show the bare video, so it is hidden and a button of ours takes its
 * place (a browser that still puts the bare video in full screen has it
 * moved to the stage). Picture-in-picture, which would also leave the layer
 * behind, is turned off.
 */
import { h } from '../dom.js';
import { wallClock } from '../format.js';
import { t } from '../i18n.js';
import { viewerName } from '../api.js';

/**
 * watermark lays the viewer's name and time over video inside stage (the
 * positioned box around it) and adds the full-screen button; it returns the
 * cleanup that stops the clock.
 */
export function watermark(stage, video) {
  // Three copies across the picture, so cropping one corner keeps another.
  const marks = [0, 1, 2].map((i) => h('span', { class: `watermark-mark watermark-${i}` }));
  const layer = h('div', { class: 'watermark', 'aria-hidden': 'true' }, marks);
  const full = h('button', {
    type: 'button', class: 'player-fullscreen', title: t('player.fullscreen'), 'aria-label': t('player.fullscreen'),
    onclick: () => (document.fullscreenElement ? document.exitFullscreen() : stage.requestFullscreen()).catch(() => {}),
  }, fullscreenIcon());
  video.disablePictureInPicture = true;
  video.setAttribute('disablepictureinpicture', '');
  video.setAttribute('controlslist', 'nofullscreen noremoteplayback');
  stage.append(layer, full);

  const paint = () => {
    const text = `${viewerName()} ${wallClock()}`;
    layer.dataset.text = text;
    for (const m of marks) m.textContent = text;
  };
  paint();
  const timer = setInterval(paint, 1000);
  const guard = new MutationObserver(() => {
    if (layer.parentNode !== stage) stage.append(layer);
  });
  guard.observe(stage, { childList: true });
  const onFullscreen = () => {
    if (document.fullscreenElement !== video) return;
    document.exitFullscreen().then(() => stage.requestFullscreen()).catch(() => {});
  };
  document.addEventListener('fullscreenchange', onFullscreen);
  return () => {
    clearInterval(timer);
    guard.disconnect();
    document.removeEventListener('fullscreenchange', onFullscreen);
  };
}

/** fullscreenIcon is four corner brackets, drawn (fonts lack a full-screen glyph). */
function fullscreenIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M1 5V1h4M11 1h4v4M15 11v4h-4M5 15H1v-4');
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '2');
  svg.append(path);
  return svg;
}
