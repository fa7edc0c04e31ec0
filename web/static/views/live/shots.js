/**
 * Guided filming (docs/LIVE.md, "Guided filming"): the case's checklist as
 * a shot list. On the phone, shotGuide shows the next item not yet filmed,
 * large, with "这是「…」" to mark it, and the whole list to mark any other;
 * in the inspector's page (and the case's), coverage lists each item with
 * its marks and, while live, a button to mark it remotely. A mark is a
 * room message {type: 'shot', checklist_item}; the room answers every
 * member with {type: 'shot', annotation}.
 */
import { fill, h } from '../../dom.js';
import { lang, t } from '../../i18n.js';
import { clockMs } from '../review/common.js';

/** itemText is a checklist item's text in the UI's language. */
export function itemText(item) {
  return (lang() === 'en' ? item?.text?.en : item?.text?.zh) || item?.text?.zh || item?.id || '';
}

/** hintText is a checklist item's shot hint in the UI's language ('' without one). */
export function hintText(item) {
  return (lang() === 'en' ? item?.hint?.en : item?.hint?.zh) || item?.hint?.zh || '';
}

/**
 * shotGuide returns {el, load(checklist, annotations), mark(annotation),
 * repaint(), close()} for the phone; send(msg) returns false while the room
 * is down; onMark(itemId) also keeps the mark with the phone's recording.
 */
export function shotGuide({ w, send, onMark = () => null, onError = () => {} }) {
  let items = [];
  const marks = new Map(); // item id → [recording_ms]
  let closed = false;
  const next = h('div', { id: 'join-next-shot', class: 'join-next-shot', 'aria-live': 'polite' });
  const list = h('ol', { id: 'join-shots', class: 'join-shots' });
  const progress = h('p', { id: 'join-shots-progress', class: 'muted small' });
  const el = h('section', { class: 'panel join-shot-panel', 'aria-labelledby': 'join-shots-title', hidden: true, dataset: { covered: '0', total: '0' } },
    w.text(h('h2', { id: 'join-shots-title' }), () => t('shots.title')), next, progress, list);

  /**
   * mark sends the mark to the room and hands it to onMark (the phone's own
   * recording keeps it, returning its position there, or null). Without the
   * room, a mark the recording kept still counts here.
   */
  function mark(item) {
    if (closed) return;
    const sent = send({ type: 'shot', checklist_item: item.id });
    const kept = onMark(item.id);
    if (sent) return;
    if (kept === null || kept === undefined) onError(new Error(t('live.roomDown')));
    else {
      add({ shot: true, checklist_item: item.id, recording_ms: kept });
      paint();
    }
  }

  function paint() {
    el.hidden = !items.length;
    const covered = items.filter((i) => marks.has(i.id)).length;
    el.dataset.covered = String(covered);
    el.dataset.total = String(items.length);
    progress.textContent = t('shots.progress', { n: covered, total: items.length });
    const todo = items.find((i) => !marks.has(i.id));
    fill(next, todo
      ? [h('p', { class: 'small muted' }, t('shots.next')),
        h('p', { class: 'join-next-shot-text' }, itemText(todo)),
        todo.hint ? h('p', { id: 'join-next-shot-hint', class: 'small join-next-shot-hint' }, hintText(todo)) : null,
        h('button', { id: 'join-shot-mark', type: 'button', class: 'primary join-big', disabled: closed, dataset: { item: todo.id }, onclick: () => mark(todo) },
          t('shots.thisIs', { item: itemText(todo) }))]
      : h('p', { class: 'notice small' }, t('shots.allDone')));
    fill(list, items.map((i) => {
      const at = marks.get(i.id) || [];
      return h('li', { class: `join-shot${at.length ? ' is-done' : ''}`, dataset: { item: i.id, marks: String(at.length) } },
        h('span', { class: 'join-shot-text' }, `${at.length ? '✓ ' : ''}${itemText(i)}`),
        at.length ? h('span', { class: 'muted small' }, at.map(clockMs).join(', ')) : null,
        h('button', { type: 'button', class: 'secondary small', disabled: closed, onclick: () => mark(i) }, t('shots.mark')));
    }));
  }

  function add(a) {
    if (!a?.shot || !a.checklist_item) return;
    const at = marks.get(a.checklist_item) || [];
    if (!at.includes(a.recording_ms)) at.push(a.recording_ms);
    marks.set(a.checklist_item, at);
  }

  return {
    el,
    load(checklist, annotations) {
      items = checklist || [];
      marks.clear();
      for (const a of annotations || []) add(a);
      paint();
    },
    mark(a) {
      add(a);
      paint();
      navigator.vibrate?.(80);
    },
    repaint: paint,
    close() {
      closed = true;
      paint();
    },
  };
}

/**
 * coverage returns {el, load(checklist, marks), mark(annotation), repaint(),
 * close()} for officers: marks are [{item, ms, evidence_id}] (or live
 * annotations with shot). send(msg) marks remotely; without it the list
 * is read-only (the case page).
 */
export function coverage({ w, send = null, id = 'live-coverage', onError = () => {}, href = null }) {
  let items = [];
  const marks = new Map(); // item id → [{ms, evidence_id}]
  let closed = !send;
  const list = h('ul', { id: `${id}-items`, class: 'coverage-items' });
  const summary = h('p', { class: 'small muted', role: 'status' });
  const el = h('section', { id, class: 'panel coverage', 'aria-labelledby': `${id}-title`, dataset: { covered: '0', total: '0' } },
    w.text(h('h2', { id: `${id}-title` }), () => t('shots.coverage')), summary, list);

  function add(item, m) {
    const at = marks.get(item) || [];
    if (!at.some((x) => x.ms === m.ms && x.evidence_id === m.evidence_id)) at.push(m);
    marks.set(item, at);
  }

  function paint() {
    const covered = items.filter((i) => marks.has(i.id)).length;
    el.dataset.covered = String(covered);
    el.dataset.total = String(items.length);
    summary.textContent = items.length ? t('shots.progress', { n: covered, total: items.length }) : t('shots.noChecklist');
    fill(list, items.map((i) => {
      const at = marks.get(i.id) || [];
      const times = at.map((m) => {
        const label = clockMs(m.ms);
        const link = href && m.evidence_id ? href(m) : null;
        return link ? h('a', { href: link }, label) : h('span', {}, label);
      });
      return h('li', { class: `coverage-item ${at.length ? 'is-covered' : 'is-missing'}`, dataset: { item: i.id, marks: String(at.length) } },
        h('span', { class: 'coverage-state', 'aria-hidden': 'true' }, at.length ? '✓' : '○'),
        h('span', { class: 'coverage-text' }, itemText(i)),
        h('span', { class: 'coverage-times small muted' }, at.length ? times : t('shots.noFootage')),
        send && !closed ? h('button', { type: 'button', class: 'secondary small', onclick: () => { if (!send({ type: 'shot', checklist_item: i.id })) onError(new Error(t('live.roomDown'))); } }, t('shots.markRemote')) : null);
    }));
  }

  return {
    el,
    load(checklist, list0) {
      items = checklist || [];
      marks.clear();
      for (const m of list0 || []) {
        if (m.shot && m.checklist_item) add(m.checklist_item, { ms: m.recording_ms, evidence_id: null });
        else if (m.item) add(m.item, m);
      }
      paint();
    },
    mark(a) {
      if (a?.shot && a.checklist_item) add(a.checklist_item, { ms: a.recording_ms, evidence_id: null });
      paint();
    },
    repaint: paint,
    close() {
      closed = true;
      paint();
    },
  };
}
