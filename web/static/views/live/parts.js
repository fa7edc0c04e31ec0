/**
 * Pieces both ends of a live inspection draw: the session clock, who is in
 * the room, the connection quality, the room's message list, and the words
 * that follow a language switch in place (these pages are not rebuilt on a
 * switch: that would drop the camera or the call).
 */
import { enc } from '../../api.js';
import { errorBox, fill, h } from '../../dom.js';
import { clock, number, time } from '../../format.js';
import { t } from '../../i18n.js';

/** livePath is the URL of a live session or one of its parts ("whip", "ws", "end"). */
export const livePath = (lid, rest = '') => `/api/v1/live/${enc(lid)}${rest ? `/${rest}` : ''}`;

/** words remembers which elements show which text, so redo() can say it all again in the new language. */
export function words() {
  const list = [];
  const apply = ([el, fn, attr]) => {
    if (attr) el.setAttribute(attr, fn());
    else el.textContent = fn();
  };
  return {
    /** text sets el's text to fn() now and on every redo; it returns el. */
    text(el, fn) {
      list.push([el, fn, '']);
      apply(list[list.length - 1]);
      return el;
    },
    /** attr does the same for an attribute (placeholder, aria-label, title). */
    attr(el, name, fn) {
      list.push([el, fn, name]);
      apply(list[list.length - 1]);
      return el;
    },
    redo() { list.forEach(apply); },
  };
}

/**
 * sessionClock shows the position in the recording: the server's
 * recording_ms where known, counted on locally while the camera sends.
 * Returns {el, sync(ms, running), run(running), ms(), stop()}.
 */
export function sessionClock(props = {}) {
  const el = h('span', { class: 'live-clock', ...props });
  let base = 0;
  let since = Date.now();
  let running = false;
  const now = () => base + (running ? Date.now() - since : 0);
  const paint = () => { el.textContent = clock(now()); };
  const timer = setInterval(paint, 500);
  paint();
  return {
    el,
    sync(ms, run) {
      base = Number.isFinite(ms) ? ms : now();
      since = Date.now();
      running = Boolean(run);
      paint();
    },
    run(run) {
      if (Boolean(run) === running) return;
      base = now();
      since = Date.now();
      running = Boolean(run);
      paint();
    },
    ms: now,
    stop() { clearInterval(timer); },
  };
}

const ROLES = new Set(['applicant', 'inspector', 'reviewer', 'admin']);

/** who names a room member or message author ({id,name,role} or a user). */
export function who(p) {
  return p?.name || p?.display_name || p?.username || t('common.none');
}

/** roleName says what a room member is; the phone joins with the link, not as a user. */
export function roleName(role) {
  if (ROLES.has(role)) return t(`role.${role}`);
  return t('live.rolePhone');
}

/** memberItems lists the room's members, the current user marked. */
export function memberItems(members, you) {
  return (members || []).map((m) => h('li', { class: 'live-member', dataset: { memberId: m.id || '', role: m.role || '' } },
    h('span', { class: 'live-member-name' }, who(m)),
    h('span', { class: 'muted small' }, ` · ${roleName(m.role)}`),
    you && m.id === you.id && h('span', { class: 'muted small' }, ` (${t('live.you')})`)));
}

/**
 * qualityLevel grades a publisher's link for a glance: packet_loss is a
 * fraction (0.02 = 2 %), bitrate_kbps what actually arrives.
 */
export function qualityLevel(q) {
  if (!q) return 'none';
  const loss = Number.isFinite(q.packet_loss) ? q.packet_loss * 100 : 0;
  const kbps = Number.isFinite(q.bitrate_kbps) ? q.bitrate_kbps : 0;
  if (loss > 5 || kbps < 150) return 'poor';
  if (loss > 2 || kbps < 500) return 'fair';
  return 'good';
}

/**
 * qualityText spells a quality report out: "1,250 kbps · loss 0.4 % · RTT 80 ms · jitter 6 ms",
 * and the packets the server dropped for coming past its bound, if any.
 */
export function qualityText(q) {
  if (!q) return t('live.qualityNone');
  const parts = [];
  if (Number.isFinite(q.bitrate_kbps)) parts.push(t('live.kbps', { n: number(Math.round(q.bitrate_kbps)) }));
  if (Number.isFinite(q.packet_loss)) parts.push(t('live.loss', { n: number(q.packet_loss * 100, 1) }));
  if (Number.isFinite(q.rtt_ms)) parts.push(t('live.rtt', { n: number(Math.round(q.rtt_ms)) }));
  if (Number.isFinite(q.jitter_ms)) parts.push(t('live.jitter', { n: number(Math.round(q.jitter_ms)) }));
  if (q.dropped_packets > 0) parts.push(t('live.overBound', { n: number(q.dropped_packets) }));
  return parts.join(' · ') || t('live.qualityNone');
}

