/**
 * The office's administration (#/admin, #/admin/users, #/admin/units,
 * #/admin/settings), for admins only: accounts (create, edit, disable and
 * enable, set a temporary password), the office's units (分中心) and its
 * settings (name, time zone, default retention). Permit types live on
 * their own page (#/admin/catalogue). Every change the server makes here
 * is audited; the page only asks. docs/ADMIN.md describes the rules.
 */
import { enc, get, listOf, patch, post, request } from '../api.js';
import { busy, errorBox, fill, h } from '../dom.js';
import { dateTime, setTimeZone, timeZone } from '../format.js';
import { lang, t } from '../i18n.js';

const ROLES = ['applicant', 'inspector', 'reviewer', 'supervisor', 'admin'];
const SECTIONS = ['users', 'units', 'settings'];
// A few zones to pick from; any IANA name may be typed.
const ZONES = ['Asia/Shanghai', 'Asia/Urumqi', 'Asia/Hong_Kong', 'Asia/Macau', 'Asia/Taipei', 'UTC'];

/** unitName is a unit's name in the current language. */
const unitName = (u) => (u ? (lang() === 'zh' ? u.name_zh : u.name_en) || u.name_zh : '—');

/** field is a labelled input in a form row. */
function field(id, label, input) {
  input.id = id;
  return h('div', { class: 'admin-field' }, h('label', { for: id }, label), input);
}

/** options builds <option>s from [value, label] pairs, selecting value. */
function options(pairs, value) {
  return pairs.map(([v, label]) => h('option', { value: v, selected: v === value }, label));
}

/** render draws the admin page's navigation and the section the hash names. */
export async function render(view, ctx) {
  const section = SECTIONS.includes(ctx.params.section) ? ctx.params.section : 'users';
  document.title = `${t('admin.title')} · ${t('app.title')}`;
  view.append(h('h1', {}, t('admin.title')));
  if (ctx.user.role !== 'admin') {
    view.append(h('p', { class: 'notice' }, t('admin.onlyAdmins')));
    return;
  }
  const link = (name, href) => h('a', { href, class: `admin-tab${name === section ? ' is-current' : ''}`, 'aria-current': name === section ? 'page' : null }, t(`admin.nav.${name}`));
  view.append(h('nav', { class: 'admin-nav', 'aria-label': t('admin.title') },
    link('users', '#/admin/users'), link('units', '#/admin/units'), link('settings', '#/admin/settings'),
    link('catalogue', '#/admin/catalogue')));
  const out = h('div', { class: 'admin-section', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('common.loading')));
  view.append(out);
  try {
    if (section === 'users') await users(out, ctx);
    else if (section === 'units') await units(out, ctx);
    else await settings(out, ctx);
  } catch (err) {
    if (ctx.alive()) fill(out, errorBox(err));
  }
}

