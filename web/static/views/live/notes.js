/**
 * Live annotations: a note typed while the call runs, with an optional
 * checklist item and a severity, sent to the room; the server stamps it
 * with the position in the recording (recording_ms) and it becomes an
 * ordinary annotation on the recording once that is processed. Notes
 * the room sends back are listed newest first with that position.
 */
import { h, fill } from '../../dom.js';
import { pick, t } from '../../i18n.js';
import { SEVERITIES, checklistSelect, checklistText, clockMs, severityBadge } from '../review/common.js';
import { timeOfDay, who } from './parts.js';

/**
 * liveNotes returns {el, load(annotations), add(annotation), failLast(), repaint(), close()}. send(msg)
 * returns false when the room is not connected; onError shows why; you()
 * is the current user as the room knows them.
 */
export function liveNotes({ type, w, send, onError, you = () => null }) {
  const received = new Map(); // id → annotation, as the room sent it
  const pending = []; // {body, severity, checklist_item, failed}
  const body = h('textarea', { id: 'live-annotation-body', rows: 2, maxlength: 4000 });
  w.attr(body, 'placeholder', () => t('review.bodyHint'));
  const checklist = checklistSelect(type, { id: 'live-annotation-checklist' }, t('review.noItem'));
  w.text(checklist.options[0], () => t('review.noItem'));
  (type?.checklist || []).forEach((c, i) => w.text(checklist.options[i + 1], () => pick(c.text)));
  const severity = h('select', { id: 'live-annotation-severity' }, SEVERITIES.map((s) => w.text(h('option', { value: s }), () => t(`severity.${s}`))));
  const save = w.text(h('button', { id: 'live-annotation-send', type: 'submit', class: 'primary small' }), () => t('live.noteSend'));
  const list = h('ul', { id: 'live-annotations', class: 'live-annotations' });
  let form = null;
  const el = h('section', { class: 'panel live-notes', 'aria-labelledby': 'live-notes-title' },
    w.text(h('h2', { id: 'live-notes-title' }), () => t('live.notes')),
    w.text(h('p', { class: 'muted small' }), () => t('live.notesHint')),
    form = h('form', { class: 'live-note-form', onsubmit: (e) => { e.preventDefault(); submit(); } },
      w.text(h('label', { for: 'live-annotation-body' }), () => t('review.body')), body,
      h('div', { class: 'ann-form-row' },
        h('div', {}, w.text(h('label', { for: 'live-annotation-checklist' }), () => t('review.checklistItem')), checklist),
        h('div', {}, w.text(h('label', { for: 'live-annotation-severity' }), () => t('review.severity')), severity)),
      h('div', { class: 'actions' }, save)),
    list);

  function submit() {
    const text = body.value.trim();
    if (!text) {
      onError(new Error(t('review.bodyRequired')));
      body.focus();
      return;
    }
    const msg = { type: 'annotation', body: text, severity: severity.value };
    if (checklist.value) msg.checklist_item = checklist.value;
    if (!send(msg)) {
      onError(new Error(t('live.roomDown')));
      return;
    }
    pending.push({ body: text, severity: msg.severity, checklist_item: msg.checklist_item || '' });
    body.value = '';
    // The next note names its own item and severity (not the last one's).
    checklist.value = '';
    severity.selectedIndex = 0;
    paint();
  }

  function item(a, cls) {
    return h('li', {
      class: `${cls} annotation-row`,
      dataset: { annotationId: a.id || '', recordingMs: Number.isFinite(a.recording_ms) ? String(a.recording_ms) : '', severity: a.severity || 'info' },
    },
    h('div', { class: 'ann-head' },
      h('span', { class: 'ann-anchor-label live-note-time' }, Number.isFinite(a.recording_ms) ? clockMs(a.recording_ms) : t('live.sending')),
      severityBadge(a.severity),
      a.checklist_item && h('span', { class: 'badge ann-item' }, checklistText(type, a.checklist_item)),
      a.failed && h('span', { class: 'badge severity-violation' }, t('live.notSent'))),
    h('p', { class: 'ann-body' }, a.body),
    a.id && h('p', { class: 'muted small ann-meta' }, `${who(a.author)} · ${timeOfDay(a.at)}`));
  }

  function paint() {
    const confirmed = [...received.values()].sort((x, y) => (y.recording_ms || 0) - (x.recording_ms || 0));
    fill(list,
      pending.map((p) => item(p, 'live-annotation-pending')).reverse(),
      confirmed.map((a) => item(a, 'live-annotation')));
    if (!list.children.length) list.append(h('li', { class: 'muted small' }, t('live.noNotes')));
  }

  const mine = (a) => Boolean(you() && a.author?.id === you().id);

  paint();
  return {
    el,
    /** load shows the notes made so far (the room's hello), confirming nothing pending. */
    load(list) {
      for (const a of list || []) if (a?.id) received.set(a.id, a);
      paint();
    },
    add(a) {
      if (!a || !a.id) return;
      // Only the author gets their pending note confirmed; the oldest one
      // waiting stands in when the server reworded (trimmed) the body.
      let i = pending.findIndex((p) => !p.failed && p.body === a.body);
      if (i < 0 && mine(a)) i = pending.findIndex((p) => !p.failed);
      if (i >= 0) pending.splice(i, 1);
      received.set(a.id, a);
      paint();
    },
    failLast() {
      const last = [...pending].reverse().find((p) => !p.failed);
      if (!last) return false;
      last.failed = true;
      paint();
      return true;
    },
    repaint: paint,
    /** close hides the form once the session has ended; the notes stay listed. */
    close() { form.hidden = true; },
  };
}
