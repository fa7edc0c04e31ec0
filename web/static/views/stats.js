/**
 * The supervision figures (#/stats?from=YYYY-MM-DD&to=YYYY-MM-DD): what the
 * office received and decided over a period of office days, the 马上办 rate,
 * how long decisions and countersigns took, the applicants' ratings (好差评)
 * and their follow-ups, urgent cases (特事特办) apart, per unit and per
 * officer, and the commitments past due. The numbers come from GET /api/v1/stats; the charts
 * are drawn here as inline SVG, and every number charted is also in the
 * table below it.
 */
import { enc, get } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { lang, t } from '../i18n.js';
import { dayFromNow, number, timeZone } from '../format.js';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

/** render draws the period form and, for supervisors and admins, the figures. */
export async function render(view, ctx) {
  document.title = `${t('stats.title')} · ${t('app.title')}`;
  view.append(h('h1', {}, t('stats.title')));
  if (ctx.user.role !== 'supervisor' && ctx.user.role !== 'admin') {
    view.append(h('p', { class: 'notice' }, t('stats.onlySupervisors')));
    return;
  }
  const valid = (v) => /^\d{4}-\d{2}-\d{2}$/.test(v || '');
  const fromValue = valid(ctx.query.get('from')) ? ctx.query.get('from') : dayFromNow(-29);
  const toValue = valid(ctx.query.get('to')) ? ctx.query.get('to') : dayFromNow(0);
  const from = h('input', { id: 'stats-from', type: 'date', value: fromValue, required: true });
  const to = h('input', { id: 'stats-to', type: 'date', value: toValue, required: true });
  const form = h('form', {
    class: 'stats-period',
    onsubmit: (ev) => {
      ev.preventDefault();
      ctx.navigate(`#/stats?from=${enc(from.value)}&to=${enc(to.value)}`);
    },
  },
  h('label', { for: 'stats-from' }, t('stats.from')), from,
  h('label', { for: 'stats-to' }, t('stats.to')), to,
  h('button', { type: 'submit', class: 'primary' }, t('stats.show')),
  h('span', { class: 'muted' }, t('stats.zone', { zone: timeZone() })));
  const out = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('common.loading')));
  view.append(form, out);
  let st;
  try {
    st = await get(`/api/v1/stats?from=${enc(fromValue)}&to=${enc(toValue)}`);
  } catch (err) {
    if (ctx.alive()) fill(out, errorBox(err));
    return;
  }
  if (!ctx.alive()) return;
  fill(out, figures(st));
}

const hours = (v) => t('stats.hours', { n: number(v, 1) });
const pct = (v) => `${number(v * 100, 0)}%`;

