/**
 * One case, for every role: what it is and where it stands, the actions the
 * current user may take now, the evidence, and (for the applicant while the
 * case is open for material) the upload panel. Officers get the review
 * workspace and the case's live inspections once the case is taken;
 * applicants see requests, owed materials and the outcome. A live event
 * stream keeps the page current; a change of status or of the officers on
 * the case redraws the page for the new stage.
 */
import { enc, get, post, request } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { date, dateTime } from '../format.js';
import { pick, t } from '../i18n.js';
import { can, canUpload, isClosed, isOverdue, permitName, permitTypes, statusBadge } from '../model.js';
import { evidenceList } from './evidence.js';
import { placeLink } from './evmeta.js';
import { WORKSPACE_STATUSES, isOfficer } from './review/common.js';
import { caseEvents } from './review/live.js';
import { applicantOutcome, reportLink } from './review/record.js';
import { commitmentPanel } from './owed.js';
import { receipt } from './receipt.js';
import { uploadPanel } from './uploadpanel.js';
import { ratingPanel, urgentBadge, urgentControls } from './rating.js';
import { routeControl } from './route.js';

/** render draws the case page for ctx.params.id into view. */
export async function render(view, ctx) {
  const id = ctx.params.id;
  const back = h('a', { class: 'back', href: '#/cases' }, `← ${t('case.back')}`);
  view.append(back, h('p', { class: 'muted' }, t('common.loading')));
  // Only office staff get the review workspace and the live sessions, so
  // only they fetch that code, while the case itself is on its way.
  const officerCode = isOfficer(ctx.user)
    ? Promise.all([import('./review/workspace.js'), import('./live/sessions.js')])
    : null;
  officerCode?.catch(() => {}); // awaited below only on a workspace page
  // The document slots are the applicant's alone: off the shell's first load.
  const slotCode = ctx.user.role === 'applicant' ? import('./slots.js') : null;
  let slotPanel = null;
  let c;
  let types;
  let reviewWorkspace;
  let liveSessions;
  // The events the page has seen: what it reads from here on holds all of
  // them, so the event stream starts after them rather than replaying the
  // case's history (and reloading every part) on connect.
  let eventsAfter = '';
  try {
    [c, types] = await Promise.all([
      request('GET', `/api/v1/cases/${enc(id)}`, undefined, {}, (res) => { eventsAfter = res.headers.get('X-Events-After') || ''; }),
      permitTypes().catch(() => []),
    ]);
    if (slotCode) ({ slotPanel } = await slotCode);
    if (officerCode && WORKSPACE_STATUSES.has(c.status)) {
      [{ reviewWorkspace }, { liveSessions }] = await officerCode;
    }
  } catch (err) {
    if (ctx.alive()) fill(view, back, errorBox(err));
    return;
  }
  if (!ctx.alive()) return;

  const role = ctx.user.role;
  const head = h('section', { class: 'case-head' });
  const actions = h('div', { class: 'actions' });
  const message = h('div', { 'aria-live': 'polite' });
  const uploadSlot = h('div');
  const urgentSlot = h('div');
  // The applicant's submit sits below the files it hands in, apart from
  // 撤回申请 at the top; the receipt follows a submission.
  const submitSlot = h('div', { id: 'case-submit-area' });
  const receiptSlot = h('div');
  const SUBMITTED_KEY = 'siteinspect.submitted';
  // The case's own version of its type (its checklist stays as it was
  // when the case was opened); the catalogue's for an older server.
  const type = c.permit || types.find((p) => p.code === c.permit_type);
  const officer = isOfficer(ctx.user) && WORKSPACE_STATUSES.has(c.status);
  let ws = null;
  const evidence = evidenceList(id, officer ? {
    onOpen: (item) => ws?.open(item),
    onChange: (item) => ws?.itemChanged(item),
  } : {});
  ctx.onCleanup(evidence.cleanup);
  let panel = null;
  // The permit type's document slots, for the applicant.
  const slots = slotPanel && type?.materials?.length
    ? slotPanel(c, type, { onChange: () => { evidence.refresh(); reload().catch(() => {}); } })
    : null;
  if (slots) ctx.onCleanup(slots.cleanup);
  const refreshSlots = () => slots?.refresh().then(paintSubmit).catch((err) => fill(message, errorBox(err)));
  // What the page is built for; when it changes the page is drawn afresh.
  const stageOf = (x) => JSON.stringify([x.status, x.inspector?.id || '', x.reviewer?.id || '']);
  const stage = stageOf(c);

  const reload = async () => {
    c = await get(`/api/v1/cases/${enc(id)}`);
    if (!ctx.alive()) return;
    if (stageOf(c) !== stage) ctx.navigate(window.location.hash);
    else paint();
  };

  /** act runs one state change, then shows the case as the server now has it. */
  const act = (button, path, body) => busy(button, async () => {
    fill(message);
    try {
      await post(`/api/v1/cases/${enc(id)}/${path}`, body);
      await reload();
    } catch (err) {
      fill(message, errorBox(err));
    }
  });

  function paint() {
    document.title = `${c.number || ''} · ${t('app.title')}`;
    fill(head, header(c, types));
    fill(actions, buttons());
    paintUploads();
    slots?.setCase(c);
    paintSubmit();
    if (role === 'applicant') fill(receiptSlot, receipt(c, types, { open: c.status === 'submitted' }));
  }

  /** paintSubmit draws submit under the files, enabled once there is at least one. */
  function paintSubmit() {
    // The server's policy says what this user may do now (allowed_actions).
    if (!can(c, 'submit')) {
      fill(submitSlot);
      return;
    }
    const missing = slots ? slots.missing() : [];
    const ready = c.evidence_count > 0 && missing.length === 0;
    const note = missing.length
      ? t('slots.submitMissing', { list: missing.map((m) => pick(m)).join(t('slots.listSep')) })
      : ready ? t('case.submitReady') : t('case.submitNeedsFiles');
    const submit = h('button', { id: 'case-submit', type: 'button', class: 'primary', disabled: !ready,
      'aria-describedby': 'case-submit-note',
      onclick: () => {
        // The page is drawn afresh for the new status: it then shows the receipt.
        try { sessionStorage.setItem(SUBMITTED_KEY, id); } catch { /* private mode */ }
        return act(submit, 'submit');
      } }, t('case.submit'));
    fill(submitSlot, h('div', { class: 'panel submit-panel' },
      h('p', { id: 'case-submit-note', class: `small ${ready ? '' : 'muted'}` }, note),
      h('div', { class: 'actions' }, submit)));
  }

  function buttons() {
    const list = [];
    if (can(c, 'withdraw')) {
      // Apart from submit (which sits under the files) and not red: a
      // quiet way out, confirmed inline.
      list.push(h('button', { id: 'case-withdraw', type: 'button', class: 'secondary', onclick: confirmWithdraw }, t('case.withdraw')));
    }
    if (can(c, 'take') && !c.inspector) {
      const take = h('button', { id: 'case-take', type: 'button', class: 'primary', onclick: () => act(take, 'assign', {}) }, t('case.take'));
      list.push(take);
    }
    if (can(c, 'take_review') && !c.reviewer) {
      const take = h('button', { id: 'case-take-review', type: 'button', class: 'secondary', onclick: () => act(take, 'assign', {}) }, t('case.takeReview'));
      list.push(take);
    }
    if (can(c, 'release_review')) {
      const release = h('button', { id: 'case-release-review', type: 'button', class: 'secondary', onclick: () => act(release, 'release') }, t('case.releaseReview'));
      list.push(release);
    }
    // 特事特办: officers of the office and supervisors mark or clear.
    list.push(...urgentControls(c, urgentSlot, (next) => { c = next; paint(); }));
    // An admin routes the case to a unit (分中心) of the office.
    list.push(routeControl(c, (next) => { c = next; paint(); }));
    if (role !== 'applicant') list.push(reportLink(c));
    return list;
  }

  /** confirmWithdraw asks inline (not window.confirm, which blocks the page): withdrawal is final. */
  function confirmWithdraw() {
    const yes = h('button', { id: 'case-withdraw-confirm', type: 'button', class: 'danger', onclick: () => act(yes, 'withdraw') }, t('case.withdrawYes'));
    const no = h('button', { id: 'case-withdraw-cancel', type: 'button', class: 'secondary', onclick: paint }, t('case.withdrawNo'));
    fill(actions, h('div', { class: 'confirm', role: 'alertdialog', 'aria-label': t('case.withdraw') },
      h('p', {}, t('case.withdrawAsk')), h('div', { class: 'actions' }, yes, no)));
    yes.focus();
  }

  function paintUploads() {
    if (role !== 'applicant') return;
    if (!canUpload(c)) {
      panel?.cleanup();
      panel = null;
      fill(uploadSlot, isClosed(c.status) ? null : h('p', { class: 'muted small' }, t('upload.closed')));
      return;
    }
    if (!panel) {
      // A finished upload changes the case's file count, which enables submit.
      panel = uploadPanel(id, { onDone: () => { evidence.refresh(); refreshSlots(); reload().catch(() => {}); } });
      fill(uploadSlot,
        h('p', { class: 'muted small' }, t('case.submitHint')),
        panel.el);
    }
  }
  ctx.onCleanup(() => panel?.cleanup());

  const checklist = !officer && type?.checklist?.length
    ? h('details', { class: 'panel checklist', open: role === 'applicant' && canUpload(c) },
      h('summary', {}, t('case.checklist')),
      h('ul', {}, type.checklist.map((item) => h('li', {}, pick(item.text)))))
    : null;
  const outcome = role === 'applicant' ? applicantOutcome(id) : null;
  // 好差评: the applicant rates the final decision and reads the follow-up.
  const rating = role === 'applicant' ? ratingPanel(id) : null;
  // 承诺办: the applicant signs the commitment on the draft, before submitting.
  const commitment = role === 'applicant' && type?.commitment_allowed && c.status === 'draft' ? commitmentPanel(id, type) : null;
  const livePanel = officer ? liveSessions({ user: ctx.user, c }) : null;
  if (officer) {
    ws = reviewWorkspace({
      user: ctx.user, c, type, items: evidence.items, onOpen: evidence.markOpen,
      onDecided: () => reload().catch((err) => fill(message, errorBox(err))),
      startEvidence: ctx.query.get('ev') || '',
    });
    ctx.onCleanup(ws.cleanup);
  }

  // Others' changes arrive as events; each names the parts to reload.
  const live = caseEvents(id, eventsAfter, (parts) => {
    if (!ctx.alive()) return;
    if (parts.has('case') || parts.has('record')) reload().catch(() => {});
    if (parts.has('evidence')) { evidence.refresh(); refreshSlots(); }
    if (parts.has('evidence') || parts.has('case')) livePanel?.refresh();
    if (parts.has('record')) outcome?.refresh(c);
    if (parts.has('rating') || parts.has('case')) rating?.refresh(c).catch(() => {});
    ws?.refresh(parts);
  });
  ctx.onCleanup(live.close);

  paint();
  // An officer's workspace is two columns on a desk: the case's evidence
  // beside the stage, not under it at the foot of a long page.
  const body = ws
    ? h('div', { id: 'case-workspace-layout', class: 'case-ws-layout' },
      h('aside', { class: 'case-ws-evidence', 'aria-label': t('review.evidenceColumn') }, evidence.el),
      h('div', { class: 'case-ws-main' }, ws.el, ws.panels))
    : [ws?.el, ws?.panels, checklist, slots?.el, uploadSlot, evidence.el, submitSlot];
  fill(view, back, head, actions, urgentSlot, message, receiptSlot, outcome?.el, rating?.el, commitment?.el, livePanel?.el, body);
  let submitted = null;
  try { submitted = sessionStorage.getItem(SUBMITTED_KEY); } catch { /* private mode */ }
  if (submitted === id && c.status !== 'draft') {
    try { sessionStorage.removeItem(SUBMITTED_KEY); } catch { /* private mode */ }
    document.getElementById('case-receipt')?.scrollIntoView({ block: 'start' });
  }
  evidence.refresh();
  refreshSlots();
  livePanel?.refresh();
  outcome?.refresh(c);
  rating?.refresh(c);
  commitment?.refresh(c).catch((err) => fill(message, errorBox(err)));
}

