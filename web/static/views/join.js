/**
 * The applicant's phone in a live inspection (#/join/{lid}?token=…). There
 * is no sign-in: the publish token from the link is the credential (Bearer
 * on HTTP, ?token= on the room), so the page works for someone who has
 * never had an account, and the same for a signed-in user. The rear camera
 * starts first; the phone switches cameras and lights the torch without
 * interrupting the stream. Start publishes over WHIP with the audio m-line
 * sendrecv, so the inspector's voice plays here; a dropped connection is
 * replaced by a new POST with the same token. The inspector's instructions
 * arrive over the room and are shown large, newest on top of the picture.
 * While it publishes, the phone also records the camera and microphone
 * itself (live/recorder.js) and keeps the recording until it is uploaded
 * (live/recupload.js): if the call broke up, that upload starts by itself
 * when publishing stops or the session ends; otherwise it is offered.
 * For tests the root carries data-state (idle, connecting, live,
 * reconnecting, stopped) and data-instructions (how many have arrived);
 * each arrived instruction is an element with the class live-instruction;
 * data-local-recording and data-upload-evidence follow the phone's own
 * recording (see live/recupload.js).
 * Guided filming: the case's checklist is a shot list (live/shots.js) whose
 * marks go to the room; with the applicant's consent the position goes to
 * the room every few seconds (live/track.js); an officer's take_still makes
 * the phone photograph, stamp and upload a full-resolution still
 * (live/still.js). data-stills counts the stills uploaded, data-still-size
 * is the last one's width×height.
 * A take without streaming (一镜到底, docs/LIVE.md): 只录制 records the
 * camera with the phone's own recorder and publishes nothing; the shot
 * list's marks are kept with the take only (not sent to the room, so the
 * session's coverage counts them once, from the take), and 停止并上传 ends
 * the take and uploads it at once with its marks. data-state is taking
 * meanwhile.
 */
import { ApiError, errorFromResponse } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { camera, hasCamera } from './live/camera.js';
import { endReasonText, limitWatch, livePath, memberItems, messageItem, messageLog, qualityLevel, sendText, sessionClock, words } from './live/parts.js';
import { localRecording } from './live/recorder.js';
import { recordingPanel } from './live/recupload.js';
import { liveRoom } from './live/room.js';
import { iceServersOf, keepResolution, rtcLink } from './live/rtc.js';
import { shotGuide } from './live/shots.js';
import { takeStill } from './live/still.js';
import { positionSharing } from './live/track.js';

const PAGE_STATE = { idle: 'idle', connecting: 'connecting', waiting: 'connecting', live: 'live', reconnecting: 'reconnecting', stopped: 'stopped' };

