/**
 * The review workspace of a case for the office: one evidence item at a
 * time on the stage (the review player for videos, the pager for PDFs, the
 * photo), the new-note form and the case's annotation list beside it, the
 * checklist with findings and the decision panel below. Selecting a note
 * anywhere opens its item, lands on its frame or page and shows its shape.
 * The item on the stage is kept in the address (#/cases/{id}?ev=…), so a
 * reload comes back to it.
 */
import { enc, evidencePath, get, listOf } from '../../api.js';
import { errorBox, fill, h } from '../../dom.js';
import { t } from '../../i18n.js';
import { isVideo, viewState } from '../evmeta.js';
import { openViewer } from '../viewer.js';
import { annotationForm } from './annform.js';
import { annotationList } from './annlist.js';
import { checklistPanel } from './checklist.js';
import { can } from '../../model.js';
import { mayAnnotate } from './common.js';
import { decisionPanel } from './decision.js';
import { imageReview, pdfReview } from './docreview.js';
import { videoReview } from './videoreview.js';

/**
 * reviewWorkspace returns {el, panels, open(item), refresh(parts), setCase(c), cleanup}.
 * items() lists the case's evidence as the evidence list last loaded it;
 * onOpen(id) marks the item on stage there; onDecided reloads the case.
 */
export function reviewWorkspace({ user, c: initial, type, items, onOpen, onDecided, startEvidence }) {
  let c = initial;
  let cur = null; // {item, stage}
  let annotations = [];
  let selected = '';
  const canWrite = () => mayAnnotate(user, c);
  const caseId = c.id;

  const stageTitle = h('h3', { class: 'ws-stage-title' });
  const stageSlot = h('div', { class: 'ws-stage-slot' }, h('p', { class: 'muted ws-placeholder' }, t('review.chooseEvidence')));
  const stageWrap = h('div', { class: 'ws-stage', id: 'review-stage' }, stageTitle, stageSlot);
  const listMsg = h('div', { 'aria-live': 'polite' });
  const form = canWrite() ? annotationForm({ type, current: () => cur, onSaved: () => loadAnnotations() }) : null;
  const list = annotationList({
    user, type, canWrite, onSelect: (a) => select(a), reload: () => loadAnnotations(),
    evidenceName: (id) => items().find((i) => i.id === id)?.filename || '',
  });
  const checklist = checklistPanel({
    caseId, type, onSelect: (a) => select(a),
    editable: () => can(c, 'record_finding'),
    onSaved: () => {},
  });
  const decision = decisionPanel({ user, type, findings: () => checklist.findings(), onDone: onDecided });
  const el = h('section', { id: 'review-workspace', class: 'panel workspace', 'aria-labelledby': 'workspace-title' },
    h('h2', { id: 'workspace-title' }, t('review.title')),
    !canWrite() && h('p', { class: 'muted small' }, t('review.readOnly')),
    h('div', { class: 'ws-grid' }, stageWrap,
      h('div', { class: 'ws-side' }, form?.el, listMsg, list.el)));

  const onEvidence = (a) => (cur ? a.evidence_id === cur.item.id : false);

  function paintAnnotations() {
    list.set(annotations);
    cur?.stage.setAnnotations(annotations.filter(onEvidence), selected);
    checklist.setAnnotations(annotations);
  }

  async function loadAnnotations() {
    try {
      annotations = listOf(await get(`/api/v1/cases/${enc(caseId)}/annotations`));
      fill(listMsg);
    } catch (err) {
      fill(listMsg, errorBox(err));
      return;
    }
    if (selected && !annotations.some((a) => a.id === selected)) selected = '';
    paintAnnotations();
  }

  async function loadFindings() {
    try {
      checklist.set(listOf(await get(`/api/v1/cases/${enc(caseId)}/findings`)));
    } catch (err) {
      fill(listMsg, errorBox(err));
    }
  }

  /** findItem gets an evidence item from the list, or from the API when the list has not got it yet. */
  async function findItem(id) {
    return items().find((i) => i.id === id) || get(evidencePath(id));
  }

  const handlers = {
    onDraft: (shape) => form?.drafted(shape),
    onAnchor: () => form?.refreshAnchor(),
    onSelect: (a) => select(a),
  };

  /** open puts an evidence item on the stage (a no-op when it is there already). */
  function open(item) {
    if (cur && cur.item.id === item.id && viewState(cur.item) === viewState(item)) return cur;
    cur?.stage.cleanup();
    let stage;
    if (item.status !== 'ready') stage = plainStage(item);
    else if (isVideo(item)) stage = videoReview(item, handlers);
    else if (item.kind === 'pdf') stage = pdfReview(item, handlers);
    else stage = imageReview(item, handlers);
    cur = { item, stage };
    fill(stageTitle, item.filename || item.id);
    fill(stageSlot, stage.el);
    stage.setAnnotations(annotations.filter(onEvidence), selected);
    form?.attach(stage);
    list.setEvidence(item.id);
    onOpen(item.id);
    const hash = `#/cases/${enc(caseId)}?ev=${enc(item.id)}`;
    if (window.location.hash !== hash) window.history.replaceState(null, '', hash);
    return cur;
  }

  /** select shows a note: opens its item, seeks or turns to it, draws its shape. */
  async function select(a) {
    selected = a.id;
    list.select(a.id);
    if (!cur || cur.item.id !== a.evidence_id) {
      try {
        open(await findItem(a.evidence_id));
      } catch (err) {
        fill(listMsg, errorBox(err));
        return;
      }
    }
    cur.stage.setAnnotations(annotations.filter(onEvidence), selected);
    if (stageWrap.getBoundingClientRect().bottom < 0 || stageWrap.getBoundingClientRect().top > window.innerHeight) {
      stageWrap.scrollIntoView({ block: 'start' });
    }
    await cur.stage.show(a);
  }

  async function start() {
    await Promise.all([loadAnnotations(), loadFindings(), decision.refresh(c)]);
    if (startEvidence && !cur) {
      try { open(await findItem(startEvidence)); } catch { /* gone: leave the stage empty */ }
    }
  }
  start();

  return {
    el,
    panels: [checklist.el, decision.el],
    open,
    /** refresh reloads the parts live events named. */
    refresh(parts) {
      if (parts.has('annotations')) loadAnnotations();
      if (parts.has('findings')) loadFindings();
      if (parts.has('record')) decision.refresh(c);
    },
    /** itemChanged reopens the stage when its item finished processing. */
    itemChanged(item) {
      if (cur && cur.item.id === item.id && viewState(cur.item) !== viewState(item)) open(item);
      list.repaint(); // rows name their item
    },
    cleanup() { cur?.stage.cleanup(); },
  };
}

/** plainStage shows an item that is not ready yet, with its state; nothing to annotate. */
function plainStage(item) {
  const viewer = openViewer(item);
  return {
    el: viewer.el, kind: 'none', overlay: null,
    anchor: () => null, anchorText: () => t('review.notReady'),
    afterSave() {}, setAnnotations() {}, show() {}, cleanup: () => viewer.cleanup(),
  };
}