/** header shows number, status and the facts an officer or applicant looks for first. */
function header(c, types) {
  const person = (p) => (p ? [p.display_name || p.username, p.org].filter(Boolean).join(' · ') : t('case.unassigned'));
  const overdue = isOverdue(c);
  const fact = (label, value, cls) => h('div', { class: `fact ${cls || ''}` }, h('dt', {}, label), h('dd', {}, value));
  return [
    h('h1', { class: 'case-title' },
      h('span', { id: 'case-number' }, c.number || c.id),
      statusBadge(c.status, { id: 'case-status' }),
      urgentBadge(c),
      c.timestamp_pending && h('span', { class: 'badge timestamp-pending', id: 'case-timestamp-pending', title: t('case.timestampPendingHint') }, t('case.timestampPending'))),
    h('p', { class: 'case-permit' }, permitName(types, c.permit_type)),
    h('dl', { class: 'facts' },
      fact(t('case.site'), c.site_name || t('common.none')),
      fact(t('case.address'), c.site_address || t('common.none')),
      Number.isFinite(c.site_lat) && Number.isFinite(c.site_lon)
        && fact(t('case.coords'), placeLink({ lat: c.site_lat, lon: c.site_lon }), 'site-coords'),
      fact(t('case.due'), [dateTime(c.due_at), overdue && h('span', { class: 'badge overdue' }, t('cases.overdue'))], overdue ? 'is-overdue' : ''),
      c.urgent?.active && fact(t('urgent.badge'), [t('urgent.fact', { reason: c.urgent.reason, at: dateTime(c.urgent.target_at), h: c.urgent.target_hours })], 'urgent-fact'),
      c.owed_open > 0 && fact(t('case.owed'), [c.owed_due_at ? t('case.owedCount', { n: c.owed_open, at: date(c.owed_due_at) }) : t('case.owedDelivered', { n: c.owed_open }),
        c.owed_overdue && h('span', { class: 'badge overdue' }, t('cases.overdue'))], c.owed_overdue ? 'is-overdue owed-fact' : 'owed-fact'),
      c.owed_closed_at && fact(t('case.owed'), t('case.owedClosed', { at: dateTime(c.owed_closed_at) }), 'owed-fact owed-closed'),
      fact(t('case.created'), dateTime(c.created_at)),
      c.submitted_at && fact(t('case.submittedAt'), dateTime(c.submitted_at)),
      fact(t('case.applicant'), person(c.applicant)),
      c.credit_code && fact(t('newcase.creditCode'), c.credit_code, 'credit-code'),
      c.contact_name && fact(t('newcase.contactName'), [c.contact_name, c.contact_phone].filter(Boolean).join(' · '), 'contact'),
      fact(t('case.inspector'), person(c.inspector))),
    c.description && h('div', { class: 'description' }, h('h2', {}, t('case.description')), h('p', {}, c.description)),
  ];
}
