/**
 * 承诺办 on the page: the applicant's commitment (承诺书) signed before
 * submitting, and each owed material as a slot — the applicant uploads
 * into an open slot (tus with Upload-Metadata owed_item), the inspector
 * opens what arrived and confirms it (确认已补交) or returns it with a
 * reason, which opens the slot again. Overdue slots are marked for both.
 */
import { enc, get, post } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { date, dateTime } from '../format.js';
import { pick, t } from '../i18n.js';
import { can } from '../model.js';
import { addFiles, subscribe } from '../uploads.js';

/** loadCommitment answers the case's commitment, or null. */
export function loadCommitment(caseId) {
  return get(`/api/v1/cases/${enc(caseId)}/commitment`).catch(() => null);
}

/** commitmentView shows a signed commitment: the materials, their due dates, the statement and the signature. */
export function commitmentView(cm) {
  if (!cm) return null;
  return h('div', { id: 'commitment', class: 'commitment' },
    h('h3', {}, t('commit.title')),
    h('ul', { class: 'commitment-items' }, cm.items.map((it) => h('li', {},
      h('span', {}, pick(it.material)), ' ', h('span', { class: 'muted small' }, t('commit.due', { at: date(it.due_at) }))))),
    h('blockquote', { class: 'commitment-statement', lang: 'zh' }, cm.statement.zh),
    h('blockquote', { class: 'commitment-statement muted small', lang: 'en' }, cm.statement.en),
    h('p', { class: 'small commitment-signed' }, t('commit.signed', { name: cm.signer_name, at: dateTime(cm.signed_at) })));
}

/**
 * commitmentPanel is the applicant's commitment on a draft of a
 * commitment-based type: the signed one, and the form to sign (or sign
 * again). {el, refresh(c)}.
 */
export function commitmentPanel(caseId, type) {
  const body = h('div', {});
  const el = h('section', { id: 'commitment-panel', class: 'panel commitment-panel', 'aria-labelledby': 'commitment-title', hidden: true },
    h('h2', { id: 'commitment-title' }, t('commit.title')), body);

  async function refresh(c) {
    const signable = can(c, 'sign_commitment') && type?.commitment_allowed;
    const cm = await loadCommitment(caseId);
    el.hidden = !signable && !cm;
    if (el.hidden) return;
    // Once signed, signing again (other materials, another name) folds away.
    const f = signable && form(c, cm);
    fill(body, commitmentView(cm), cm && f ? h('details', { class: 'commitment-resign' }, h('summary', {}, t('commit.resign')), f) : f);
  }

  function form(c, cm) {
    const msg = h('div', { 'aria-live': 'assertive' });
    const chosen = new Set((cm?.items || []).map((it) => it.material.zh));
    const boxes = (type.materials || []).map((m) => h('label', { class: 'commitment-choice' },
      h('input', { type: 'checkbox', value: m.zh, checked: chosen.has(m.zh) }), pick(m)));
    const name = h('input', { id: 'commitment-name', type: 'text', maxlength: 100, autocomplete: 'name', value: cm?.signer_name || '' });
    const agree = h('input', { id: 'commitment-agree', type: 'checkbox' });
    const sign = h('button', { id: 'commitment-sign', type: 'submit', class: 'primary' }, cm ? t('commit.resign') : t('commit.sign'));
    async function send(e) {
      e.preventDefault();
      fill(msg);
      const items = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      await busy(sign, async () => {
        try {
          await post(`/api/v1/cases/${enc(caseId)}/commitment`, { items, signer_name: name.value.trim(), agree: agree.checked });
          await refresh(c);
        } catch (err) { fill(msg, errorBox(err)); }
      });
    }
    return h('form', { id: 'commitment-form', class: 'commitment-form', onsubmit: send },
      h('p', { class: 'muted small' }, t('commit.intro', { days: type.supplement_days || 60 })),
      h('fieldset', {}, h('legend', {}, t('commit.items')), boxes),
      h('blockquote', { class: 'commitment-statement' }, pick({ zh: statementZH, en: statementEN })),
      h('label', { class: 'commitment-agree' }, agree, t('commit.agree')),
      h('label', { for: 'commitment-name' }, t('commit.name')), name,
      msg, h('div', { class: 'actions' }, sign));
  }
  return { el, refresh };
}

// The statement as the server stores it with each signature (domain/owed.go);
// shown before signing, the signed copy comes back from the server.
const statementZH = '本人代表申请单位郑重承诺：上列容缺材料将在所列期限内补交；所提交材料及本承诺真实有效。如未按期补交或承诺不实，申请单位愿承担相应法律责任，许可机关可依法撤销已作出的许可决定。';
const statementEN = 'On behalf of the applicant I solemnly undertake that the materials listed above will be handed in by the dates shown, and that the materials submitted and this commitment are true. If they are not handed in on time or the commitment is untrue, the applicant accepts the legal consequences, and the licensing authority may revoke the permit according to law.';

