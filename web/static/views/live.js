/**
 * The officer's side of a live inspection (#/live/{lid}): the applicant's
 * camera over WHEP, push-to-talk back to the phone, snapshots, instructions,
 * live annotations tied to the checklist, who is in the room, the quality
 * of the phone's link and the position in the recording; End finishes the
 * session and the recording becomes evidence of the case. The audio
 * m-line is sendrecv with the officer's microphone when there is one (it
 * reaches the phone only while they talk), else recvonly. WHEP answers
 * 409 until the applicant has started; the page asks again every 2 s.
 * Guided filming: the checklist's coverage (which items have footage,
 * marked on the phone or here), the phone's GPS trail against the site,
 * and 拍照, which makes the phone upload a full-resolution still
 * (data-stills counts those that arrived).
 * The page is not rebuilt on a language switch, so the call goes on.
 */
import { csrfHeaders, enc, evidencePath, get, post } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { permitTypes } from '../model.js';
import { isOfficer } from './review/common.js';
import { liveNotes } from './live/notes.js';
import { endReasonText, limitWatch, livePath, memberItems, messageItem, messageLog, qualityLevel, qualityText, sendText, sessionClock, words } from './live/parts.js';
import { liveRoom } from './live/room.js';
import { resolutionWatch } from './live/resolution.js';
import { iceServersOf, resourceId, rtcLink } from './live/rtc.js';
import { snapshotStrip } from './live/snapshots.js';
import { talkButton } from './live/talk.js';
import { coverage } from './live/shots.js';
import { trackView } from './live/track.js';

const SNAPSHOT_WAIT_MS = 10000;
const STILL_WAIT_MS = 30000;

