/**
 * The applicant's document slots (营业执照, 消防, 平面图 …): each material of
 * the case's permit type version with its file(s) or 未上传. On a draft each
 * slot takes an upload (更换 replaces: the new file goes in, the old one is
 * removed once the new one is complete), each file can be moved to another
 * slot or removed, and files uploaded without a slot can be filed.
 * Removal only hides the file from the case: the original stays stored.
 */
import { del, enc, get, listOf, patch } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { addMessages, pick, t } from '../i18n.js';
import { can } from '../model.js';
import { addFiles, subscribe } from '../uploads.js';

const ACCEPT = 'application/pdf,image/*,video/*';

// The words of this panel, loaded with it rather than with the login page.
addMessages({
  'slots.title': { zh: '申请材料', en: 'Application materials' },
  'slots.hint': { zh: '把每个文件放入对应的材料栏目，审查人员据此核对。', en: 'Put each file into its material slot; the officer checks them slot by slot.' },
  'slots.requiredHint': { zh: '每项材料都需上传文件（或在承诺书中列明后补交），才能提交。', en: 'Every material needs a file (or must be named in the commitment to follow later) before you can submit.' },
  'slots.state.filled': { zh: '已上传', en: 'Uploaded' },
  'slots.state.empty': { zh: '未上传', en: 'Not uploaded' },
  'slots.state.owed': { zh: '承诺后补', en: 'Follows later (committed)' },
  'slots.upload': { zh: '上传', en: 'Upload' },
  'slots.replace': { zh: '更换', en: 'Replace' },
  'slots.none': { zh: '（未归入栏目）', en: '(no slot)' },
  'slots.move': { zh: '{name} 所属材料栏目', en: 'Material slot of {name}' },
  'slots.remove': { zh: '删除', en: 'Remove' },
  'slots.removeFile': { zh: '删除 {name}', en: 'Remove {name}' },
  'slots.removeAsk': { zh: '从申请中删除此文件？', en: 'Remove this file from the application?' },
  'slots.removeYes': { zh: '确认删除', en: 'Remove it' },
  'slots.removeNo': { zh: '取消', en: 'Cancel' },
  'slots.unfiled': { zh: '未归入栏目的文件', en: 'Files in no slot' },
  'slots.submitMissing': { zh: '以下材料尚未上传：{list}。上传后才能提交。', en: 'Still missing: {list}. Upload them to submit.' },
  'slots.listSep': { zh: '、', en: ', ' },
});

/**
 * slotPanel builds the panel for case c of permit type version type;
 * onChange runs after a file was removed or refiled (the case's count and
 * submit change). missing() lists the required slots still empty.
 */
