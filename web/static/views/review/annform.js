/**
 * The new-annotation form: drawing tools, where the note will belong (the
 * frame or I/O range on screen, the page, the photo), the text, the
 * checklist item and the severity. The shape drawn on the overlay goes with
 * it; the colour follows the severity.
 */
import { evidencePath, post } from '../../api.js';
import { busy, errorBox, fill, h } from '../../dom.js';
import { t } from '../../i18n.js';
import { SEVERITIES, checklistSelect } from './common.js';
import { SEVERITY_COLORS, TOOLS } from './overlay.js';

const TOOL_ICONS = { rect: '▭', ellipse: '◯', arrow: '➚', freehand: '✎', point: '•' };

/** annotationForm returns {el, attach(stage), refreshAnchor(), drafted(shape)}. */
export function annotationForm({ type, current, onSaved }) {
  let tool = '';
  const message = h('div', { class: 'ann-form-msg', 'aria-live': 'polite' });
  const anchor = h('p', { id: 'annotation-anchor', class: 'ann-anchor small' });
  const shapeNote = h('span', { class: 'ann-shape-note small muted' });
  const clearShape = h('button', { type: 'button', class: 'link small', hidden: true, onclick: () => { current()?.stage.overlay?.clearDraft(); drafted(null); } }, t('review.clearShape'));
  const toolButtons = TOOLS.map((name) => h('button', {
    type: 'button', class: 'secondary small tool', dataset: { drawTool: name }, 'aria-pressed': 'false',
    title: t(`tool.${name}`), onclick: () => pick(tool === name ? '' : name),
  }, h('span', { 'aria-hidden': 'true' }, TOOL_ICONS[name]), h('span', { class: 'tool-label' }, t(`tool.${name}`))));
  const tools = h('div', { class: 'draw-tools', role: 'group', 'aria-label': t('review.tools') }, toolButtons);

  const body = h('textarea', { id: 'annotation-body', rows: 3, maxlength: 5000, required: true, placeholder: t('review.bodyHint') });
  const checklist = checklistSelect(type, { id: 'annotation-checklist' }, t('review.noItem'));
  const severity = h('select', { id: 'annotation-severity', onchange: () => current()?.stage.overlay?.setColor(SEVERITY_COLORS[severity.value]) },
    SEVERITIES.map((s) => h('option', { value: s }, t(`severity.${s}`))));
  const save = h('button', { id: 'annotation-save', type: 'submit', class: 'primary' }, t('review.save'));
  const form = h('form', { class: 'ann-form', onsubmit: (e) => { e.preventDefault(); submit(); } },
    h('h3', {}, t('review.newNote')),
    tools,
    h('div', { class: 'ann-shape' }, shapeNote, clearShape),
    anchor,
    h('label', { for: 'annotation-body' }, t('review.body')), body,
    h('div', { class: 'ann-form-row' },
      h('div', {}, h('label', { for: 'annotation-checklist' }, t('review.checklistItem')), checklist),
      h('div', {}, h('label', { for: 'annotation-severity' }, t('review.severity')), severity)),
    message,
    h('div', { class: 'actions' }, save));

  function pick(next) {
    tool = next;
    for (const b of toolButtons) b.setAttribute('aria-pressed', String(b.dataset.drawTool === tool));
    current()?.stage.overlay?.setTool(tool);
  }

  function drafted(shape) {
    shapeNote.textContent = shape ? t('review.shapeReady', { tool: t(`tool.${shape.type}`) }) : t('review.shapeNone');
    clearShape.hidden = !shape;
  }

  function refreshAnchor() {
    const cur = current();
    anchor.textContent = cur ? cur.stage.anchorText() : t('review.chooseEvidence');
    save.disabled = !cur || !cur.stage.anchor();
    tools.hidden = !cur?.stage.overlay;
  }

  async function submit() {
    fill(message);
    const cur = current();
    const where = cur?.stage.anchor();
    if (!cur || !where) {
      fill(message, h('p', { class: 'notice error small' }, t('review.chooseEvidence')));
      return;
    }
    if (!body.value.trim()) {
      fill(message, h('p', { class: 'notice error small' }, t('review.bodyRequired')));
      body.focus();
      return;
    }
    const shape = cur.stage.overlay?.draft();
    const input = { body: body.value.trim(), severity: severity.value, ...where };
    if (checklist.value) input.checklist_item = checklist.value;
    if (shape) input.shape = { ...shape, color: SEVERITY_COLORS[severity.value] };
    await busy(save, async () => {
      try {
        const a = await post(evidencePath(cur.item.id, 'annotations'), input);
        body.value = '';
        // Each note says its own item and severity: the next one starts
        // from none and the first severity, so a 合格 note is not saved as
        // the last one's 违规.
        checklist.value = '';
        severity.value = SEVERITIES[0];
        cur.stage.overlay?.setColor(SEVERITY_COLORS[severity.value]);
        cur.stage.overlay?.clearDraft();
        cur.stage.afterSave();
        drafted(null);
        fill(message, h('p', { class: 'notice small', role: 'status' }, t('review.saved')));
        onSaved(a);
      } catch (err) {
        fill(message, errorBox(err));
      }
    });
    refreshAnchor();
  }

  /** attach hands the chosen tool and colour to a newly opened stage. */
  function attach(stage) {
    stage.overlay?.setTool(tool);
    stage.overlay?.setColor(SEVERITY_COLORS[severity.value]);
    drafted(null);
    refreshAnchor();
  }

  drafted(null);
  refreshAnchor();
  return { el: form, attach, refreshAnchor, drafted };
}
