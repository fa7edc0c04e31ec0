/**
 * The checklist panel: each item of the permit type with its finding
 * (pass / fail / n.a., a note, and the annotations on that item that
 * support it). The assigned inspector edits any items and saves them all
 * with the panel's one 保存结论 while the case is in review (each item is
 * its own finding and audit event); everyone else reads. A row someone is
 * editing is not redrawn by live refreshes until it is saved.
 */
import { enc, post } from '../../api.js';
import { busy, errorBox, fill, h } from '../../dom.js';
import { dateTime } from '../../format.js';
import { pick, t } from '../../i18n.js';
import { RESULTS, anchorText, personName, severityBadge } from './common.js';

/** missingFindings lists the checklist items without a finding. */
export function missingFindings(type, findings) {
  const have = new Set(findings.map((f) => f.checklist_item));
  return (type?.checklist || []).filter((c) => !have.has(c.id));
}

/** checklistPanel returns {el, set(findings), setAnnotations(list)}. */
export function checklistPanel({ caseId, type, editable, onSelect, onSaved }) {
  const items = type?.checklist || [];
  const rows = new Map(); // item id → {el, dirty, sig}
  let findings = [];
  let annotations = [];
  const list = h('ol', { class: 'finding-list' });
  const saveMsg = h('div', { 'aria-live': 'polite' });
  const saveAll = h('button', { id: 'findings-save', type: 'button', class: 'primary', onclick: () => submitAll() }, t('findings.save'));
  const saveBar = h('div', { class: 'findings-save-bar', hidden: true }, saveMsg, h('div', { class: 'actions' }, saveAll));
  const el = h('section', { id: 'checklist-panel', class: 'panel checklist-panel', 'aria-labelledby': 'checklist-title' },
    h('h2', { id: 'checklist-title' }, t('findings.title')),
    items.length ? [list, saveBar] : h('p', { class: 'muted' }, t('findings.noChecklist')));

  /** submitAll saves every edited item, one finding after another; a refused one keeps its edits and says why. */
  async function submitAll() {
    fill(saveMsg);
    const dirty = items.map((item) => rows.get(item.id)).filter((row) => row?.dirty && row.collect);
    if (!dirty.length) {
      fill(saveMsg, h('p', { class: 'muted small', role: 'status' }, t('findings.nothingToSave')));
      return;
    }
    await busy(saveAll, async () => {
      let saved = 0;
      let failed = 0;
      for (const row of dirty) {
        fill(row.msg);
        const body = row.collect();
        if (!body) {
          failed++;
          fill(row.msg, h('p', { class: 'notice error small', role: 'alert' }, t('findings.pickResult')));
          continue;
        }
        try {
          const f = await post(`/api/v1/cases/${enc(caseId)}/findings`, body);
          row.dirty = false;
          row.el.classList.remove('is-dirty');
          findings = [...findings.filter((x) => x.checklist_item !== body.checklist_item), f || body];
          row.sig = '';
          saved++;
        } catch (err) {
          failed++;
          fill(row.msg, errorBox(err));
        }
      }
      paint();
      fill(saveMsg, h('p', { class: `notice small${failed ? ' error' : ''}`, role: 'status' },
        failed ? t('findings.savedSome', { n: saved, failed }) : t('findings.savedN', { n: saved })));
      if (saved) onSaved();
    });
  }

  function paint() {
    saveBar.hidden = !editable();
    for (const item of items) {
      let row = rows.get(item.id);
      if (!row) {
        row = { el: h('li', { class: 'finding-row', dataset: { checklistItem: item.id } }), dirty: false, sig: '', msg: h('div', { 'aria-live': 'polite' }) };
        rows.set(item.id, row);
        list.append(row.el);
      }
      const f = findings.find((x) => x.checklist_item === item.id);
      const onItem = annotations.filter((a) => a.checklist_item === item.id);
      const sig = JSON.stringify([f?.result, f?.note, f?.annotation_ids, f?.updated_at, onItem.map((a) => [a.id, a.version]), editable()]);
      if (row.dirty || sig === row.sig) continue;
      row.sig = sig;
      row.el.dataset.result = f?.result || '';
      fill(row.el, editable() ? editor(row, item, f, onItem) : reader(item, f));
    }
  }

  const annLabel = (a) => `${anchorText(a)} · ${a.body}`;

  function reader(item, f) {
    const linked = (f?.annotation_ids || []).map((id) => annotations.find((a) => a.id === id)).filter(Boolean);
    return [
      h('div', { class: 'finding-head' },
        h('span', { class: 'finding-text' }, pick(item.text)),
        h('span', { class: `badge result result-${f?.result || 'none'}` }, t(f ? `result.${f.result}` : 'findings.none'))),
      f?.note && h('p', { class: 'finding-note-text' }, f.note),
      linked.length > 0 && h('ul', { class: 'finding-links' }, linked.map((a) => h('li', {},
        h('button', { type: 'button', class: 'link small', dataset: { annotationId: a.id }, onclick: () => onSelect(a) }, severityBadge(a.severity), ' ', annLabel(a))))),
      f && h('p', { class: 'muted small' }, `${personName(f.author)} · ${dateTime(f.updated_at)}`),
    ];
  }

  function editor(row, item, f, onItem) {
    const name = `result-${item.id}`;
    const touch = () => { row.dirty = true; row.el.classList.add('is-dirty'); };
    const radios = RESULTS.map((r) => h('label', { class: 'finding-choice' },
      h('input', { type: 'radio', name, value: r, checked: f?.result === r, onchange: touch }), t(`result.${r}`)));
    const note = h('textarea', { class: 'finding-note', rows: 2, maxlength: 5000, value: f?.note || '', 'aria-label': t('findings.note'), placeholder: t('findings.note'), oninput: touch });
    const linked = new Set(f?.annotation_ids || []);
    const boxes = onItem.map((a) => h('label', { class: 'finding-link' },
      h('input', { type: 'checkbox', value: a.id, checked: linked.has(a.id), onchange: touch }), severityBadge(a.severity), ' ', annLabel(a)));
    // What the panel's save sends for this item; null until a result is chosen.
    row.collect = () => {
      const result = row.el.querySelector(`input[name="${name}"]:checked`)?.value;
      if (!result) return null;
      return {
        checklist_item: item.id, result, note: note.value.trim(),
        annotation_ids: boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value),
      };
    };

    return [
      h('div', { class: 'finding-head' },
        h('span', { class: 'finding-text' }, pick(item.text)),
        f && h('span', { class: `badge result result-${f.result}` }, t(`result.${f.result}`))),
      h('div', { class: 'finding-choices', role: 'radiogroup', 'aria-label': pick(item.text) }, radios),
      note,
      h('div', { class: 'finding-links' },
        h('p', { class: 'muted small' }, onItem.length ? t('findings.supporting') : t('findings.noNotesOnItem')),
        boxes),
      row.msg,
    ];
  }

  return {
    el,
    set(next) { findings = next || []; paint(); },
    setAnnotations(next) { annotations = next || []; paint(); },
    findings: () => findings,
    repaint() { for (const row of rows.values()) row.sig = ''; paint(); },
  };
}