/** bearerGet reads JSON with the publish token and without the cookie session. */
async function bearerGet(path, token) {
  let res;
  try {
    res = await fetch(path, { headers: { Accept: 'application/json', Authorization: `Bearer ${token}` }, credentials: 'omit' });
  } catch {
    throw new ApiError(0, 'network', t('error.network'));
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res.json();
}

/** linkError says what a refused link or publish means for the person holding the phone. */
function linkError(err) {
  if (err?.status === 401) return new Error(t('join.expired'));
  if (err?.status === 404 || err?.status === 410) return new Error(t('join.ended'));
  if (err?.status === 415) return new Error(t('join.codec'));
  return err;
}

/** cameraError explains why the camera did not open. */
function cameraError(err) {
  if (err?.name === 'NotAllowedError' || err?.name === 'SecurityError') return new Error(t('join.cameraDenied'));
  if (err?.name === 'NotFoundError' || err?.name === 'OverconstrainedError') return new Error(t('join.noCamera'));
  if (err?.name === 'NotReadableError') return new Error(t('join.cameraBusy'));
  return new Error(t('join.cameraFailed'));
}

/** render draws the phone page for ctx.params.lid with the token from the link. */
export async function render(view, ctx) {
  const lid = ctx.params.lid;
  // A token never holds a space: one here is a '+' that a form decoder turned into one.
  const token = (ctx.query.get('token') || '').replace(/ /g, '+');
  const w = words();
  const root = h('section', { id: 'live-join', class: 'live-join', dataset: { state: 'idle', instructions: '0', localRecording: 'none', stills: '0' } });
  const title = w.text(h('h1', { class: 'join-title' }), () => t('join.title'));
  view.append(root);
  document.title = `${t('join.title')} · ${t('app.title')}`;
  if (!token) {
    fill(root, title, errorBox(new Error(t('join.noToken'))));
    return;
  }
  fill(root, title, h('p', { class: 'muted' }, t('common.loading')));
  let session;
  try {
    session = await bearerGet(livePath(lid), token);
  } catch (err) {
    if (ctx.alive()) fill(root, title, errorBox(linkError(err)));
    return;
  }
  if (!ctx.alive()) return;

  let state = 'idle';
  let ended = session.status === 'ended';
  let savedOnServer = false; // the server kept the stream's recording (paintEnd)
  let endReason = session.end_reason || ''; // why it ended, once it has
  let endShown = ''; // the end message on screen
  let you = null;
  let members = [];
  let viewers = session.viewers || 0;
  let quality = null;
  const talking = new Map(); // member id → name, while they talk to the phone
  const log = messageLog();
  let wake = null;
  let videoTx = null; // the transceivers of the current connection
  let audioTx = null;
  let publishing = false; // from Start until publishing stops: the phone records meanwhile
  let wasLive = false;
  let broke = false; // the call broke up since the last upload: send the phone's recording
  let taking = false; // a take recorded without streaming (一镜到底)

  // The picture and what lies over it.
  const preview = h('video', { id: 'join-preview', class: 'join-preview', autoplay: true, playsinline: true });
  preview.muted = true; // the property, not the attribute, lets it play without a tap
  const voice = h('audio', { id: 'join-voice', autoplay: true });
  const stateEl = h('span', { id: 'join-state', class: 'join-state', role: 'status' });
  const clock = sessionClock({ id: 'join-timer' });
  const watchers = h('span', { id: 'join-viewers', class: 'join-viewers' });
  const signal = h('span', { id: 'join-signal', class: 'join-signal' });
  const talkNote = h('p', { id: 'join-talk', class: 'join-talk', hidden: true });
  const limit = limitWatch();
  const limitNote = h('p', { id: 'join-limit', class: 'notice small', role: 'status', hidden: true });
  const latest = h('div', { id: 'join-latest', class: 'join-latest', 'aria-live': 'assertive', hidden: true });
  const stage = h('div', { class: 'join-stage' }, preview,
    h('div', { class: 'join-top' }, stateEl, clock.el, watchers, signal), talkNote, latest);

  // The controls under the picture.
  const start = w.text(h('button', { id: 'join-start', type: 'button', class: 'primary join-big', onclick: () => startPublishing() }), () => t('join.start'));
  const take = w.text(h('button', { id: 'join-take', type: 'button', class: 'secondary join-big', onclick: () => startTake() }), () => t('join.take'));
  const takeStop = w.text(h('button', { id: 'join-take-stop', type: 'button', class: 'danger join-big', hidden: true, onclick: () => stopTake() }), () => t('join.takeStop'));
  const stop = w.text(h('button', { id: 'join-stop', type: 'button', class: 'danger join-big', hidden: true, onclick: () => stopPublishing() }), () => t('join.stop'));
  const flip = w.text(h('button', { id: 'join-switch', type: 'button', class: 'secondary', hidden: true, onclick: () => busy(flip, switchCamera) }), () => t('join.switch'));
  const torch = h('button', { id: 'join-torch', type: 'button', class: 'secondary', hidden: true, 'aria-pressed': 'false', onclick: () => busy(torch, toggleTorch) });
  const retryCamera = w.text(h('button', { id: 'join-camera-retry', type: 'button', class: 'secondary', hidden: true, onclick: () => busy(retryCamera, openCamera) }), () => t('join.cameraRetry'));
  const sound = w.text(h('button', { id: 'join-sound', type: 'button', class: 'secondary', hidden: true, onclick: () => { sound.hidden = true; voice.play().catch(() => {}); } }), () => t('join.sound'));
  const message = h('div', { id: 'join-msg', 'aria-live': 'polite' });
  const stillNote = h('p', { id: 'join-still', class: 'notice small', role: 'status', hidden: true });

  // Guided filming and the position, both through the room.
  const guide = shotGuide({ w, send: (msg) => !taking && room.send(msg), onMark: (item) => rec.mark(item), onError: (err) => fill(message, errorBox(err)) });
  const sharing = positionSharing({ w, send: (msg) => room.send(msg) });
  let stills = 0;

  // The phone's own recording, and its upload after the call.
  const rec = localRecording(lid, { onChange: () => { if (ctx.alive()) panel.paint(); } });
  const panel = recordingPanel({
    lid, token, rec, root,
    onBusy: (on) => { if (on) keepAwake(); else if (state !== 'live') letSleep(); },
    onUploaded: () => { broke = false; },
    onPaint: () => { if (ended) paintEnd(); },
  });

  // Instructions and the reply box.
  const history = h('ol', { id: 'join-instructions', class: 'join-instructions', reversed: true });
  const reply = h('input', { id: 'join-reply-input', maxlength: 1000, autocomplete: 'off', enterkeyhint: 'send' });
  w.attr(reply, 'placeholder', () => t('join.replyHint'));
  w.attr(reply, 'aria-label', () => t('join.reply'));
  const send = w.text(h('button', { id: 'join-reply-send', type: 'submit', class: 'secondary' }), () => t('join.send'));
  const roomNote = h('p', { id: 'join-room', class: 'muted small', hidden: true });
  const presence = h('ul', { id: 'join-presence', class: 'live-members' });
  const replyForm = h('form', { class: 'join-reply', onsubmit: (e) => { e.preventDefault(); sendReply(); } }, reply, send);
  const people = h('section', { class: 'panel join-people', 'aria-labelledby': 'join-people-title' },
    w.text(h('h2', { id: 'join-people-title' }), () => t('join.watching')),
    presence);

  fill(root, title, stage,
    h('div', { class: 'join-controls' }, start, take, takeStop, stop, flip, torch, sound, retryCamera),
    limitNote,
    message,
    stillNote,
    guide.el,
    sharing.el,
    panel.el,
    h('section', { class: 'panel join-messages', 'aria-labelledby': 'join-messages-title' },
      w.text(h('h2', { id: 'join-messages-title' }), () => t('join.instructions')),
      roomNote,
      replyForm,
      history),
    people,
    voice);

  const cam = camera({ onEnded: () => {
    fill(message, errorBox(new Error(t('join.cameraLost'))));
    retryCamera.hidden = false;
    rec.stop(); // this part ends here; the camera opened again records the next
  } });

  const link = rtcLink({
    url: livePath(lid, 'whip'),
    iceServers: iceServersOf(session.ice_servers),
    credentials: 'omit',
    headers: () => ({ Authorization: `Bearer ${token}` }),
    setup(pc) {
      const stream = cam.stream();
      videoTx = pc.addTransceiver(cam.video(), { direction: 'sendonly', streams: [stream] });
      keepResolution(videoTx.sender);
      // sendrecv: the answer sends the inspector's voice back on this m-line.
      audioTx = pc.addTransceiver(cam.audio() || 'audio', { direction: 'sendrecv', streams: [stream] });
      pc.ontrack = (e) => { if (e.track.kind === 'audio') playVoice(e.track); };
    },
    onState(next, err) {
      if (next === 'live') wasLive = true;
      if (next === 'reconnecting' || (err && next === 'stopped' && wasLive)) broke = true;
      if (next === 'stopped') recordingStopped();
      if (err && next === 'stopped') {
        if (err.status === 404 || err.status === 410) finish(false);
        else fill(message, errorBox(linkError(err)));
      } else if (err) {
        fill(message, h('p', { class: 'notice small' }, t('join.retrying')));
      } else if (next === 'live') {
        fill(message);
      }
      setState(PAGE_STATE[next] || next);
    },
  });

  function setState(next) {
    state = next;
    root.dataset.state = state;
    clock.run(state === 'live');
    if (state === 'live' || state === 'taking') keepAwake();
    if (state === 'stopped' || state === 'idle') letSleep();
    paint();
  }

  function paint() {
    stateEl.textContent = ended ? t('join.stateEnded') : t(`join.state.${state}`);
    stateEl.dataset.state = state;
    const sending = state === 'connecting' || state === 'live' || state === 'reconnecting';
    start.hidden = sending || taking || ended;
    start.disabled = !cam.video();
    take.hidden = sending || taking || ended || !rec.supported;
    take.disabled = !cam.video();
    takeStop.hidden = !taking;
    stop.hidden = !sending;
    flip.hidden = ended || !cam.video() || !cam.canSwitch();
    torch.hidden = ended || !cam.hasTorch();
    torch.textContent = t(cam.torchOn() ? 'join.torchOff' : 'join.torchOn');
    torch.setAttribute('aria-pressed', String(cam.torchOn()));
    preview.classList.toggle('is-mirrored', cam.front());
    watchers.textContent = ended ? '' : t('join.viewers', { n: viewers });
    replyForm.hidden = ended;
    people.hidden = ended;
    const level = qualityLevel(quality);
    signal.dataset.quality = level;
    signal.textContent = state === 'live' && quality ? t(`live.signal.${level}`) : '';
    const names = [...talking.values()];
    talkNote.hidden = !names.length;
    fill(talkNote, names.length ? t('join.talking', { name: names.join(', ') }) : null);
    limitNote.textContent = ended ? '' : limit.text();
    limitNote.hidden = !limitNote.textContent;
    paintMessages();
    fill(presence, memberItems(members.filter((m) => !you || m.id !== you.id)));
    if (!presence.children.length) presence.append(h('li', { class: 'muted small' }, t('join.nobody')));
  }

  function paintMessages() {
    const items = log.items();
    const received = items.filter((m) => !m.mine);
    root.dataset.instructions = String(received.length);
    fill(history, [...items].reverse().map((m) => messageItem(m, 'live-instruction')));
    const last = received[received.length - 1];
    latest.hidden = !last;
    fill(latest, last && h('p', { class: 'join-latest-text' }, last.text));
  }

  async function openCamera() {
    fill(message);
    retryCamera.hidden = true;
    if (!hasCamera()) {
      fill(message, errorBox(new Error(t('join.insecure'))));
      paint();
      return;
    }
    try {
      preview.srcObject = await cam.open();
      preview.play().catch(() => {});
      await useTracks();
      if (publishing || taking) await record();
    } catch (err) {
      fill(message, errorBox(cameraError(err)));
      retryCamera.hidden = false;
    }
    if (ctx.alive()) paint();
  }

  async function switchCamera() {
    fill(message);
    // The recorder cannot follow a track change: end its part before the old camera stops.
    await rec.stop();
    try {
      await cam.switchCamera();
    } catch {
      fill(message, errorBox(new Error(t('join.switchFailed'))));
    }
    await useTracks();
    if (publishing || taking) await record();
    preview.srcObject = cam.stream();
    preview.play().catch(() => {});
    paint();
  }

  /**
   * useTracks puts the current camera (and microphone) into the running
   * connection without renegotiating. A connection between attempts refuses
   * (its sender is closed); the next attempt takes the current tracks anyway.
   */
  async function useTracks() {
    if (!cam.video()) return;
    await videoTx?.sender.replaceTrack(cam.video()).catch(() => {});
    if (cam.audio()) await audioTx?.sender.replaceTrack(cam.audio()).catch(() => {});
  }

  async function toggleTorch() {
    try {
      await cam.setTorch(!cam.torchOn());
    } catch {
      fill(message, errorBox(new Error(t('join.torchFailed'))));
    }
    paint();
  }

  function playVoice(track) {
    voice.srcObject = new MediaStream([track]);
    voice.play().then(() => { sound.hidden = true; }, () => { sound.hidden = false; });
  }

  function startPublishing() {
    if (ended || !cam.video()) return;
    fill(message);
    // Inside the tap: lets the inspector's voice play later without another one.
    voice.play().catch(() => {});
    publishing = true;
    panel.hold();
    record();
    link.start();
  }

  /** startTake records the camera without publishing: a take of its own (一镜到底). */
  async function startTake() {
    if (ended || !cam.video() || state === 'connecting' || state === 'live' || state === 'reconnecting') return;
    fill(message);
    taking = true;
    panel.hold();
    setState('taking');
    if (!await rec.start([cam.video(), cam.audio()])) {
      taking = false;
      fill(message, errorBox(new Error(t('join.takeFailed'))));
      setState('idle');
      return;
    }
    if (ctx.alive()) panel.paint();
  }

  /** stopTake ends the take and uploads it (with its marks) at once. */
  async function stopTake() {
    if (!taking) return;
    taking = false;
    await rec.stop();
    if (!ctx.alive()) return;
    setState('stopped');
    panel.offer({ now: true });
  }

  /** record starts a part of the phone's own recording from the current camera and microphone. */
  async function record() {
    await rec.start([cam.video(), cam.audio()]);
    if (ctx.alive()) panel.paint();
  }

  /**
   * recordingStopped runs whenever publishing stops (Stop, the session's
   * end, a refused reconnect, leaving the page): the recording is closed
   * and offered, and sent by itself if the call broke up meanwhile.
   */
  async function recordingStopped() {
    publishing = false;
    await rec.stop();
    if (ctx.alive() && !publishing) panel.offer({ auto: broke, broke });
  }

  async function stopPublishing() {
    await link.stop();
    setState('stopped');
  }

  /**
   * paintEnd says where the recording is once the session has ended, one
   * statement at a time: while the phone still holds its own recording
   * (or is sending it) the message says so and points at the upload's
   * progress; once it has arrived, or when there was none and the server
   * kept the stream's, the recording is with the case.
   */
  function paintEnd() {
    const local = root.dataset.localRecording;
    let key = savedOnServer ? 'join.endedThanks' : 'join.ended';
    if (local === 'recording' || local === 'ready' || local === 'uploading' || local === 'error') key = 'join.endedLocal';
    else if (local === 'uploaded') key = 'join.endedThanks';
    root.dataset.end = key === 'join.endedLocal' ? 'local' : key === 'join.endedThanks' ? 'saved' : 'none';
    const why = endReasonText(endReason);
    if (endShown === key + why) return;
    endShown = key + why;
    fill(message, h('div', { class: 'notice', role: 'status' },
      h('p', { id: 'join-end' }, t(key)),
      why ? h('p', { id: 'join-end-reason', class: 'small', dataset: { reason: endReason } }, why) : null));
    // The upload's progress is what matters now: bring it into view.
    if (key === 'join.endedLocal') panel.el.scrollIntoView?.({ block: 'nearest', behavior: 'smooth' });
  }

  /** finish is the end of the session: nothing more to send, nothing to reconnect. */
  function finish(recorded, reason) {
    if (reason && !endReason) endReason = reason;
    if (ended) {
      // A later word (the room's "ended" after a refused reconnect) may
      // add why, or that the recording is kept.
      if (recorded) savedOnServer = true;
      paintEnd();
      return;
    }
    ended = true;
    savedOnServer = recorded;
    stopTake();
    guide.close();
    sharing.stop();
    link.stop({ release: false });
    room.close();
    cam.stop();
    preview.srcObject = null;
    paintEnd();
    setState('stopped');
  }

  /** still answers an officer's take_still: photograph, stamp, upload, announce. */
  async function still(cmd) {
    stillNote.hidden = false;
    stillNote.textContent = t('still.asked', { name: cmd.by?.name || '' });
    try {
      const r = await takeStill({ lid, token, track: cam.video(), video: preview, position: sharing.latest, request: cmd.id || '' });
      if (!ctx.alive()) return;
      room.send({ type: 'still', upload: r.uploadId, request: cmd.id || '' });
      stills++;
      root.dataset.stills = String(stills);
      root.dataset.stillSize = `${r.width}x${r.height}`;
      root.dataset.stillHow = r.how;
      stillNote.textContent = t('still.sent', { w: r.width, h: r.height });
    } catch (err) {
      if (!ctx.alive()) return;
      stillNote.hidden = true;
      fill(message, errorBox(err?.code ? err : new Error(t('still.failed'))));
    }
  }

  function sendReply() {
    if (sendText(room, reply, log, you, message)) paintMessages();
  }

  function onMessage(msg) {
    switch (msg.type) {
      case 'hello':
        you = msg.you || null;
        members = msg.members || [];
        if (msg.session) sync(msg.session);
        guide.load(msg.checklist, msg.annotations);
        break;
      case 'shot':
        guide.mark(msg.annotation);
        return;
      case 'take_still':
        if (!ended) still(msg);
        return;
      case 'presence':
        members = msg.members || [];
        for (const id of talking.keys()) if (!members.some((m) => m.id === id)) talking.delete(id);
        break;
      case 'instruction': {
        const item = log.add(msg, you);
        if (!item.mine) navigator.vibrate?.(200);
        break;
      }
      case 'talk':
        if (!msg.from || (you && msg.from.id === you.id)) break;
        if (msg.on) talking.set(msg.from.id, msg.from.name || '');
        else talking.delete(msg.from.id);
        if (msg.on) voice.play().catch(() => { sound.hidden = false; });
        break;
      case 'state':
        sync(msg);
        break;
      case 'quality':
        quality = msg.publisher || null;
        break;
      case 'error':
        fill(message, errorBox(msg.error?.code ? msg.error : new Error(t('error.generic'))));
        log.failLast(); // errors name no request; the reply waiting for its echo is the likely one
        break;
      case 'ended':
        finish(Boolean(msg.evidence_id), msg.reason);
        return;
      default:
        return;
    }
    paint();
  }

  function sync(s) {
    viewers = Number.isFinite(s.viewers) ? s.viewers : viewers;
    limit.sync(s);
    clock.sync(s.recording_ms, Boolean(s.publishing) && state === 'live');
    if (s.status === 'ended') finish(Boolean(s.evidence_id), s.end_reason);
  }

  const room = ended ? { send: () => false, close() {} } : liveRoom(lid, {
    token,
    onMessage: (msg) => { if (ctx.alive()) onMessage(msg); },
    onStatus: (s, failures) => {
      roomNote.hidden = s === 'open' || s === 'closed' || s === 'connecting';
      roomNote.textContent = t('live.roomReconnecting');
      if (s === 'reconnecting' && failures % 3 === 0) checkSession();
    },
  });

  /** checkSession asks the API why the room keeps refusing: an ended session or a dead link stops the page. */
  async function checkSession() {
    try {
      const s = await bearerGet(livePath(lid), token);
      if (ctx.alive() && s.status === 'ended') finish(Boolean(s.evidence_id), s.end_reason);
    } catch (err) {
      if (!ctx.alive() || ![401, 404, 410].includes(err.status)) return;
      if (err.status === 401) {
        link.stop();
        room.close();
        fill(message, errorBox(linkError(err)));
        setState('stopped');
      } else finish(false);
    }
  }

  // Screen on while live: a phone that locks itself stops the camera.
  async function keepAwake() {
    if (wake || !navigator.wakeLock) return;
    try {
      wake = await navigator.wakeLock.request('screen');
      wake.addEventListener('release', () => { wake = null; });
    } catch { /* battery saver or not allowed: the stream reconnects if the phone sleeps */ }
  }
  function letSleep() {
    wake?.release().catch(() => {});
    wake = null;
  }
  const visible = () => { if (document.visibilityState === 'visible' && state === 'live') keepAwake(); };
  // Leaving the page ends publishing at once (the recording closes in
  // milliseconds rather than after ICE notices the phone has gone).
  const leaving = () => { link.stop({ keepalive: true }); };
  const back = (e) => { if (e.persisted && ctx.alive()) ctx.navigate(window.location.hash); };
  document.addEventListener('visibilitychange', visible);
  window.addEventListener('pagehide', leaving);
  window.addEventListener('pageshow', back);
  ctx.onCleanup(() => {
    document.removeEventListener('visibilitychange', visible);
    window.removeEventListener('pagehide', leaving);
    window.removeEventListener('pageshow', back);
    link.stop({ keepalive: true });
    room.close();
    rec.stop();
    sharing.stop();
    panel.cleanup();
    cam.stop();
    clock.stop();
    letSleep();
  });

  ctx.keepOnLangChange(() => {
    document.title = `${t('join.title')} · ${t('app.title')}`;
    w.redo();
    paint();
    endShown = '';
    panel.paint();
    if (ended) paintEnd();
    guide.repaint();
    sharing.repaint();
  });

  // A recording an earlier visit of this link left on the phone (a reload, a crashed tab).
  rec.load().then(() => { if (ctx.alive() && !rec.recording()) panel.offerEarlier(); });
  clock.sync(session.recording_ms, false);
  if (ended) {
    savedOnServer = Boolean(session.evidence_id);
    paintEnd();
    setState('stopped');
    return;
  }
  paint();
  await openCamera();
}
