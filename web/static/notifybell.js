/**
 * The header's bell: a link to #/notifications whose badge shows the
 * signed-in person's unread count, kept current by the server's event
 * stream (GET /api/v1/notifications/events, "notification" events with
 * {"unread": n}), so it changes as soon as a case does, without polling.
 */
import { h } from './dom.js';
import { t } from './i18n.js';

let unread = 0;
let source = null;
const bells = new Set();

/** setUnread sets the count the badge shows. */
export function setUnread(n) {
  unread = Math.max(0, Number(n) || 0);
  for (const b of bells) {
    // A header drawn over (a new page, a language switch) drops its bell.
    if (b.isConnected) paint(b);
    else bells.delete(b);
  }
}

function paint(link) {
  // The accessible name is the link's own text ("通知 2 条未读"): the
  // visible count is part of it, the words around it are for screen
  // readers only.
  const badge = link.querySelector('.bell-count');
  badge.textContent = unread > 99 ? '99+' : String(unread);
  badge.hidden = unread === 0;
  link.querySelector('.bell-unread').textContent = unread ? ` ${t('notif.bellUnread')}` : '';
}

/** bell returns the header's bell link, listening while someone is signed in. */
export function bell() {
  const link = h('a', { class: 'nav bell', href: '#/notifications', id: 'nav-bell' },
    h('span', { 'aria-hidden': 'true' }, '🔔'),
    h('span', { class: 'visually-hidden' }, `${t('notif.title')} `),
    h('span', { class: 'bell-count', id: 'bell-count', hidden: true }, '0'),
    h('span', { class: 'visually-hidden bell-unread' }));
  for (const b of bells) if (!b.isConnected) bells.delete(b);
  bells.add(link);
  paint(link);
  listen();
  return link;
}

/** listen opens the event stream once; EventSource reconnects by itself. */
function listen() {
  if (source || typeof EventSource !== 'function') return;
  source = new EventSource('/api/v1/notifications/events', { withCredentials: true });
  source.addEventListener('notification', (e) => {
    try { setUnread(JSON.parse(e.data).unread); } catch { /* a malformed event changes nothing */ }
  });
}

/** stopBell closes the stream (at sign-out) and clears the count. */
export function stopBell() {
  if (source) source.close();
  source = null;
  setUnread(0);
}
