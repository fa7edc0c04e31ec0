/**
 * Snapshots taken during a live inspection: each is an image evidence item
 * of the case (the next keyframe, decoded by the server), shown here as a
 * thumbnail with its position in the recording. A fresh item has no
 * thumbnail until the pipeline has made one, so the original JPEG stands in.
 */
import { evidencePath } from '../../api.js';
import { fill, h } from '../../dom.js';
import { t } from '../../i18n.js';
import { clockMs } from '../review/common.js';
import { who } from './parts.js';

/** snapshotStrip returns {el, add({evidence, recording_ms, by}), repaint()}. */
export function snapshotStrip({ w }) {
  const shots = new Map(); // evidence id → {evidence, recording_ms, by}
  const list = h('ul', { id: 'live-snapshots', class: 'live-snapshots' });
  const el = h('section', { class: 'panel live-shots', 'aria-labelledby': 'live-shots-title' },
    w.text(h('h2', { id: 'live-shots-title' }), () => t('live.snapshots')), list);

  function item({ evidence: ev, recording_ms: ms, by }) {
    const content = evidencePath(ev.id, 'content');
    const img = h('img', {
      src: ev.derived?.thumbnail ? evidencePath(ev.id, 'thumbnail') : content,
      alt: t('live.snapshotAt', { at: clockMs(ms) }), loading: 'lazy', decoding: 'async',
    });
    img.addEventListener('error', () => { if (img.getAttribute('src') !== content) img.src = content; }, { once: true });
    return h('li', { class: 'live-snapshot', dataset: { evidenceId: ev.id, recordingMs: Number.isFinite(ms) ? String(ms) : '' } },
      h('a', { href: content, target: '_blank', rel: 'noopener' }, img),
      h('span', { class: 'live-snapshot-cap small' }, [Number.isFinite(ms) ? clockMs(ms) : '', by && who(by)].filter(Boolean).join(' · ')));
  }

  function paint() {
    const all = [...shots.values()].sort((a, b) => (b.recording_ms || 0) - (a.recording_ms || 0));
    fill(list, all.map(item));
    if (!all.length) list.append(h('li', { class: 'muted small live-empty' }, t('live.noSnapshots')));
  }

  paint();
  return {
    el,
    add(shot) {
      if (!shot?.evidence?.id) return;
      shots.set(shot.evidence.id, { ...shots.get(shot.evidence.id), ...shot });
      paint();
    },
    repaint: paint,
  };
}