export function slotPanel(c, type, { onChange }) {
  const el = h('section', { class: 'panel slots', id: 'case-slots', 'aria-labelledby': 'case-slots-title' });
  const materials = type?.materials || [];
  let items = [];
  let owed = new Set();
  let stopped = false;
  // slot → evidence ids that a replacement upload into it removes when done.
  const replacing = new Map();

  const unsubscribe = subscribe((entry, kind) => {
    if (entry.caseId !== c.id || !entry.slot || kind === 'progress' || entry.state !== 'done') return;
    const old = replacing.get(entry.slot) || [];
    replacing.delete(entry.slot);
    Promise.all(old.filter((id) => id !== entry.evidenceId).map((id) => del(`/api/v1/cases/${enc(c.id)}/evidence/${enc(id)}`)))
      .catch((err) => fill(message, errorBox(err)))
      .finally(() => { refresh(); onChange(); });
  });
  const message = h('div', { 'aria-live': 'polite' });

  function editable() { return can(c, 'edit_evidence'); }

  function missing() {
    if (!type?.slots_required) return [];
    const filled = new Set(items.map((i) => i.slot).filter(Boolean));
    return materials.filter((m) => !filled.has(m.zh) && !owed.has(m.zh));
  }

  function picker(item) {
    const select = h('select', { class: 'slot-picker', 'aria-label': t('slots.move', { name: item.filename }) },
      h('option', { value: '' }, t('slots.none')),
      materials.map((m) => h('option', { value: m.zh, selected: item.slot === m.zh }, pick(m))));
    select.addEventListener('change', () => busy(select, async () => {
      fill(message);
      try {
        await patch(`/api/v1/cases/${enc(c.id)}/evidence/${enc(item.id)}`, { slot: select.value });
        await refresh();
        onChange();
      } catch (err) {
        fill(message, errorBox(err));
        select.value = item.slot || '';
      }
    }));
    return select;
  }

  // The file whose removal is being confirmed: a repaint (an upload done,
  // another tab's change) keeps the question on screen.
  let confirming = null;

  function removeButton(item) {
    if (confirming !== item.id) {
      return h('button', { type: 'button', class: 'secondary small slot-remove', 'aria-label': t('slots.removeFile', { name: item.filename }),
        onclick: () => { confirming = item.id; paint(); el.querySelector('.slot-remove-yes')?.focus(); } }, t('slots.remove'));
    }
    const yes = h('button', { type: 'button', class: 'danger small slot-remove-yes', onclick: () => busy(yes, async () => {
      try {
        await del(`/api/v1/cases/${enc(c.id)}/evidence/${enc(item.id)}`);
        confirming = null;
        await refresh();
        onChange();
      } catch (err) {
        fill(message, errorBox(err));
      }
    }) }, t('slots.removeYes'));
    const no = h('button', { type: 'button', class: 'secondary small slot-remove-no', onclick: () => { confirming = null; paint(); } }, t('slots.removeNo'));
    return h('span', { class: 'confirm', role: 'alertdialog' }, t('slots.removeAsk'), ' ', yes, ' ', no);
  }

  function fileRow(item) {
    return h('li', { class: 'slot-file', dataset: { evidenceId: item.id } },
      h('span', { class: 'name' }, item.filename),
      editable() && h('span', { class: 'slot-file-actions' }, picker(item), removeButton(item)));
  }

  function uploadControl(m, files) {
    const input = h('input', { type: 'file', class: 'file-input slot-input', accept: ACCEPT, id: `slot-file-${materials.indexOf(m)}` });
    input.addEventListener('change', () => {
      if (!input.files?.length) return;
      if (files.length) replacing.set(m.zh, files.map((f) => f.id));
      addFiles(c.id, [...input.files], { slot: m.zh });
      input.value = '';
    });
    return [input, h('label', { class: 'button secondary small slot-upload', for: input.id }, files.length ? t('slots.replace') : t('slots.upload'))];
  }

  // What the panel shows, as last painted: a refresh that changes none of
  // it (a file's processing moving on) leaves the buttons in place, so a
  // click is never lost to a repaint under the pointer.
  let painted = '';

  function paint() {
    if (stopped) return;
    const shown = JSON.stringify([items.map((i) => [i.id, i.filename, i.slot]), [...owed], confirming, editable()]);
    if (shown === painted) return;
    painted = shown;
    const rows = materials.map((m) => {
      const files = items.filter((i) => i.slot === m.zh);
      const state = files.length ? 'filled' : owed.has(m.zh) ? 'owed' : 'empty';
      return h('li', { class: `slot slot-${state}`, dataset: { slot: m.zh, state } },
        h('div', { class: 'slot-head' },
          h('span', { class: 'slot-name' }, pick(m)),
          h('span', { class: `badge slot-state slot-state-${state}` }, t(`slots.state.${state}`)),
          editable() && uploadControl(m, files)),
        files.length > 0 && h('ul', { class: 'slot-files' }, files.map(fileRow)));
    });
    const loose = items.filter((i) => !i.slot || !materials.some((m) => m.zh === i.slot));
    fill(el,
      h('h2', { id: 'case-slots-title' }, t('slots.title')),
      h('p', { class: 'small muted' }, type?.slots_required ? t('slots.requiredHint') : t('slots.hint')),
      h('ul', { class: 'slot-list' }, rows),
      loose.length > 0 && editable() && [h('h3', {}, t('slots.unfiled')), h('ul', { class: 'slot-files slot-unfiled' }, loose.map(fileRow))],
      message);
  }

  async function refresh() {
    const [list, commitment] = await Promise.all([
      get(`/api/v1/cases/${enc(c.id)}/evidence`),
      type?.slots_required && type?.commitment_allowed ? get(`/api/v1/cases/${enc(c.id)}/commitment`).catch(() => null) : null,
    ]);
    items = listOf(list);
    owed = new Set((commitment?.items || []).map((i) => i.material?.zh).filter(Boolean));
    paint();
  }

  return {
    el: materials.length ? el : null,
    refresh: () => (materials.length ? refresh() : Promise.resolve()),
    /** setCase repaints for the case as the server now has it. */
    setCase(next) { c = next; paint(); },
    missing,
    cleanup() { stopped = true; unsubscribe(); },
  };
}
