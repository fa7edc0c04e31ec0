/**
 * A case's live inspections on its page, for the office: the sessions,
 * newest first, with the way into each, and for the case's inspector
 * while the case is in review a button that opens one. The answer carries
 * the applicant's link with the publish token, which the server shows only
 * once, so it goes up at once with a copy button and a ready-made message
 * for the applicant. This tab keeps the link (sessionStorage) so it can be
 * shown and copied again while the session is open; the inspector may also
 * issue a fresh link (POST /live/{lid}/link), which revokes the old one.
 * Below the sessions: guided filming's coverage (which checklist items
 * have footage, linked to their moment in the recording or take) and the
 * phone's GPS trail against the site (GET /cases/{id}/coverage).
 */
import { enc, get, listOf, post } from '../../api.js';
import { busy, errorBox, fill, h } from '../../dom.js';
import { dateTime, fromDateTimeValue } from '../../format.js';
import { t } from '../../i18n.js';
import { can } from '../../model.js';
import { endedNote, words } from './parts.js';
import { coverage } from './shots.js';
import { trackView } from './track.js';

// Links opened since the page loaded, by case id. The token cannot be
// fetched again, and a language switch or a status change redraws the
// case page; this keeps the link on screen until the page is left, and
// sessionStorage keeps it for this tab across reloads.
const opened = new Map();
const storeKey = (lid) => `siteinspect.live-link.${lid}`;

/** remember keeps a session's link for this page and this tab. */
function remember(caseId, s) {
  opened.set(caseId, s);
  try {
    sessionStorage.setItem(storeKey(s.id), JSON.stringify({ id: s.id, join_url: s.join_url, token_expires_at: s.token_expires_at }));
  } catch { /* storage refused (private mode): the link stays until the page is left */ }
}

/** recalled is the link this tab kept for the session lid, or null. */
function recalled(lid) {
  try {
    return JSON.parse(sessionStorage.getItem(storeKey(lid)) || 'null');
  } catch {
    return null;
  }
}

/** joinURL is the full address the applicant opens on the phone. */
export const joinURL = (s) => new URL(s.join_url, window.location.origin).href;