/** users draws the filter, the list of accounts and the form for a new one. */
async function users(out, ctx) {
  const q = ctx.query;
  const unitList = listOf(await get('/api/v1/units'));
  const params = new URLSearchParams();
  for (const k of ['q', 'role', 'unit', 'disabled']) if (q.get(k)) params.set(k, q.get(k));
  const list = listOf(await get(`/api/v1/admin/users?${params}`));
  if (!ctx.alive()) return;
  const unitPairs = [['', t('admin.unit.none')], ...unitList.map((u) => [u.id, unitName(u)])];
  const rolePairs = ROLES.map((r) => [r, t(`role.${r}`)]);

  const text = h('input', { type: 'search', value: q.get('q') || '', placeholder: t('admin.users.search') });
  const role = h('select', {}, options([['', t('admin.all')], ...rolePairs], q.get('role') || ''));
  const unit = h('select', {}, options([['', t('admin.all')], ...unitList.map((u) => [u.id, unitName(u)])], q.get('unit') || ''));
  const disabled = h('select', {}, options([['', t('admin.all')], ['false', t('admin.users.enabled')], ['true', t('admin.users.disabled')]], q.get('disabled') || ''));
  const filter = h('form', {
    class: 'admin-filter',
    onsubmit: (ev) => {
      ev.preventDefault();
      const next = new URLSearchParams();
      if (text.value.trim()) next.set('q', text.value.trim());
      if (role.value) next.set('role', role.value);
      if (unit.value) next.set('unit', unit.value);
      if (disabled.value) next.set('disabled', disabled.value);
      ctx.navigate(`#/admin/users${next.toString() ? `?${next}` : ''}`);
    },
  },
  field('admin-q', t('admin.users.search'), text), field('admin-role', t('admin.users.role'), role),
  field('admin-unit', t('admin.users.unit'), unit), field('admin-disabled', t('admin.users.state'), disabled),
  h('button', { type: 'submit', class: 'secondary' }, t('admin.filter')));

  const byID = Object.fromEntries(unitList.map((u) => [u.id, u]));
  const rows = list.map((u) => {
    const row = h('tr', { class: `admin-user${u.disabled_at ? ' is-disabled' : ''}`, dataset: { userId: u.id } },
      h('td', {}, h('strong', {}, u.username), h('div', { class: 'muted small' }, u.display_name)),
      h('td', {}, t(`role.${u.role}`)),
      h('td', {}, u.unit_id ? unitName(byID[u.unit_id]) : '—'),
      h('td', {}, u.org || '—'),
      h('td', {}, u.disabled_at ? h('span', { class: 'badge' }, t('admin.users.disabledAt', { at: dateTime(u.disabled_at) })) : t('admin.users.enabled')),
      h('td', {}, h('button', { type: 'button', class: 'secondary small', onclick: () => edit(row, u) }, t('admin.edit'))));
    return row;
  });

  /** edit opens the account's form under its row. */
  function edit(row, u) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains('admin-edit')) { next.remove(); return; }
    const id = `u-${u.id}`;
    const name = h('input', { value: u.display_name, required: true, maxlength: '100' });
    const r = h('select', {}, options(rolePairs, u.role));
    const un = h('select', {}, options(unitPairs, u.unit_id || ''));
    const off = h('input', { type: 'checkbox', checked: !!u.disabled_at });
    const msg = h('div', { 'aria-live': 'polite' });
    const save = h('button', { type: 'submit', class: 'primary' }, t('admin.save'));
    const form = h('form', {
      class: 'admin-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        busy(save, async () => {
          try {
            await patch(`/api/v1/admin/users/${enc(u.id)}`, { display_name: name.value, role: r.value, unit_id: un.value, disabled: off.checked });
            ctx.navigate(window.location.hash);
          } catch (err) { fill(msg, errorBox(err)); }
        });
      },
    },
    field(`${id}-name`, t('admin.users.displayName'), name), field(`${id}-role`, t('admin.users.role'), r),
    field(`${id}-unit`, t('admin.users.unit'), un),
    h('div', { class: 'admin-field admin-check' }, off, h('label', { for: `${id}-off` }, t('admin.users.disable'))),
    save, msg);
    off.id = `${id}-off`;
    const pw = h('input', { type: 'password', autocomplete: 'new-password', minlength: '10', required: true });
    const pwMsg = h('div', { 'aria-live': 'polite' });
    const setPw = h('button', { type: 'submit', class: 'secondary' }, t('admin.users.resetPassword'));
    const pwForm = h('form', {
      class: 'admin-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        busy(setPw, async () => {
          try {
            await post(`/api/v1/admin/users/${enc(u.id)}/password`, { password: pw.value });
            pw.value = '';
            fill(pwMsg, h('p', { class: 'notice' }, t('admin.users.passwordSet')));
          } catch (err) { fill(pwMsg, errorBox(err)); }
        });
      },
    }, field(`${id}-pw`, t('admin.users.tempPassword'), pw), setPw, pwMsg);
    row.after(h('tr', { class: 'admin-edit' }, h('td', { colspan: '6' }, form, pwForm)));
    name.focus();
  }

  const table = list.length
    ? h('div', { class: 'admin-table-wrap' }, h('table', { id: 'admin-users', class: 'owed-table admin-table' },
      h('thead', {}, h('tr', {}, [t('admin.users.username'), t('admin.users.role'), t('admin.users.unit'), t('admin.users.org'), t('admin.users.state'), '']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)))
    : h('p', { class: 'empty muted' }, t('admin.users.none'));

  // A new account.
  const nu = {
    username: h('input', { required: true, maxlength: '64', autocomplete: 'off' }),
    display_name: h('input', { maxlength: '100' }),
    role: h('select', {}, options(rolePairs, 'inspector')),
    org: h('input', { placeholder: t('admin.users.orgHint') }),
    unit_id: h('select', {}, options(unitPairs, '')),
    password: h('input', { type: 'password', required: true, minlength: '10', autocomplete: 'new-password' }),
  };
  const createMsg = h('div', { 'aria-live': 'polite' });
  const create = h('button', { type: 'submit', class: 'primary' }, t('admin.users.create'));
  const createForm = h('form', {
    id: 'admin-new-user',
    class: 'admin-form',
    onsubmit: (ev) => {
      ev.preventDefault();
      busy(create, async () => {
        try {
          const body = Object.fromEntries(Object.entries(nu).map(([k, el]) => [k, el.value.trim ? el.value.trim() : el.value]));
          body.password = nu.password.value;
          await post('/api/v1/admin/users', body);
          ctx.navigate('#/admin/users');
        } catch (err) { fill(createMsg, errorBox(err)); }
      });
    },
  },
  field('nu-username', t('admin.users.username'), nu.username), field('nu-name', t('admin.users.displayName'), nu.display_name),
  field('nu-role', t('admin.users.role'), nu.role), field('nu-org', t('admin.users.org'), nu.org),
  field('nu-unit', t('admin.users.unit'), nu.unit_id), field('nu-password', t('admin.users.initialPassword'), nu.password),
  create, createMsg);
  fill(out, filter, table,
    h('details', { class: 'panel' }, h('summary', {}, t('admin.users.new')), createForm));
}