/** figures is the whole report of one answer. */
function figures(st) {
  const tot = st.totals;
  const card = (label, value, note) => h('div', { class: 'stats-card' },
    h('div', { class: 'stats-value' }, value), h('div', { class: 'stats-label' }, label), note && h('div', { class: 'muted' }, note));
  const cards = h('div', { class: 'stats-cards' },
    card(t('stats.received'), number(tot.received)),
    card(t('stats.decided'), number(tot.decided)),
    card(t('stats.sameDay'), pct(tot.same_day_rate), t('stats.sameDayOf', { n: tot.decided_same_day, of: tot.decided })),
    card(t('stats.toDecision'), hours(tot.submit_to_decision_hours.median), t('stats.p90', { v: hours(tot.submit_to_decision_hours.p90) })),
    card(t('stats.toCountersign'), hours(tot.decision_to_countersign_hours.median), t('stats.p90', { v: hours(tot.decision_to_countersign_hours.p90) })),
    card(t('stats.returned'), number(tot.returned), t('stats.returnedOf', { of: tot.countersigned })),
    card(t('stats.live'), number(tot.live_inspections)),
    card(t('stats.rated'), number(tot.rated), tot.rated ? t('stats.badOf', { pct: pct(tot.bad_rate), n: tot.rated_bad }) : null),
    card(t('stats.followups'), number(tot.followups_opened), t('stats.followupsClosed', { n: tot.followups_closed })),
    card(t('stats.urgent'), number(tot.urgent_received),
      t('stats.urgentDecided', { n: tot.urgent_decided, within: tot.urgent_within_target })),
    card(t('stats.overdue'), number(st.overdue.commitments),
      st.overdue.items ? t('stats.overdueDays', { items: st.overdue.items, median: number(st.overdue.days.median, 1), max: number(st.overdue.days.max, 1) }) : null));
  const inspectors = st.officers.filter((o) => o.decided > 0 || o.live_inspections > 0 || o.overdue_commitments > 0);
  const reviewers = st.officers.filter((o) => o.countersigned > 0);
  const name = (o) => o.display_name || o.username;
  const units = st.units || [];
  const unitName = (u) => (lang() === 'en' ? u.name_en || u.name_zh : u.name_zh || u.name_en) || u.id;
  const rated = st.officers.filter((o) => o.rated > 0);
  return [
    cards,
    h('h2', {}, t('stats.byUnit')),
    units.length === 0 ? h('p', { class: 'muted' }, t('stats.noUnits')) : [
      chart(t('stats.chartUnitDecided'), units.map((u) => ({ label: unitName(u), bars: [
        { v: u.received, cls: 'bar-c', text: number(u.received) },
        { v: u.decided, cls: 'bar-a', text: number(u.decided) },
        { v: u.decided_same_day, cls: 'bar-b', text: number(u.decided_same_day) }] })),
      [t('stats.received'), t('stats.decided'), t('stats.sameDayCount')]),
      chart(t('stats.chartUnitRatings'), units.filter((u) => u.rated).map((u) => ({ label: unitName(u), bars: [
        { v: u.bad_rate * 100, cls: 'bar-c', text: `${pct(u.bad_rate)} (${u.rated_bad}/${u.rated})` }] })),
      [t('stats.badShare')]),
      chart(t('stats.chartUrgent'), units.filter((u) => u.urgent_received || u.urgent_decided).map((u) => ({ label: unitName(u), bars: [
        { v: u.urgent_received, cls: 'bar-c', text: number(u.urgent_received) },
        { v: u.urgent_decided, cls: 'bar-a', text: number(u.urgent_decided) },
        { v: u.urgent_within_target, cls: 'bar-b', text: number(u.urgent_within_target) }] })),
      [t('stats.urgentReceived'), t('stats.urgentDecidedShort'), t('stats.urgentWithin')]),
      table(units, t('stats.unit'), unitName, true),
    ],
    h('h2', {}, t('stats.byOfficer')),
    st.officers.length === 0 ? h('p', { class: 'muted' }, t('stats.none')) : [
      chart(t('stats.chartDecided'), inspectors.map((o) => ({ label: name(o), bars: [
        { v: o.decided, cls: 'bar-a', text: number(o.decided) },
        { v: o.decided_same_day, cls: 'bar-b', text: number(o.decided_same_day) }] })),
      [t('stats.decided'), t('stats.sameDayCount')]),
      chart(t('stats.chartToDecision'), inspectors.filter((o) => o.submit_to_decision_hours.count).map((o) => ({ label: name(o), bars: [
        { v: o.submit_to_decision_hours.median, cls: 'bar-a', text: hours(o.submit_to_decision_hours.median) },
        { v: o.submit_to_decision_hours.p90, cls: 'bar-b', text: hours(o.submit_to_decision_hours.p90) }] })),
      [t('stats.median'), t('stats.p90short')]),
      chart(t('stats.chartCountersign'), reviewers.map((o) => ({ label: name(o), bars: [
        { v: o.countersigned, cls: 'bar-a', text: number(o.countersigned) },
        { v: o.returned, cls: 'bar-c', text: number(o.returned) }] })),
      [t('stats.countersigned'), t('stats.returned')]),
      chart(t('stats.chartRatings'), rated.map((o) => ({ label: name(o), bars: [
        { v: o.rated, cls: 'bar-a', text: number(o.rated) },
        { v: o.rated_bad, cls: 'bar-c', text: `${number(o.rated_bad)} (${pct(o.bad_rate)})` }] })),
      [t('stats.rated'), t('stats.ratedBad')]),
      table(st.officers, t('stats.officer'), name, false),
    ],
  ];
}

