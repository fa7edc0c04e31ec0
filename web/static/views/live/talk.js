/**
 * Push-to-talk: with a mouse or pen the officer holds the button while
 * speaking; on a touch screen (where holding also opens menus) and from the
 * keyboard a press toggles it. The microphone track is only enabled while
 * talking, so nothing from the office reaches the phone by accident.
 */
import { h } from '../../dom.js';
import { t } from '../../i18n.js';

/**
 * talkButton returns {el, set(on), on(), repaint()}. onChange(on) is asked
 * to start or stop talking and returns whether that happened.
 */
export function talkButton({ onChange }) {
  let talking = false;
  let holding = null; // the pointer holding the button down
  let ignoreClickUntil = 0;
  const el = h('button', { id: 'live-talk', type: 'button', class: 'secondary live-talk', 'aria-pressed': 'false' });

  function set(on) {
    if (on === talking) return;
    if (!onChange(on) && on) return;
    talking = on;
    paint();
  }

  function paint() {
    el.setAttribute('aria-pressed', String(talking));
    el.classList.toggle('is-talking', talking);
    el.textContent = talking ? t('live.talking') : t('live.talk');
    el.title = t('live.talkHint');
  }

  el.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'touch' || e.button !== 0 || el.disabled) return;
    holding = e.pointerId;
    el.setPointerCapture?.(e.pointerId);
    set(true);
  });
  const release = (e) => {
    if (holding === null || e.pointerId !== holding) return;
    holding = null;
    ignoreClickUntil = performance.now() + 400; // the click that ends a hold is not a toggle
    set(false);
  };
  el.addEventListener('pointerup', release);
  el.addEventListener('pointercancel', release);
  el.addEventListener('lostpointercapture', release);
  el.addEventListener('click', () => {
    if (performance.now() < ignoreClickUntil) return;
    set(!talking);
  });
  el.addEventListener('contextmenu', (e) => e.preventDefault());

  paint();
  return { el, set, on: () => talking, repaint: paint };
}