/** units draws the office's units, each renamable, and the form for a new one. */
async function units(out, ctx) {
  const list = listOf(await get('/api/v1/units'));
  if (!ctx.alive()) return;
  const form = (id, u, label, send) => {
    const zh = h('input', { value: u ? u.name_zh : '', required: true, maxlength: '100' });
    const en = h('input', { value: u ? u.name_en : '', required: true, maxlength: '100' });
    const msg = h('div', { 'aria-live': 'polite' });
    const btn = h('button', { type: 'submit', class: u ? 'secondary' : 'primary' }, label);
    return h('form', {
      id,
      class: 'admin-form admin-unit',
      onsubmit: (ev) => {
        ev.preventDefault();
        busy(btn, async () => {
          try {
            await send({ name_zh: zh.value.trim(), name_en: en.value.trim() });
            ctx.navigate('#/admin/units');
          } catch (err) { fill(msg, errorBox(err)); }
        });
      },
    }, field(`${id}-zh`, t('admin.units.nameZh'), zh), field(`${id}-en`, t('admin.units.nameEn'), en), btn, msg);
  };
  fill(out,
    h('p', { class: 'muted small' }, t('admin.units.intro')),
    list.length
      ? h('ul', { id: 'admin-units', class: 'admin-list' }, list.map((u) => h('li', { dataset: { unitId: u.id } },
        form(`unit-${u.id}`, u, t('admin.units.rename'), (body) => request('PATCH', `/api/v1/admin/units/${enc(u.id)}`, body)),
        h('a', { class: 'small', href: `#/cases?unit=${enc(u.id)}` }, t('admin.units.cases')))))
      : h('p', { class: 'empty muted' }, t('admin.units.none')),
    h('h2', {}, t('admin.units.new')),
    form('unit-new', null, t('admin.units.create'), (body) => post('/api/v1/admin/units', body)));
}

/** settings draws the office's settings over the server's defaults. */
async function settings(out, ctx) {
  const s = await get('/api/v1/admin/settings');
  if (!ctx.alive()) return;
  const d = s.defaults;
  const nameZh = h('input', { value: s.name_zh, placeholder: d.name_zh, maxlength: '200' });
  const nameEn = h('input', { value: s.name_en, placeholder: d.name_en, maxlength: '200' });
  const zone = h('input', { value: s.timezone, placeholder: d.timezone, list: 'admin-zones', autocomplete: 'off' });
  const days = h('input', { type: 'number', min: '0', max: '36500', step: '1', value: s.retention_days ? String(s.retention_days) : '', placeholder: String(d.retention_days) });
  const msg = h('div', { 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'primary' }, t('admin.save'));
  const form = h('form', {
    id: 'admin-settings',
    class: 'admin-form',
    onsubmit: (ev) => {
      ev.preventDefault();
      busy(save, async () => {
        try {
          const next = await request('PUT', '/api/v1/admin/settings', {
            name_zh: nameZh.value.trim(), name_en: nameEn.value.trim(), timezone: zone.value.trim(), retention_days: Number(days.value || 0),
          });
          // Every time on these pages is in the office's zone: use the new one now.
          setTimeZone(next.effective.timezone);
          fill(msg, h('p', { class: 'notice' }, t('admin.settings.saved', { zone: timeZone() })));
        } catch (err) { fill(msg, errorBox(err)); }
      });
    },
  },
  h('p', { class: 'muted small' }, t('admin.settings.intro')),
  field('set-name-zh', t('admin.settings.nameZh'), nameZh), field('set-name-en', t('admin.settings.nameEn'), nameEn),
  field('set-zone', t('admin.settings.timezone'), zone),
  h('datalist', { id: 'admin-zones' }, ZONES.map((z) => h('option', { value: z }))),
  field('set-retention', t('admin.settings.retention'), days),
  save, msg);
  fill(out, form,
    s.updated_at && h('p', { class: 'muted small' }, t('admin.settings.updated', { at: dateTime(s.updated_at) })));
}
