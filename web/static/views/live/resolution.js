/**
 * The inspector's view of the picture's sharpness: the size of the frames
 * arriving over WHEP (inbound-rtp frameWidth × frameHeight, read once a
 * second) and a warning when it stays below 1280×720 for more than
 * LOW_MS, the size at which a licence or a label is still legible.
 */
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import { inboundVideoSize } from './rtc.js';

const POLL_MS = 1000;
const LOW_MS = 3000;
const SHARP = { width: 1280, height: 720 };

/**
 * resolutionWatch returns {el, warning, start, stop, repaint}: el shows the
 * size (data-width, data-height, data-low), warning is the notice shown
 * while it is low. pc() gives the current RTCPeerConnection or null.
 */
export function resolutionWatch({ pc }) {
  const el = h('span', { id: 'live-resolution', class: 'live-resolution', dataset: { low: 'false' } });
  const warning = h('p', { id: 'live-resolution-low', class: 'notice small live-resolution-low', role: 'status', hidden: true });
  let size = null;
  let lowSince = 0; // when the size first fell below SHARP, 0 while sharp
  let timer = 0;

  async function poll() {
    try {
      size = await inboundVideoSize(pc());
    } catch {
      size = null;
    }
    const low = size && (size.width < SHARP.width || size.height < SHARP.height);
    if (!low) lowSince = 0;
    else if (!lowSince) lowSince = Date.now();
    repaint();
  }

  function repaint() {
    const low = Boolean(lowSince) && Date.now() - lowSince > LOW_MS;
    el.dataset.width = size ? String(size.width) : '';
    el.dataset.height = size ? String(size.height) : '';
    el.dataset.low = String(low);
    el.textContent = size ? `${size.width}×${size.height}` : '';
    el.title = size ? t('live.resolution') : '';
    warning.hidden = !low;
    warning.textContent = low ? t('live.resolutionLow', { size: `${size.width}×${size.height}` }) : '';
  }

  return {
    el,
    warning,
    start() {
      if (!timer) timer = setInterval(poll, POLL_MS);
    },
    stop() {
      clearInterval(timer);
      timer = 0;
      size = null;
      lowSince = 0;
      repaint();
    },
    repaint,
  };
}