/** endReasons are the server's end_reason values the pages word; others (none, a future one) say nothing. */
const endReasons = ['ended', 'time_limit', 'idle', 'restart', 'shutdown'];

/** endReasonText words why a session ended ('' when the reason is unknown). */
export function endReasonText(reason) {
  return endReasons.includes(reason) ? t(`live.endReason.${reason}`) : '';
}

/** endedNote is an ended session's line in a list: how long it was live and why it ended. */
export function endedNote(s) {
  const parts = [];
  const from = Date.parse(s.started_at || ''), to = Date.parse(s.ended_at || '');
  if (Number.isFinite(from) && Number.isFinite(to) && to >= from) parts.push(t('live.lasted', { d: clock(to - from) }));
  if (endReasons.includes(s.end_reason)) parts.push(t(`live.endedWhy.${s.end_reason}`));
  return parts.join(' · ');
}

/** endsSoonMS is the last stretch of a session's length limit, in which the pages say when it ends. */
const endsSoonMS = 10 * 60 * 1000;

/**
 * limitWatch follows the room's word on when the session's length limit
 * ends it (state's ends_at, and ends_in_ms by the server's clock, so a
 * device with a wrong clock counts down right) and, in the last ten
 * minutes, words it: the office's clock time and the minutes left.
 */
export function limitWatch() {
  let at = '';
  let deadline = NaN; // performance.now() at the end
  return {
    sync(s) {
      const ok = typeof s.ends_at === 'string' && Number.isFinite(s.ends_in_ms);
      at = ok ? s.ends_at : '';
      deadline = ok ? performance.now() + s.ends_in_ms : NaN;
    },
    text() {
      const left = deadline - performance.now();
      if (!(left <= endsSoonMS)) return '';
      return t('live.endsSoon', { time: time(at), n: number(Math.max(1, Math.ceil(left / 60000))) });
    },
  };
}

/** timeOfDay shows when a message arrived, as a clock time. */
export function timeOfDay(iso) {
  return time(iso || new Date()); // in the office's zone
}

/**
 * messageLog holds the room's instructions and replies. Messages the user
 * sends are shown at once as pending and confirmed when the room echoes
 * them, so nothing typed vanishes whether or not the server echoes.
 * Returns {add(msg, you), sent(text, you), failLast(), items()}.
 */
export function messageLog(limit = 200) {
  let items = [];
  const trim = () => { if (items.length > limit) items = items.slice(-limit); };
  return {
    add(msg, you) {
      const mine = Boolean(you && msg.from?.id === you.id);
      // The room answers in order, so an echo the server reworded (trimmed)
      // is the oldest message still waiting.
      const pending = mine && (items.find((m) => m.pending && m.text === msg.text) || items.find((m) => m.pending));
      if (pending) {
        Object.assign(pending, { text: msg.text, pending: false, failed: false, at: msg.at, recording_ms: msg.recording_ms, from: msg.from });
        return pending;
      }
      const item = { text: msg.text, from: msg.from, at: msg.at, recording_ms: msg.recording_ms, mine };
      items.push(item);
      trim();
      return item;
    },
    sent(text, you) {
      items.push({ text, from: you, at: new Date().toISOString(), mine: true, pending: true });
      trim();
    },
    failLast() {
      const last = [...items].reverse().find((m) => m.pending);
      if (last) { last.pending = false; last.failed = true; }
      return Boolean(last);
    },
    items: () => items,
  };
}

/** messageItem draws one instruction or reply; cls marks others' messages for tests and styling. */
export function messageItem(m, cls) {
  return h('li', { class: `${m.mine ? 'live-reply' : cls} live-msg${m.pending ? ' is-pending' : ''}${m.failed ? ' is-failed' : ''}`, dataset: { role: m.from?.role || '' } },
    h('p', { class: 'live-msg-meta muted small' },
      `${who(m.from)} · ${roleName(m.from?.role)} · ${timeOfDay(m.at)}`,
      m.pending && ` · ${t('live.sending')}`,
      m.failed && ` · ${t('live.notSent')}`),
    h('p', { class: 'live-msg-text' }, m.text));
}

/**
 * sendText sends the input's text as an instruction over the room and logs
 * it as pending; with the room down it says so and keeps the text. It
 * returns whether anything was sent, so the caller repaints.
 */
export function sendText(room, input, log, you, message) {
  const text = input.value.trim();
  if (!text) return false;
  if (!room.send({ type: 'instruction', text })) {
    fill(message, errorBox(new Error(t('live.roomDown'))));
    return false;
  }
  log.sent(text, you);
  input.value = '';
  return true;
}
