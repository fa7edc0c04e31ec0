/**
 * The permit catalogue for admins (#/admin/catalogue): every permit type
 * with its current version, an editor for names, day counts, the checklist
 * (add, remove, reorder, zh/en texts) and the required materials, which
 * publishes the edit as a new version, retiring and reactivating a type,
 * and each type's version history. A case keeps the version it was opened
 * with (docs/CATALOGUE.md), so publishing never changes a case in progress.
 * Times are the office's (format.js).
 */
import { enc, get, post } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { dateTime } from '../format.js';
import { addMessages, pick, t } from '../i18n.js';

addMessages({
  'catalogue.slotsRequired': { zh: '每项申请材料须上传文件（或承诺后补）才能提交', en: 'Each material needs a file (or a commitment) before submission' },
});

const BASE = '/api/v1/admin/permit-types';

/** render draws the catalogue. */
export async function render(view, ctx) {
  document.title = `${t('catalogue.title')} · ${t('app.title')}`;
  view.append(
    h('p', {}, h('a', { class: 'back', href: '#/admin' }, `← ${t('catalogue.back')}`)),
    h('h1', {}, t('catalogue.title')),
    h('p', { class: 'muted small' }, t('catalogue.intro')));
  if (ctx.user.role !== 'admin') {
    view.append(h('p', { class: 'notice' }, t('catalogue.adminsOnly')));
    return;
  }
  const message = h('div', { 'aria-live': 'polite', id: 'catalogue-message' });
  const list = h('div', { id: 'catalogue-list' }, h('p', { class: 'muted' }, t('common.loading')));
  const editor = h('div', { id: 'catalogue-editor' });
  const add = h('button', { type: 'button', id: 'catalogue-new', class: 'secondary', onclick: () => openEditor(null) }, t('catalogue.new'));
  view.append(message, h('div', { class: 'actions' }, add), editor, list);

  let entries = [];

  const load = async () => {
    try {
      entries = await get(BASE);
    } catch (err) {
      if (ctx.alive()) fill(list, errorBox(err));
      return;
    }
    if (ctx.alive()) paintList();
  };

  const say = (text) => fill(message, text && h('p', { class: 'notice' }, text));

  function paintList() {
    fill(list, entries.map((e) => typeCard(e)));
  }

  function typeCard(entry) {
    const p = entry.current;
    const retired = !!p.retired_at;
    const history = h('div', { class: 'catalogue-history' });
    const toggle = async (button) => {
      await busy(button, async () => {
        try {
          await post(`${BASE}/${enc(p.code)}/${retired ? 'reactivate' : 'retire'}`);
          say(t(retired ? 'catalogue.reactivated' : 'catalogue.retired', { name: pick(p.name) }));
          await load();
        } catch (err) {
          fill(message, errorBox(err));
        }
      });
    };
    const retireButton = h('button', { type: 'button', class: retired ? 'secondary' : 'secondary danger', dataset: { action: retired ? 'reactivate' : 'retire' },
      onclick: () => toggle(retireButton) }, t(retired ? 'catalogue.reactivate' : 'catalogue.retire'));
    return h('section', { class: 'panel catalogue-type', dataset: { code: p.code, version: String(p.version) } },
      h('h2', {}, pick(p.name), ' ',
        h('span', { class: 'badge' }, t('catalogue.version', { n: p.version })),
        retired && h('span', { class: 'badge overdue' }, t('catalogue.isRetired'))),
      h('p', { class: 'muted small' }, `${p.code} · ${t('catalogue.targetDays')}: ${p.target_days} · ${t('catalogue.supplementDays')}: ${p.supplement_days}`,
        p.commitment_allowed ? ` · ${t('catalogue.commitment')}` : ''),
      h('ol', { class: 'small' }, (p.checklist || []).map((it) => h('li', {}, pick(it.text), ' ', h('code', { class: 'muted' }, it.id)))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', dataset: { action: 'edit' }, onclick: () => openEditor(entry) }, t('catalogue.edit')),
        h('button', { type: 'button', class: 'secondary', dataset: { action: 'history' }, onclick: () => {
          if (history.childNodes.length) fill(history);
          else fill(history, versionList(entry.versions));
        } }, t('catalogue.history')),
        retireButton),
      history);
  }

  function versionList(versions) {
    return h('ol', { class: 'catalogue-versions', reversed: true }, versions.map((v) => h('li', { dataset: { version: String(v.version) } },
      h('details', {},
        h('summary', {}, t('catalogue.version', { n: v.version }), ' · ', dateTime(v.created_at), ' · ',
          v.created_by ? (v.created_by.display_name || v.created_by.username) : t('catalogue.seeded')),
        h('p', { class: 'small' }, `${pick(v.name)} · ${t('catalogue.targetDays')}: ${v.target_days} · ${t('catalogue.supplementDays')}: ${v.supplement_days}`,
          v.commitment_allowed ? ` · ${t('catalogue.commitment')}` : ''),
        h('h3', { class: 'small' }, t('catalogue.checklist')),
        h('ol', { class: 'small' }, (v.checklist || []).map((it) => h('li', {}, `${it.text.zh} / ${it.text.en} `, h('code', { class: 'muted' }, it.id)))),
        h('h3', { class: 'small' }, t('catalogue.materials')),
        h('ul', { class: 'small' }, (v.materials || []).map((m) => h('li', {}, `${m.zh} / ${m.en}`)))))));
  }

  /** openEditor edits entry's current version, or a new type for null. */
  function openEditor(entry) {
    const p = entry?.current;
    const creating = !p;
    const draft = {
      code: p?.code || '',
      name: { zh: p?.name.zh || '', en: p?.name.en || '' },
      commitment_allowed: p?.commitment_allowed || false,
      slots_required: p?.slots_required || false,
      supplement_days: p?.supplement_days ?? 15,
      target_days: p?.target_days ?? 0,
      // The shot hint (guided filming) rides along, so an edit keeps it; blank is none.
      checklist: (p?.checklist || []).map((it) => ({ id: it.id, text: { ...it.text }, hint: { zh: it.hint?.zh || '', en: it.hint?.en || '' } })),
      materials: (p?.materials || []).map((m) => ({ ...m })),
    };
    if (creating) draft.checklist.push({ id: 'item-1', text: { zh: '', en: '' } });
    const errors = h('div', { 'aria-live': 'polite' });
    const items = h('ol', { id: 'catalogue-items', class: 'catalogue-rows' });
    const materials = h('ol', { id: 'catalogue-materials', class: 'catalogue-rows' });

    const text = (label, value, set, props = {}) => h('label', { class: 'catalogue-field' }, label,
      h('input', { type: 'text', value, oninput: (ev) => set(ev.target.value), ...props }));
    const days = (label, key, id) => h('label', { class: 'catalogue-field' }, label,
      h('input', { type: 'number', id, min: 0, max: 365, step: 1, value: String(draft[key]), required: true,
        oninput: (ev) => { draft[key] = Number.parseInt(ev.target.value, 10); } }));
    // rowTools moves or removes row i of list, then repaints.
    const rowTools = (list, i, repaint) => h('span', { class: 'catalogue-tools' },
      h('button', { type: 'button', class: 'secondary small', 'aria-label': t('catalogue.up'), title: t('catalogue.up'), disabled: i === 0,
        dataset: { action: 'up' }, onclick: () => { [list[i - 1], list[i]] = [list[i], list[i - 1]]; repaint(); } }, '↑'),
      h('button', { type: 'button', class: 'secondary small', 'aria-label': t('catalogue.down'), title: t('catalogue.down'), disabled: i === list.length - 1,
        dataset: { action: 'down' }, onclick: () => { [list[i], list[i + 1]] = [list[i + 1], list[i]]; repaint(); } }, '↓'),
      h('button', { type: 'button', class: 'secondary small danger', 'aria-label': t('catalogue.remove'), title: t('catalogue.remove'),
        dataset: { action: 'remove' }, onclick: () => { list.splice(i, 1); repaint(); } }, '✕'));

    const paintItems = () => fill(items, draft.checklist.map((it, i) => h('li', { class: 'catalogue-row', dataset: { item: it.id } },
      text(t('catalogue.itemId'), it.id, (v) => { it.id = v.trim(); }, { class: 'item-id', pattern: '[a-z0-9][a-z0-9-]*' }),
      text(t('catalogue.zh'), it.text.zh, (v) => { it.text.zh = v; }, { class: 'item-zh', lang: 'zh' }),
      text(t('catalogue.en'), it.text.en, (v) => { it.text.en = v; }, { class: 'item-en', lang: 'en' }),
      text(t('catalogue.hintZh'), it.hint?.zh || '', (v) => { it.hint = { ...it.hint, zh: v }; }, { class: 'item-hint-zh', lang: 'zh' }),
      text(t('catalogue.hintEn'), it.hint?.en || '', (v) => { it.hint = { ...it.hint, en: v }; }, { class: 'item-hint-en', lang: 'en' }),
      rowTools(draft.checklist, i, paintItems))));
    const paintMaterials = () => fill(materials, draft.materials.map((m, i) => h('li', { class: 'catalogue-row' },
      text(t('catalogue.zh'), m.zh, (v) => { m.zh = v; }, { class: 'material-zh', lang: 'zh' }),
      text(t('catalogue.en'), m.en, (v) => { m.en = v; }, { class: 'material-en', lang: 'en' }),
      rowTools(draft.materials, i, paintMaterials))));
    paintItems();
    paintMaterials();

    const addItem = () => {
      let n = draft.checklist.length + 1;
      while (draft.checklist.some((it) => it.id === `item-${n}`)) n += 1;
      draft.checklist.push({ id: `item-${n}`, text: { zh: '', en: '' } });
      paintItems();
      items.lastElementChild?.querySelector('.item-zh')?.focus();
    };
    const addMaterial = () => {
      draft.materials.push({ zh: '', en: '' });
      paintMaterials();
      materials.lastElementChild?.querySelector('.material-zh')?.focus();
    };

    const publish = h('button', { type: 'submit', id: 'catalogue-publish', class: 'primary' },
      creating ? t('catalogue.create') : t('catalogue.publish', { n: p.version + 1 }));
    const form = h('form', { class: 'panel catalogue-form', id: 'catalogue-form', novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      fill(errors);
      const body = {
        name: draft.name, commitment_allowed: draft.commitment_allowed,
        supplement_days: Number.isFinite(draft.supplement_days) ? draft.supplement_days : -1,
        target_days: Number.isFinite(draft.target_days) ? draft.target_days : -1,
        checklist: draft.checklist, materials: draft.materials, slots_required: draft.slots_required,
      };
      await busy(publish, async () => {
        try {
          const saved = creating
            ? await post(BASE, { code: draft.code.trim(), ...body })
            : await post(`${BASE}/${enc(p.code)}/versions`, { base_version: p.version, ...body });
          if (!ctx.alive()) return;
          fill(editor);
          say(t(creating ? 'catalogue.created' : 'catalogue.published', { name: pick(saved.name), n: saved.version }));
          await load();
        } catch (err) {
          if (ctx.alive()) fill(errors, errorBox(err));
        }
      });
    } },
    h('h2', {}, creating ? t('catalogue.newTitle') : t('catalogue.editTitle', { name: pick(p.name), n: p.version })),
    !creating && h('p', { class: 'muted small' }, t('catalogue.editHint')),
    creating && text(t('catalogue.code'), draft.code, (v) => { draft.code = v; }, { id: 'catalogue-code', required: true, pattern: '[a-z0-9][a-z0-9-]*' }),
    text(t('catalogue.nameZh'), draft.name.zh, (v) => { draft.name.zh = v; }, { id: 'catalogue-name-zh', lang: 'zh', required: true }),
    text(t('catalogue.nameEn'), draft.name.en, (v) => { draft.name.en = v; }, { id: 'catalogue-name-en', lang: 'en', required: true }),
    days(t('catalogue.targetDays'), 'target_days', 'catalogue-target-days'),
    h('p', { class: 'muted small' }, t('catalogue.targetHint')),
    h('label', { class: 'commitment-choice' },
      h('input', { type: 'checkbox', id: 'catalogue-commitment', checked: draft.commitment_allowed, onchange: (ev) => { draft.commitment_allowed = ev.target.checked; } }),
      t('catalogue.commitment')),
    days(t('catalogue.supplementDays'), 'supplement_days', 'catalogue-supplement-days'),
    h('label', { class: 'commitment-choice' },
      h('input', { type: 'checkbox', id: 'catalogue-slots-required', checked: draft.slots_required, onchange: (ev) => { draft.slots_required = ev.target.checked; } }),
      t('catalogue.slotsRequired')),
    h('h3', {}, t('catalogue.checklist')),
    items,
    h('button', { type: 'button', id: 'catalogue-add-item', class: 'secondary', onclick: addItem }, t('catalogue.addItem')),
    h('h3', {}, t('catalogue.materials')),
    materials,
    h('button', { type: 'button', id: 'catalogue-add-material', class: 'secondary', onclick: addMaterial }, t('catalogue.addMaterial')),
    errors,
    h('div', { class: 'actions' }, publish,
      h('button', { type: 'button', class: 'secondary', onclick: () => fill(editor) }, t('catalogue.cancel'))));
    fill(editor, form);
    say('');
    form.querySelector('input')?.focus();
  }

  await load();
}