/**
 * owedSlots lists owed materials with their state; given the case it adds
 * the controls its user may use now: the applicant's upload into an open
 * slot, the inspector's confirm or return of a delivered one. onChange
 * runs after any of them. Returns null for no items; cleanup() of the
 * returned element's `cleanup` property ends its upload subscription.
 */
export function owedSlots(items, { c = null, onChange = () => {} } = {}) {
  if (!items.length) return null;
  const deliver = c && can(c, 'deliver_owed');
  const confirm = c && can(c, 'confirm_owed');
  const progress = new Map();
  const list = h('ul', { class: 'owed-list' }, items.map((o) => {
    const controls = h('div', { class: 'owed-controls' });
    const li = h('li', {
      class: `owed-item owed-${o.state || 'open'}${o.overdue ? ' is-overdue' : ''}${o.fulfilled_at ? ' is-fulfilled' : ''}`,
      dataset: { owedId: o.id, state: o.state || '' },
    },
    h('span', { class: 'owed-text' }, o.text),
    h('span', { class: 'badge owed-state' }, t(`owed.state.${o.state || 'open'}`)),
    h('span', { class: 'owed-due' }, o.fulfilled_at ? t('record.fulfilled', { at: date(o.fulfilled_at) }) : t('record.dueBy', { at: date(o.due_at) })),
    o.overdue && h('span', { class: 'badge overdue' }, t('cases.overdue')),
    o.state === 'open' && o.return_reason && h('p', { class: 'small owed-returned notice' }, t('owed.returned', { reason: o.return_reason, at: dateTime(o.returned_at) })),
    o.evidence_id && c && h('a', { class: 'small owed-evidence', href: `#/cases/${enc(c.id)}?ev=${enc(o.evidence_id)}` }, t('owed.view')),
    controls);
    if (deliver && o.state === 'open') {
      const input = h('input', { type: 'file', class: 'owed-file', accept: 'application/pdf,image/*,video/*', id: `owed-file-${o.id}` });
      const status = h('span', { class: 'small muted owed-progress', 'aria-live': 'polite' });
      progress.set(o.id, status);
      input.addEventListener('change', () => {
        if (!input.files?.length) return;
        addFiles(c.id, [...input.files], { owedItem: o.id });
        input.value = '';
      });
      fill(controls, input, h('label', { class: 'button secondary owed-upload', for: input.id }, t('owed.upload')), status);
    }
    if (confirm && o.state === 'delivered') fill(controls, reviewControls(o));
    return li;
  }));

  function reviewControls(o) {
    const msg = h('div', { 'aria-live': 'assertive' });
    const box = h('div', { class: 'owed-review' });
    const call = (button, path, body) => busy(button, async () => {
      fill(msg);
      try {
        await post(`/api/v1/cases/${enc(c.id)}/owed/${enc(o.id)}/${path}`, body);
        fill(box);
        onChange();
      } catch (err) { fill(msg, errorBox(err)); }
    });
    const accept = h('button', { type: 'button', class: 'primary owed-accept', onclick: () => call(accept, 'fulfill') }, t('owed.accept'));
    const back = h('button', { type: 'button', class: 'secondary danger owed-return', onclick: askReason }, t('owed.return'));
    function askReason() {
      const reason = h('textarea', { class: 'owed-return-reason', rows: 2, maxlength: 2000, 'aria-label': t('owed.returnReason') });
      const send = h('button', { type: 'button', class: 'danger owed-return-send', onclick: () => {
        if (!reason.value.trim()) { fill(msg, h('p', { class: 'notice error small' }, t('owed.returnReason'))); reason.focus(); return; }
        call(send, 'return', { reason: reason.value.trim() });
      } }, t('owed.returnSend'));
      const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => fill(box, accept, back, msg) }, t('review.cancel'));
      fill(box, h('label', {}, t('owed.returnReason')), reason, h('div', { class: 'actions' }, send, cancel), msg);
      reason.focus();
    }
    fill(box, accept, back, msg);
    return box;
  }

  if (deliver) {
    list.cleanup = subscribe((entry, kind) => {
      const status = entry.owedItem && progress.get(entry.owedItem);
      if (!status) return;
      if (kind === 'progress' && entry.total) status.textContent = t('owed.uploading', { p: Math.floor((100 * entry.sent) / entry.total) });
      if (kind === 'state' && entry.state === 'error') fill(status, errorBox(entry.error));
      if (kind === 'state' && entry.state === 'done') onChange();
    });
  }
  return list;
}

/**
 * closedNotice says that nothing is owed any more on an approved case. It
 * reads the owed list, fresher than a case object a panel may hold; the
 * time is the case's owed_closed_at, else the last acceptance.
 */
export function closedNotice(c, owed) {
  if (c.status !== 'approved' || !owed.length || !owed.every((o) => o.fulfilled_at)) return null;
  const at = c.owed_closed_at || owed.map((o) => o.fulfilled_at).sort().at(-1);
  return h('p', { id: 'owed-closed', class: 'notice success' }, t('owed.closed', { at: dateTime(at) }));
}