/** liveSessions returns {el, refresh()} for the case c. */
export function liveSessions({ user, c }) {
  let sessions = [];
  const list = h('ul', { id: 'live-sessions', class: 'live-sessions' });
  const message = h('div', { 'aria-live': 'polite' });
  const invite = h('div', { id: 'live-invite' });
  const starter = h('div', { class: 'live-starter' });
  const el = h('section', { id: 'live-panel', class: 'panel live-panel', 'aria-labelledby': 'live-panel-title', hidden: true },
    h('h2', { id: 'live-panel-title' }, t('live.section')),
    h('p', { class: 'muted small' }, t('live.sectionHint')),
    starter, invite, message, list);
  const mayStart = () => can(c, 'start_live');
  const w = words();
  const cover = coverage({ w, id: 'case-coverage', href: (m) => `#/cases/${enc(c.id)}?ev=${enc(m.evidence_id)}` });
  const trails = h('div', { id: 'case-tracks' });
  const guided = h('div', { class: 'live-guided', hidden: true }, cover.el, trails);
  el.append(guided);

  const schedule = h('input', { id: 'live-schedule', type: 'datetime-local' });
  const start = h('button', { id: 'live-start', type: 'button', class: 'primary', onclick: () => open() }, t('live.start'));
  const startForm = [
    h('div', { class: 'actions' }, start),
    h('details', { class: 'live-schedule' },
      h('summary', {}, t('live.scheduleLater')),
      h('label', { for: 'live-schedule' }, t('live.scheduledAt')), schedule,
      h('p', { class: 'muted small' }, t('live.scheduleHint'))),
  ];

  async function open() {
    fill(message);
    const body = {};
    if (schedule.value) {
      // The time typed is the office's clock time, not the device's.
      const at = fromDateTimeValue(schedule.value);
      if (!at) {
        fill(message, errorBox(new Error(t('live.badTime'))));
        return;
      }
      body.scheduled_at = at;
    }
    await busy(start, async () => {
      try {
        const s = await post(`/api/v1/cases/${enc(c.id)}/live`, body);
        remember(c.id, s);
        schedule.value = '';
        paintInvite();
        await refresh();
      } catch (err) {
        fill(message, errorBox(err));
        if (err.status === 409) refresh();
      }
    });
  }

  let confirming = false; // the reissue's "the old link stops working" step is on screen

  /** reissue asks for a fresh link; the old one is revoked on the server. */
  async function reissue(button, lid) {
    fill(message);
    await busy(button, async () => {
      try {
        const s = await post(`/api/v1/live/${enc(lid)}/link`, {});
        remember(c.id, s);
        confirming = false;
        paintInvite();
        fill(message, h('p', { class: 'notice small', role: 'status' }, t('live.reissued')));
      } catch (err) {
        fill(message, errorBox(err));
        if (err.status === 422) refresh();
      }
    });
  }

  /** reissueControls is the button that offers a fresh link, with its confirmation step. */
  function reissueControls(lid) {
    if (!mayStart()) return null;
    if (!confirming) {
      return h('button', { id: 'live-link-reissue', type: 'button', class: 'secondary small', onclick: () => { confirming = true; paintInvite(); } }, t('live.reissue'));
    }
    const yes = h('button', { id: 'live-link-reissue-confirm', type: 'button', class: 'primary small', onclick: () => reissue(yes, lid) }, t('live.reissueConfirm'));
    return h('div', { class: 'notice small live-reissue-confirm', role: 'alert' },
      h('p', {}, t('live.reissueWarn')),
      h('div', { class: 'actions' }, yes,
        h('button', { type: 'button', class: 'secondary small', onclick: () => { confirming = false; paintInvite(); } }, t('review.cancel'))));
  }

  function paintInvite() {
    const live = sessions.find((x) => x.status === 'open');
    let s = opened.get(c.id);
    if (live && (!s || s.id !== live.id)) s = recalled(live.id);
    if (!s || sessions.some((x) => x.id === s.id && x.status === 'ended')) {
      // An open session whose link this tab does not hold: offer a fresh one.
      fill(invite, live && mayStart() && h('div', { class: 'live-invite notice', dataset: { liveId: live.id } },
        h('p', { class: 'small' }, t('live.linkLost')), reissueControls(live.id)));
      return;
    }
    const url = joinURL(s);
    const text = t('live.inviteText', { url, until: dateTime(s.token_expires_at) });
    const link = h('input', { id: 'live-join-url', readonly: true, value: url, onfocus: () => link.select() });
    const note = h('textarea', { id: 'live-join-text', readonly: true, rows: 5, value: text, onfocus: () => note.select() });
    const status = h('p', { class: 'small live-copy-status', 'aria-live': 'polite' });
    const copy = async (field) => {
      try {
        await navigator.clipboard.writeText(field.value);
        status.textContent = t('live.copied');
      } catch {
        // No clipboard (plain http, or refused): leave it selected for a manual copy.
        field.focus();
        field.select();
        status.textContent = t('live.copyManual');
      }
    };
    fill(invite, h('div', { class: 'live-invite notice', dataset: { liveId: s.id } },
      h('h3', {}, t('live.inviteTitle')),
      h('p', { class: 'small' }, t('live.inviteOnce')),
      reissueControls(s.id),
      h('label', { for: 'live-join-url' }, t('live.joinLink')),
      h('div', { class: 'live-copy-row' }, link,
        h('button', { id: 'live-join-copy', type: 'button', class: 'secondary small', onclick: () => copy(link) }, t('live.copy'))),
      h('label', { for: 'live-join-text' }, t('live.inviteMessage')),
      note,
      h('div', { class: 'actions' },
        h('button', { id: 'live-join-text-copy', type: 'button', class: 'secondary small', onclick: () => copy(note) }, t('live.copyMessage')),
        h('a', { id: 'live-open', class: 'button primary small', href: `#/live/${enc(s.id)}` }, t('live.openLive'))),
      status));
  }

  function row(s) {
    const recording = s.evidence_id || s.evidence?.id;
    const ended = s.status === 'ended' ? endedNote(s) : '';
    return h('li', { class: 'live-session', dataset: { liveId: s.id, status: s.status } },
      h('span', { class: `badge live-status-${s.status}` }, t(s.status === 'open' ? 'live.status.open' : 'live.status.ended')),
      h('span', { class: 'live-session-when' }, dateTime(s.created_at)),
      s.scheduled_at && h('span', { class: 'muted small' }, t('live.scheduledFor', { at: dateTime(s.scheduled_at) })),
      ended && h('span', { class: 'muted small live-session-end', dataset: { reason: s.end_reason || '' } }, ended),
      s.status === 'open'
        ? h('a', { class: 'button secondary small live-open-link', href: `#/live/${enc(s.id)}` }, t('live.openLive'))
        : recording && h('a', { class: 'live-recording-link', href: `#/cases/${enc(c.id)}?ev=${enc(recording)}` }, t('live.openRecording')));
  }

  function paint() {
    const anyOpen = sessions.some((s) => s.status === 'open');
    fill(starter, mayStart() && !anyOpen ? startForm : null);
    fill(list, sessions.map(row));
    if (!sessions.length) list.append(h('li', { class: 'muted small' }, t('live.none')));
    paintInvite();
    el.hidden = !sessions.length && !mayStart();
  }

  async function refresh() {
    try {
      const res = await get(`/api/v1/cases/${enc(c.id)}/live`);
      sessions = Array.isArray(res?.sessions) ? res.sessions : listOf(res);
    } catch (err) {
      // Not this officer's case (403), or no live inspections on this server (404).
      if (err.status === 403 || err.status === 404) {
        el.hidden = true;
        return;
      }
      el.hidden = false;
      fill(message, errorBox(err));
      return;
    }
    paint();
    await paintGuided();
  }

  /** paintGuided shows the coverage and the tracks once the case has had a live inspection. */
  async function paintGuided() {
    if (!sessions.length) {
      guided.hidden = true;
      return;
    }
    let res;
    try {
      res = await get(`/api/v1/cases/${enc(c.id)}/coverage`);
    } catch {
      guided.hidden = true; // the sessions above still show; coverage is an addition
      return;
    }
    const marks = [];
    for (const it of res.items || []) for (const m of it.marks || []) marks.push({ ...m, item: it.id });
    cover.load(res.items || [], marks);
    fill(trails, (res.tracks || []).map((tr, i) => {
      const v = trackView({ w, id: `case-track-${i}` });
      v.set({ site: res.site, points: tr.points, warnM: tr.summary?.warn_m });
      return v.el;
    }));
    guided.hidden = false;
  }

  return { el, refresh };
}