/** render draws the live page for ctx.params.lid. */
export async function render(view, ctx) {
  const lid = ctx.params.lid;
  const w = words();
  const back = h('a', { class: 'back', href: '#/cases' }, `← ${t('case.back')}`);
  view.append(back, h('p', { class: 'muted' }, t('common.loading')));
  document.title = `${t('live.title')} · ${t('app.title')}`;
  if (!isOfficer(ctx.user)) {
    fill(view, back, errorBox(new Error(t('live.officersOnly'))));
    return;
  }
  let session;
  let c = null;
  let type = null;
  try {
    session = await get(livePath(lid));
    const [kase, types] = await Promise.all([
      get(`/api/v1/cases/${enc(session.case_id)}`).catch(() => null),
      permitTypes().catch(() => []),
    ]);
    c = kase;
    type = c?.permit || types.find((p) => p.code === c?.permit_type) || null;
  } catch (err) {
    if (ctx.alive()) fill(view, back, errorBox(err));
    return;
  }
  if (!ctx.alive()) return;
  const caseHash = `#/cases/${enc(session.case_id)}`;
  back.setAttribute('href', caseHash);
  w.text(back, () => `← ${t('live.backToCase')}`);

  let state = 'connecting';
  let full = false; // the session's viewers are at the server's bound (live_viewers_full)
  let ended = false;
  let endReason = ''; // why the session ended, once it has
  let endEvidence = null; // its recording's evidence id, once it has
  let you = null;
  let members = [];
  let publishing = Boolean(session.publishing);
  let everPublished = publishing || session.recording_ms > 0;
  let viewers = session.viewers || 0;
  let quality = null;
  let mic = null; // the officer's microphone, enabled only while talking
  let viewer = ''; // the WHEP resource id, named in talk messages
  let snapTimer = 0;
  let stillTimer = 0;
  let stills = 0;
  const talkers = new Map();
  const log = messageLog();

  // The picture.
  const video = h('video', { id: 'live-video', class: 'live-video', autoplay: true, playsinline: true });
  const overlay = h('div', { id: 'live-overlay', class: 'live-overlay', role: 'status' });
  const clock = sessionClock({ id: 'live-timer' });
  const stateEl = h('span', { id: 'live-state', class: 'join-state' });
  const qualityEl = h('span', { id: 'live-quality', class: 'live-quality' });
  const talkNote = h('p', { id: 'live-talk-note', class: 'join-talk', hidden: true });
  const limit = limitWatch();
  const limitNote = h('p', { id: 'live-limit', class: 'notice small', role: 'status', hidden: true });
  const sharpness = resolutionWatch({ pc: () => link.pc() });
  const stage = h('div', { class: 'live-stage' }, video, overlay,
    h('div', { class: 'join-top' }, stateEl, clock.el, sharpness.el, qualityEl), talkNote);

  // The controls.
  const talk = talkButton({ onChange: setTalk });
  const snap = w.text(h('button', { id: 'live-snapshot', type: 'button', class: 'secondary', onclick: snapshot }), () => t('live.snapshot'));
  const stillBtn = w.text(h('button', { id: 'live-still', type: 'button', class: 'secondary', onclick: askStill }), () => t('still.take'));
  const stillNote = h('p', { id: 'live-still-note', class: 'muted small', role: 'status', hidden: true });
  const unmute = w.text(h('button', { id: 'live-unmute', type: 'button', class: 'secondary', hidden: true, onclick: () => { video.muted = false; unmute.hidden = true; video.play().catch(() => {}); } }), () => t('live.unmute'));
  const end = w.text(h('button', { id: 'live-end', type: 'button', class: 'danger secondary', onclick: confirmEnd }), () => t('live.end'));
  const controls = h('div', { class: 'actions live-controls' }, talk.el, snap, stillBtn, unmute, end);
  const endSlot = h('div', { id: 'live-end-slot' });
  const micNote = h('p', { class: 'muted small', hidden: true });
  const message = h('div', { id: 'live-msg', 'aria-live': 'polite' });

  // The side: people, the conversation with the phone, notes.
  const presence = h('ul', { id: 'live-presence', class: 'live-members' });
  const convo = h('ol', { id: 'live-messages', class: 'join-instructions', reversed: true });
  const input = h('input', { id: 'live-instruction-input', maxlength: 1000, autocomplete: 'off', enterkeyhint: 'send' });
  w.attr(input, 'placeholder', () => t('live.instructionHint'));
  w.attr(input, 'aria-label', () => t('live.instruction'));
  const sendBtn = w.text(h('button', { id: 'live-instruction-send', type: 'submit', class: 'primary small' }), () => t('join.send'));
  const roomNote = h('p', { id: 'live-room', class: 'muted small', hidden: true });
  const instructionForm = h('form', { class: 'join-reply', onsubmit: (e) => { e.preventDefault(); sendInstruction(); } }, input, sendBtn);
  const notes = liveNotes({ type, w, send: (msg) => room.send(msg), onError: (err) => fill(message, errorBox(err)), you: () => you });
  const shots = snapshotStrip({ w });
  const cover = coverage({ w, send: (msg) => room.send(msg), onError: (err) => fill(message, errorBox(err)),
    href: (m) => `${caseHash}?ev=${enc(m.evidence_id)}` });
  const trail = trackView({ w });

  const root = h('section', { id: 'live-page', class: 'live-page', dataset: { state, publishing: String(publishing), stills: '0' } },
    h('h1', { class: 'case-title' }, w.text(h('span'), () => t('live.title')),
      c && h('span', { class: 'muted live-case' }, [c.number, c.site_name].filter(Boolean).join(' · '))),
    h('div', { class: 'live-grid' },
      h('div', { class: 'live-main' }, stage, sharpness.warning, limitNote, controls, stillNote, micNote, endSlot, message, shots.el),
      h('div', { class: 'live-side' },
        h('section', { class: 'panel', 'aria-labelledby': 'live-people-title' },
          w.text(h('h2', { id: 'live-people-title' }), () => t('live.people')), presence),
        h('section', { class: 'panel', 'aria-labelledby': 'live-convo-title' },
          w.text(h('h2', { id: 'live-convo-title' }), () => t('live.instructions')), roomNote,
          instructionForm,
          convo),
        cover.el,
        trail.el,
        notes.el)));
  fill(view, back, root);

  let remote = null;
  const link = rtcLink({
    url: livePath(lid, 'whep'),
    iceServers: iceServersOf(session.ice_servers),
    headers: (method) => csrfHeaders(method),
    releaseStale: true,
    setup(pc) {
      remote = new MediaStream();
      pc.addTransceiver('video', { direction: 'recvonly' });
      if (mic) pc.addTransceiver(mic, { direction: 'sendrecv' });
      else pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.ontrack = (e) => {
        remote.addTrack(e.track);
        if (video.srcObject !== remote) video.srcObject = remote;
        play();
      };
    },
    onResource(url) {
      viewer = resourceId(url);
      // A new connection is a new viewer id: a talk in progress follows it.
      if (talk.on()) room.send({ type: 'talk', on: true, viewer });
    },
    onState(next, err) {
      if (err && next === 'stopped') {
        if (err.status === 404 || err.status === 410) finish(null);
        else fill(message, errorBox(err));
      } else if (err?.code === 'live_viewers_full') {
        // Tried again meanwhile: the officer reads why the picture waits.
        fill(message, errorBox(err));
        full = true;
      } else if (full && next === 'live') {
        fill(message);
        full = false;
      }
      setState(next);
    },
  });

  function setState(next) {
    state = next;
    root.dataset.state = ended ? 'ended' : state;
    if (state === 'live' && !ended) sharpness.start();
    else sharpness.stop();
    paint();
  }

  function paint() {
    const key = ended ? 'live.state.ended' : `live.state.${state}`;
    stateEl.textContent = t(key);
    stateEl.dataset.state = ended ? 'ended' : state;
    root.dataset.publishing = String(publishing);
    let note = '';
    if (ended) note = t('live.overlayEnded');
    else if (state === 'waiting' || !everPublished) note = t('live.waiting');
    else if (!publishing) note = t('live.paused');
    else if (state === 'reconnecting') note = t('live.reconnecting');
    else if (state === 'connecting') note = t('live.connecting');
    overlay.textContent = note;
    overlay.hidden = !note;
    const level = qualityLevel(quality);
    qualityEl.dataset.quality = level;
    qualityEl.textContent = publishing && quality ? qualityText(quality) : '';
    const names = [...talkers.values()];
    talkNote.hidden = !names.length;
    fill(talkNote, names.length ? t('live.othersTalking', { name: names.join(', ') }) : null);
    limitNote.textContent = ended ? '' : limit.text();
    limitNote.hidden = !limitNote.textContent;
    talk.el.disabled = ended || !mic || !viewer || state !== 'live';
    talk.repaint();
    micNote.hidden = Boolean(mic) || ended;
    micNote.textContent = t('live.noMic');
    snap.disabled = ended || !publishing || Boolean(snapTimer);
    stillBtn.disabled = ended || !members.some((m) => m.role === 'phone') || Boolean(stillTimer);
    controls.hidden = ended;
    instructionForm.hidden = ended;
    if (ended) {
      notes.close();
      cover.close();
    }
    fill(presence, memberItems(members, you));
    if (!members.length) presence.append(h('li', { class: 'muted small' }, t('live.viewers', { n: viewers })));
    fill(convo, [...log.items()].reverse().map((m) => messageItem(m, 'live-message')));
  }

  function play() {
    video.play().catch(() => {
      // No sound without a gesture (a reload): play muted and offer the sound.
      video.muted = true;
      unmute.hidden = false;
      video.play().catch(() => {});
    });
  }

  function setTalk(on) {
    if (on && (!mic || !viewer)) return false;
    if (!room.send({ type: 'talk', on, viewer })) {
      if (on) fill(message, errorBox(new Error(t('live.roomDown'))));
      if (mic) mic.enabled = false;
      return false;
    }
    if (mic) mic.enabled = on;
    return true;
  }

  async function snapshot() {
    fill(message);
    if (room.send({ type: 'snapshot' })) {
      snapTimer = setTimeout(() => { snapTimer = 0; paint(); }, SNAPSHOT_WAIT_MS);
      paint();
      return;
    }
    // No room: the same snapshot over HTTP.
    await busy(snap, async () => {
      try {
        const ev = await post(livePath(lid, 'snapshots'));
        shots.add({ evidence: ev, recording_ms: clock.ms(), by: you });
      } catch (err) {
        fill(message, errorBox(err));
      }
    });
  }

  /** askStill asks the phone for a full-resolution photo; it arrives as a still message. */
  function askStill() {
    fill(message);
    if (!room.send({ type: 'take_still' })) {
      fill(message, errorBox(new Error(t('live.roomDown'))));
      return;
    }
    stillNote.hidden = false;
    stillNote.textContent = t('still.waiting');
    stillTimer = setTimeout(() => { stillTimer = 0; stillNote.hidden = true; paint(); }, STILL_WAIT_MS);
    paint();
  }

  function sendInstruction() {
    if (sendText(room, input, log, you, message)) paint();
  }

  /** confirmEnd asks inline (not window.confirm, which blocks the page and the call). */
  function confirmEnd() {
    const yes = w.text(h('button', { id: 'live-end-confirm', type: 'button', class: 'danger', onclick: () => endNow(yes) }), () => t('live.endYes'));
    const no = w.text(h('button', { id: 'live-end-cancel', type: 'button', class: 'secondary', onclick: () => fill(endSlot) }), () => t('live.endNo'));
    fill(endSlot, h('div', { class: 'confirm', role: 'alertdialog', 'aria-label': t('live.end') },
      h('p', {}, t('live.endAsk')), h('div', { class: 'actions' }, yes, no)));
    yes.focus();
  }

  async function endNow(button) {
    await busy(button, async () => {
      try {
        const res = await post(livePath(lid, 'end'));
        finish(res?.evidence?.id || res?.session?.evidence_id || null, res?.session?.end_reason);
      } catch (err) {
        fill(endSlot, errorBox(err));
      }
    });
  }

  /** finish shows the end: the call closed, the way back to the case and its recording. */
  function finish(evidenceId, reason) {
    if (reason && !endReason) endReason = reason;
    if (evidenceId) endEvidence = evidenceId;
    if (!ended) {
      ended = true;
      talk.set(false);
      link.stop({ release: false });
      room.close();
      mic?.stop();
      mic = null;
      video.srcObject = null;
      clock.run(false);
    }
    paintEnded();
    setState('stopped');
  }

  /** paintEnded says the session ended, why, and where its recording is. */
  function paintEnded() {
    const href = endEvidence ? `${caseHash}?ev=${enc(endEvidence)}` : caseHash;
    const why = endReasonText(endReason);
    fill(endSlot, h('div', { id: 'live-ended', class: 'notice', role: 'status' },
      h('p', {}, t(endEvidence ? 'live.endedRecording' : 'live.endedNoRecording')),
      why ? h('p', { id: 'live-end-reason', class: 'small', dataset: { reason: endReason } }, why) : null,
      h('a', { id: 'live-case-link', class: 'button secondary', href }, t(endEvidence ? 'live.openRecording' : 'live.backToCase'))));
  }

  function onMessage(msg) {
    switch (msg.type) {
      case 'hello':
        you = msg.you || null;
        members = msg.members || [];
        if (msg.session) sync(msg.session);
        notes.load(msg.annotations);
        cover.load(msg.checklist, msg.annotations);
        trail.set({ site: msg.site, points: msg.track, warnM: msg.track_summary?.warn_m });
        break;
      case 'shot':
        cover.mark(msg.annotation);
        notes.add(msg.annotation);
        return;
      case 'position':
        trail.add(msg.position, msg.warn_m);
        return;
      case 'take_still':
        return;
      case 'still': {
        shots.add(msg);
        stills++;
        root.dataset.stills = String(stills);
        root.dataset.stillEvidence = msg.evidence?.id || '';
        clearTimeout(stillTimer);
        stillTimer = 0;
        // The size is the photo's own, read from the original as it loads.
        const img = new Image();
        img.onload = () => {
          if (!ctx.alive()) return;
          root.dataset.stillSize = `${img.naturalWidth}x${img.naturalHeight}`;
          stillNote.hidden = false;
          stillNote.textContent = t('still.arrived', { w: img.naturalWidth, h: img.naturalHeight });
        };
        if (msg.evidence?.id) img.src = evidencePath(msg.evidence.id, 'content');
        break;
      }
      case 'presence':
        members = msg.members || [];
        break;
      case 'instruction':
        log.add(msg, you);
        break;
      case 'annotation':
        notes.add(msg.annotation);
        return;
      case 'snapshot':
        shots.add(msg);
        clearTimeout(snapTimer);
        snapTimer = 0;
        break;
      case 'talk':
        if (!msg.from || (you && msg.from.id === you.id)) return;
        if (msg.on) talkers.set(msg.from.id, msg.from.name || '');
        else talkers.delete(msg.from.id);
        break;
      case 'state':
        sync(msg);
        break;
      case 'quality':
        quality = msg.publisher || null;
        break;
      case 'error':
        // Errors name no request; the newest thing waiting for an answer is the likely one.
        fill(message, errorBox(msg.error?.code ? msg.error : new Error(t('error.generic'))));
        if (snapTimer) {
          clearTimeout(snapTimer);
          snapTimer = 0;
        } else if (!notes.failLast()) log.failLast();
        break;
      case 'ended':
        finish(msg.evidence_id || null, msg.reason);
        return;
      default:
        return;
    }
    paint();
  }

  function sync(s) {
    limit.sync(s);
    publishing = Boolean(s.publishing);
    everPublished = everPublished || publishing;
    if (Number.isFinite(s.viewers)) viewers = s.viewers;
    clock.sync(s.recording_ms, publishing);
    if (s.status === 'ended') finish(s.evidence_id || null, s.end_reason);
  }

  const room = liveRoom(lid, {
    onMessage: (msg) => { if (ctx.alive() && !ended) onMessage(msg); },
    onStatus: (s, failures) => {
      roomNote.hidden = s === 'open' || s === 'closed' || s === 'connecting';
      roomNote.textContent = t('live.roomReconnecting');
      // The server stops a talk when its room connection goes; so does the button.
      if (s !== 'open' && talk.on()) talk.set(false);
      if (s === 'reconnecting' && failures % 3 === 0) checkSession();
    },
  });

  /** checkSession asks the API why the room keeps refusing: the session may have ended meanwhile. */
  async function checkSession() {
    try {
      const s = await get(livePath(lid));
      if (ctx.alive() && s.status === 'ended') finish(s.evidence_id || null, s.end_reason);
    } catch { /* the room keeps trying; the message area shows nothing new */ }
  }

  const leaving = () => { link.stop({ keepalive: true }); };
  window.addEventListener('pagehide', leaving);
  ctx.onCleanup(() => {
    window.removeEventListener('pagehide', leaving);
    if (talk.on()) room.send({ type: 'talk', on: false, viewer });
    link.stop({ keepalive: true });
    room.close();
    mic?.stop();
    clock.stop();
    sharpness.stop();
    clearTimeout(snapTimer);
    clearTimeout(stillTimer);
  });
  ctx.keepOnLangChange(() => {
    document.title = `${t('live.title')} · ${t('app.title')}`;
    w.redo();
    notes.repaint();
    shots.repaint();
    cover.repaint();
    trail.repaint();
    sharpness.repaint();
    if (ended) paintEnded();
    paint();
  });

  clock.sync(session.recording_ms, publishing);
  if (session.status === 'ended') {
    finish(session.evidence_id || null, session.end_reason);
    return;
  }
  paint();
  // Ask for the microphone first: with it the offer's audio is sendrecv.
  if (navigator.mediaDevices?.getUserMedia) {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
      mic = s.getAudioTracks()[0] || null;
      if (mic) mic.enabled = false;
    } catch { /* no microphone or not allowed: listen only */ }
  }
  if (!ctx.alive() || ended) {
    mic?.stop();
    return;
  }
  link.start();
  paint();
}