/**
 * chart is a horizontal bar chart: one group of bars per row, each bar's
 * value written beside it; legend names the bars of a group in order.
 */
function chart(title, rows, legend) {
  if (rows.length === 0) return null;
  const labelW = 140, barH = 14, gap = 4, groupGap = 12, width = 640, valueW = 70;
  const perGroup = rows[0].bars.length;
  const groupH = perGroup * (barH + gap) - gap;
  const height = rows.length * (groupH + groupGap) + 24;
  const max = Math.max(...rows.flatMap((r) => r.bars.map((b) => b.v)), 0) || 1;
  const scale = (width - labelW - valueW) / max;
  const items = [];
  rows.forEach((r, i) => {
    const y0 = i * (groupH + groupGap);
    items.push(svg('text', { x: labelW - 8, y: y0 + groupH / 2 + 4, 'text-anchor': 'end', class: 'chart-label' }, document.createTextNode(r.label)));
    r.bars.forEach((b, j) => {
      const y = y0 + j * (barH + gap);
      const w = Math.max(b.v * scale, b.v > 0 ? 2 : 0);
      items.push(svg('rect', { x: labelW, y, width: w, height: barH, class: b.cls }));
      items.push(svg('text', { x: labelW + w + 4, y: y + barH - 3, class: 'chart-value' }, document.createTextNode(b.text)));
    });
  });
  const ly = rows.length * (groupH + groupGap) + 10;
  legend.forEach((l, j) => {
    const x = labelW + j * 150;
    items.push(svg('rect', { x, y: ly, width: 10, height: 10, class: rows[0].bars[j].cls }));
    items.push(svg('text', { x: x + 14, y: ly + 9, class: 'chart-label' }, document.createTextNode(l)));
  });
  return h('figure', { class: 'stats-chart' },
    h('figcaption', {}, title),
    svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', 'aria-label': title }, items));
}

/**
 * table lists the figures of every unit or officer: label heads the first
 * column, name gives a row's name; a unit's table has its received cases.
 */
function table(rows, label, name, received) {
  const span = (d) => (d.count ? `${hours(d.median)} / ${hours(d.p90)}` : '—');
  const cols = [
    [label, name],
    received && [t('stats.received'), (o) => number(o.received)],
    [t('stats.decided'), (o) => number(o.decided)],
    [t('stats.sameDayCount'), (o) => number(o.decided_same_day)],
    [t('stats.toDecision'), (o) => span(o.submit_to_decision_hours)],
    [t('stats.countersigned'), (o) => number(o.countersigned)],
    [t('stats.returned'), (o) => number(o.returned)],
    [t('stats.toCountersign'), (o) => span(o.decision_to_countersign_hours)],
    [t('stats.live'), (o) => number(o.live_inspections)],
    [t('stats.rated'), (o) => number(o.rated)],
    [t('stats.badShare'), (o) => (o.rated ? pct(o.bad_rate) : '—')],
    [t('stats.followups'), (o) => `${number(o.followups_opened)} / ${number(o.followups_closed)}`],
    received && [t('stats.urgentReceived'), (o) => number(o.urgent_received)],
    [t('stats.urgentDecidedShort'), (o) => `${number(o.urgent_decided)} / ${number(o.urgent_within_target)}`],
    [t('stats.overdue'), (o) => number(o.overdue_commitments)],
  ].filter(Boolean);
  return h('div', { class: 'table-scroll' }, h('table', { class: 'stats-table' },
    h('caption', { class: 'muted' }, t('stats.tableNote')),
    h('thead', {}, h('tr', {}, cols.map(([l]) => h('th', { scope: 'col' }, l)))),
    h('tbody', {}, rows.map((o) => h('tr', {}, cols.map(([, cell], i) => (i === 0 ? h('th', { scope: 'row' }, cell(o)) : h('td', {}, cell(o)))))))));
}
