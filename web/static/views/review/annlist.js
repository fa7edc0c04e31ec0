/**
 * The case's annotations: filters (evidence, checklist item, severity,
 * open/resolved), one row per note with its thread, and the actions the
 * user may take (reply, resolve/reopen; edit and delete for the author).
 * Rows are keyed by id and redrawn only when their note changed, so a live
 * refresh never throws away a reply or an edit being typed. An edit sends
 * If-Match with the version it started from; if someone changed the note
 * meanwhile (412) the user is told and the list reloads.
 */
import { del, patch, post, enc } from '../../api.js';
import { busy, errorBox, fill, h } from '../../dom.js';
import { dateTime } from '../../format.js';
import { t } from '../../i18n.js';
import { SEVERITIES, anchorText, checklistSelect, checklistText, personName, severityBadge } from './common.js';

const annPath = (id, rest = '') => `/api/v1/annotations/${enc(id)}${rest ? `/${rest}` : ''}`;

/** annotationList returns {el, set(list), select(id), setEvidence(id)}. */
export function annotationList({ user, type, canWrite, evidenceName, onSelect, reload }) {
  const rows = new Map(); // id → {el, sig, a, mode}
  let all = [];
  let selected = '';
  let currentEvidence = '';
  const scope = h('select', { id: 'ann-filter-evidence', onchange: paint },
    h('option', { value: '' }, t('review.filterAllEvidence')), h('option', { value: 'current' }, t('review.filterThisEvidence')));
  const item = checklistSelect(type, { id: 'ann-filter-checklist', onchange: paint }, t('review.filterAllItems'));
  const sev = h('select', { id: 'ann-filter-severity', onchange: paint }, h('option', { value: '' }, t('review.filterAllSeverities')),
    SEVERITIES.map((s) => h('option', { value: s }, t(`severity.${s}`))));
  const state = h('select', { id: 'ann-filter-state', onchange: paint }, h('option', { value: '' }, t('review.filterAllStates')),
    h('option', { value: 'open' }, t('review.open')), h('option', { value: 'resolved' }, t('review.resolved')));
  const count = h('p', { class: 'muted small ann-count', 'aria-live': 'polite' });
  const list = h('ul', { id: 'annotation-list', class: 'annotation-list' });
  const filters = h('div', { class: 'ann-filters' },
    [[scope, 'review.filterEvidence'], [item, 'review.checklistItem'], [sev, 'review.severity'], [state, 'review.state']]
      .map(([sel, key]) => h('label', { class: 'ann-filter' }, h('span', {}, t(key)), sel)));
  const el = h('section', { class: 'ann-list-wrap', 'aria-labelledby': 'ann-list-title' },
    h('h3', { id: 'ann-list-title' }, t('review.notes')), filters, count, list);

  const visible = (a) => (!scope.value || a.evidence_id === currentEvidence)
    && (!item.value || a.checklist_item === item.value)
    && (!sev.value || a.severity === sev.value)
    && (!state.value || (state.value === 'resolved') === Boolean(a.resolved));

  function paint() {
    const shown = all.filter(visible);
    count.textContent = t('review.count', { n: shown.length, total: all.length });
    const seen = new Set();
    for (const empty of list.querySelectorAll('.ann-empty')) empty.remove();
    for (const a of shown) {
      seen.add(a.id);
      let row = rows.get(a.id);
      if (!row) {
        row = { el: h('li', { class: 'annotation-row' }), sig: '', mode: '', slot: h('div', { class: 'ann-slot' }), msg: h('div', { 'aria-live': 'polite' }) };
        row.el.addEventListener('click', (e) => { if (!e.target.closest('.ann-actions, .ann-slot')) onSelect(row.a); });
        rows.set(a.id, row);
      }
      row.a = a;
      const sig = JSON.stringify([a.version, a.resolved, a.replies?.length, evidenceName(a.evidence_id), canWrite()]);
      if (sig !== row.sig && !row.mode) { row.sig = sig; draw(row); }
      row.el.classList.toggle('is-selected', a.id === selected);
      // Move a row only when it is out of place: a moved node is a new one to
      // assistive technology (and to automation holding on to it).
      const at = list.children[seen.size - 1];
      if (at !== row.el) list.insertBefore(row.el, at || null);
    }
    for (const [id, row] of rows) if (!seen.has(id)) { row.el.remove(); if (!all.some((a) => a.id === id)) rows.delete(id); }
    if (!shown.length) list.append(h('li', { class: 'muted small ann-empty' }, t(all.length ? 'review.noMatch' : 'review.noNotes')));
  }

  function draw(row) {
    const { a } = row;
    Object.assign(row.el.dataset, {
      annotationId: a.id, evidenceId: a.evidence_id, severity: a.severity || 'info', resolved: String(Boolean(a.resolved)),
      startFrame: a.start_frame != null ? String(a.start_frame) : '', startMs: a.start_ms != null ? String(a.start_ms) : '',
      page: a.page != null ? String(a.page) : '', version: String(a.version),
    });
    const mine = a.author?.id === user.id;
    const write = canWrite();
    fill(row.el,
      h('div', { class: 'ann-main', role: 'button', tabindex: '0', 'aria-label': t('review.jump'), onkeydown: (e) => { if (e.key === 'Enter') onSelect(a); } },
        h('div', { class: 'ann-head' },
          h('span', { class: 'ann-anchor-label' }, anchorText(a)),
          severityBadge(a.severity),
          a.checklist_item && h('span', { class: 'badge ann-item' }, checklistText(type, a.checklist_item)),
          a.shape && h('span', { class: 'muted small' }, t(`tool.${a.shape.type}`)),
          a.resolved && h('span', { class: 'badge ann-resolved' }, t('review.resolved'))),
        h('p', { class: 'ann-body' }, a.body),
        h('p', { class: 'muted small ann-meta' }, [personName(a.author), evidenceName(a.evidence_id), dateTime(a.created_at)].filter(Boolean).join(' · '))),
      a.replies?.length > 0 && h('ul', { class: 'ann-thread' }, a.replies.map((r) => h('li', {},
        h('strong', {}, personName(r.author)), t('common.colon'), r.body,
        h('span', { class: 'muted small' }, ` · ${dateTime(r.created_at)}`)))),
      write && h('div', { class: 'ann-actions' },
        h('button', { type: 'button', class: 'link small ann-reply', onclick: () => openReply(row) }, t('review.reply')),
        h('button', { type: 'button', class: 'link small ann-resolve', onclick: (e) => act(row, e.currentTarget, a.resolved ? 'reopen' : 'resolve') },
          t(a.resolved ? 'review.reopen' : 'review.resolve')),
        mine && h('button', { type: 'button', class: 'link small ann-edit', onclick: () => openEdit(row) }, t('review.edit')),
        mine && h('button', { type: 'button', class: 'link small danger-link ann-delete', onclick: () => openDelete(row) }, t('review.delete'))),
      row.msg, row.slot);
  }

  function close(row) {
    row.mode = '';
    fill(row.slot);
    row.sig = '';
    paint();
  }

  async function act(row, button, what) {
    fill(row.msg);
    await busy(button, async () => {
      try {
        await post(annPath(row.a.id, what));
        await reload();
      } catch (err) { fill(row.msg, errorBox(err)); }
    });
  }

  function openReply(row) {
    row.mode = 'reply';
    const text = h('textarea', { class: 'ann-reply-body', rows: 2, maxlength: 5000, 'aria-label': t('review.reply') });
    const send = h('button', { type: 'submit', class: 'small' }, t('review.send'));
    fill(row.slot, h('form', { class: 'ann-inline', onsubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) return;
      await busy(send, async () => {
        try {
          await post(annPath(row.a.id, 'replies'), { body: text.value.trim() });
          close(row);
          await reload();
        } catch (err) { fill(row.msg, errorBox(err)); }
      });
    } }, text, h('div', { class: 'actions' }, send, h('button', { type: 'button', class: 'secondary small', onclick: () => close(row) }, t('review.cancel')))));
    text.focus();
  }

  function openEdit(row) {
    row.mode = 'edit';
    const { a } = row;
    const version = a.version;
    const text = h('textarea', { class: 'ann-edit-body', rows: 3, maxlength: 5000, value: a.body, 'aria-label': t('review.body') });
    const ci = checklistSelect(type, { class: 'ann-edit-checklist', 'aria-label': t('review.checklistItem') }, t('review.noItem'));
    ci.value = a.checklist_item || '';
    const sv = h('select', { class: 'ann-edit-severity', 'aria-label': t('review.severity') }, SEVERITIES.map((s) => h('option', { value: s }, t(`severity.${s}`))));
    sv.value = a.severity || 'info';
    const save = h('button', { type: 'submit', class: 'small' }, t('review.save'));
    fill(row.slot, h('form', { class: 'ann-inline', onsubmit: async (e) => {
      e.preventDefault();
      const input = { body: text.value.trim(), severity: sv.value, checklist_item: ci.value, start_ms: a.start_ms, end_ms: a.end_ms, page: a.page, shape: a.shape };
      await busy(save, async () => {
        try {
          await patch(annPath(a.id), input, version);
          close(row);
          await reload();
        } catch (err) {
          if (err.status === 412) {
            close(row);
            fill(row.msg, h('p', { class: 'notice error small', role: 'alert' }, t('review.stale')));
            await reload();
          } else fill(row.msg, errorBox(err));
        }
      });
    } }, text, ci, sv, h('div', { class: 'actions' }, save, h('button', { type: 'button', class: 'secondary small', onclick: () => close(row) }, t('review.cancel')))));
    text.focus();
  }

  function openDelete(row) {
    row.mode = 'delete';
    const yes = h('button', { type: 'button', class: 'danger small', onclick: async () => {
      await busy(yes, async () => {
        try {
          await del(annPath(row.a.id));
          close(row);
          await reload();
        } catch (err) { fill(row.msg, errorBox(err)); }
      });
    } }, t('review.deleteYes'));
    fill(row.slot, h('div', { class: 'confirm', role: 'alertdialog' }, h('p', {}, t('review.deleteAsk')),
      h('div', { class: 'actions' }, yes, h('button', { type: 'button', class: 'secondary small', onclick: () => close(row) }, t('review.cancel')))));
    yes.focus();
  }

  return {
    el,
    set(next) { all = next; paint(); },
    repaint: paint,
    select(id) { selected = id || ''; paint(); },
    setEvidence(id) { currentEvidence = id || ''; paint(); },
    row: (id) => rows.get(id)?.el,
  };
}
