/**
 * Sign-in. One form for applicants and office staff; the role decides what
 * they see afterwards.
 */
import { login } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { t } from '../i18n.js';

/** render draws the login form; ctx.setUser(user) is called on success. */
export function render(view, ctx) {
  document.title = `${t('login.title')} · ${t('app.title')}`;
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary wide' }, t('login.submit'));
  const message = h('div', { 'aria-live': 'assertive' }, ctx.notice ? h('p', { class: 'notice' }, ctx.notice) : null);

  const form = h('form', {
    class: 'panel login',
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      fill(message);
      if (!username.value.trim() || !password.value) {
        (username.value.trim() ? password : username).focus();
        return;
      }
      submit.disabled = true;
      submit.textContent = t('login.busy');
      try {
        const user = await login(username.value.trim(), password.value);
        ctx.setUser(user);
      } catch (err) {
        fill(message, errorBox(err));
        password.select();
      } finally {
        submit.disabled = false;
        submit.textContent = t('login.submit');
      }
    },
  },
  h('h1', {}, t('login.title')),
  h('p', { class: 'muted' }, t('login.intro')),
  message,
  h('label', { for: 'login-username' }, t('login.username')), username,
  h('label', { for: 'login-password' }, t('login.password')), password,
  submit);

  view.append(form);
  username.focus();
}
