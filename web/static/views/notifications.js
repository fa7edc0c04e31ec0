/**
 * The signed-in person's notifications (#/notifications): what happened to
 * their cases (status changes, live invitations with the join link,
 * overdue reminders and escalations, follow-ups), newest first, unread ones
 * marked. Opening one marks it read; "mark all read" clears the badge. The
 * words are the server's (those of the e-mail), in the person's language,
 * with every time in the office's zone. Below: their e-mail,
 * phone and channel choices (PUT /api/v1/me/contact).
 */
import { enc, get, post, request } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { dateTime } from '../format.js';
import { pick, t } from '../i18n.js';
import { setUnread } from '../notifybell.js';

/** text is what a notification says, as the server words it (in both languages, the office's times). */
export function text(n) {
  return pick(n.text) || n.data?.case_number || '';
}

/** render draws the inbox and the contact form. */
export async function render(view, ctx) {
  document.title = `${t('notif.title')} · ${t('app.title')}`;
  const list = h('ul', { id: 'notification-list', class: 'notification-list', 'aria-live': 'polite' });
  const status = h('div', { 'aria-live': 'polite' });
  const markAll = h('button', { type: 'button', class: 'secondary small', id: 'notif-mark-all' }, t('notif.markAll'));
  const contact = h('section', { class: 'panel contact', id: 'contact' });
  view.append(
    h('div', { class: 'notif-head' }, h('h1', {}, t('notif.title')), markAll),
    status, list, contact);

  const markRead = async (ids) => {
    const r = await post('/api/v1/notifications/read', ids ? { ids } : { all: true });
    setUnread(r.unread);
    return r;
  };

  // Following a notification's link marks it read. A live invitation's
  // link is the phone's join page.
  const item = (n) => {
    const onOpen = () => { if (!n.read_at) markRead([n.id]).catch(() => { /* the badge catches up */ }); };
    const href = n.kind === 'live.invited' && n.data?.join_link ? n.data.join_link : n.case_id && `#/cases/${enc(n.case_id)}`;
    return h('li', { class: `notification${n.read_at ? '' : ' unread'}`, dataset: { notificationId: n.id, kind: n.kind } },
      h('div', { class: 'notif-meta muted small' },
        !n.read_at && h('span', { class: 'badge notif-unread' }, t('notif.unread')),
        h('time', { datetime: n.created_at }, dateTime(n.created_at))),
      h('p', { class: 'notif-text' }, text(n)),
      href && h('a', { href, class: 'notif-link', onclick: onOpen }, t('notif.open')));
  };

  // The newest hundred: older ones have long been acted on.
  const load = async () => {
    let page;
    try {
      page = await get('/api/v1/notifications?limit=100');
    } catch (err) {
      if (ctx.alive()) fill(status, errorBox(err));
      return;
    }
    if (!ctx.alive()) return;
    fill(status);
    setUnread(page.unread);
    if (!page.items.length) fill(list, h('li', { class: 'empty muted' }, t('notif.none')));
    list.append(...page.items.map(item));
  };
  markAll.addEventListener('click', () => busy(markAll, async () => {
    try {
      await markRead(null);
      for (const li of list.querySelectorAll('.unread')) {
        li.classList.remove('unread');
        li.querySelector('.notif-unread')?.remove();
      }
    } catch (err) {
      fill(status, errorBox(err));
    }
  }));

  await Promise.all([load(), renderContact(contact, ctx)]);
}

/** renderContact draws the e-mail, phone and channel form. */
async function renderContact(box, ctx) {
  let c;
  try {
    c = await get('/api/v1/me/contact');
  } catch (err) {
    if (ctx.alive()) fill(box, errorBox(err));
    return;
  }
  if (!ctx.alive()) return;
  const email = h('input', { type: 'email', id: 'contact-email', value: c.email, maxlength: 254, autocomplete: 'email' });
  const phone = h('input', { type: 'tel', id: 'contact-phone', value: c.phone, maxlength: 30, autocomplete: 'tel' });
  const byEmail = h('input', { type: 'checkbox', id: 'contact-notify-email', checked: c.notify_email });
  const bySMS = h('input', { type: 'checkbox', id: 'contact-notify-sms', checked: c.notify_sms });
  const message = h('div', { 'aria-live': 'polite', id: 'contact-message' });
  const save = h('button', { type: 'submit', class: 'primary', id: 'contact-save' }, t('admin.save'));
  const form = h('form', { class: 'contact-form' },
    h('label', { class: 'field' }, h('span', {}, t('contact.email')), email),
    h('label', { class: 'field' }, h('span', {}, t('contact.phone')), phone),
    h('label', { class: 'check' }, byEmail, h('span', {}, t('contact.notifyEmail'))),
    h('label', { class: 'check' }, bySMS, h('span', {}, t('contact.notifySMS'))),
    message, h('div', { class: 'actions' }, save));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(save, async () => {
      fill(message);
      try {
        const got = await request('PUT', '/api/v1/me/contact', { email: email.value, phone: phone.value, notify_email: byEmail.checked, notify_sms: bySMS.checked });
        email.value = got.email;
        phone.value = got.phone;
        fill(message, h('p', { class: 'notice ok' }, t('contact.saved')));
      } catch (err) {
        fill(message, errorBox(err));
      }
    });
  });
  fill(box, h('h2', {}, t('contact.title')), form);
}
