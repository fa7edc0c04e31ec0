/**
 * Where the footage was taken (docs/LIVE.md, "Track"). On the phone,
 * positionSharing asks before it shares anything: only after the applicant
 * taps "共享位置" does it watch the position, and it sends the latest one to
 * the room every few seconds while the page is open. For the officers,
 * trackView draws the trail from the coordinates themselves (no map
 * service): an SVG in metres around the case's site, the warning circle at
 * --location-warn-km, and the distance of the farthest point.
 */
import { h, fill } from '../../dom.js';
import { distance } from '../../format.js';
import { t } from '../../i18n.js';

/** SEND_EVERY_MS is how often the phone reports its position. */
export const SEND_EVERY_MS = 5000;

/**
 * positionSharing returns {el, latest(), stop(), repaint()}; send(msg)
 * returns false while the room is down. onChange runs after each send.
 */
export function positionSharing({ w, send, onChange = () => {} }) {
  let watch = null;
  let latest = null;
  let timer = 0;
  let sent = 0;
  let state = navigator.geolocation ? 'off' : 'unsupported';
  const button = w.text(h('button', { id: 'join-location', type: 'button', class: 'secondary', onclick: start }), () => t('track.share'));
  const note = h('p', { id: 'join-location-note', class: 'muted small', role: 'status' });
  const el = h('div', { class: 'join-location', dataset: { state, sent: '0' } }, button, note);

  function start() {
    if (!navigator.geolocation || watch !== null) return;
    state = 'waiting';
    watch = navigator.geolocation.watchPosition((p) => {
      latest = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy };
      if (state !== 'on') {
        state = 'on';
        report();
      }
      paint();
    }, (err) => {
      state = err.code === 1 ? 'denied' : 'unavailable';
      paint();
    }, { enableHighAccuracy: true, maximumAge: 2000, timeout: 20000 });
    timer = setInterval(report, SEND_EVERY_MS);
    paint();
  }

  function report() {
    if (!latest) return;
    const msg = { type: 'position', lat: latest.lat, lon: latest.lon };
    if (Number.isFinite(latest.accuracy)) msg.accuracy = latest.accuracy;
    if (send(msg)) {
      sent++;
      paint();
      onChange();
    }
  }

  function paint() {
    el.dataset.state = state;
    el.dataset.sent = String(sent);
    button.hidden = state === 'on' || state === 'waiting' || state === 'unsupported';
    note.textContent = t(`track.state.${state}`, { n: sent });
  }

  function stop() {
    if (watch !== null) navigator.geolocation.clearWatch(watch);
    watch = null;
    clearInterval(timer);
    if (state === 'on' || state === 'waiting') state = 'off';
    paint();
  }

  paint();
  return { el, latest: () => latest, stop, repaint: paint };
}

// metres east and north of the site: an equirectangular projection, exact
// enough over the few kilometres a site visit covers.
function project(p, site) {
  const r = 6371008.8;
  const rad = Math.PI / 180;
  return { x: (p.lon - site.lon) * rad * r * Math.cos(site.lat * rad), y: (p.lat - site.lat) * rad * r };
}

/** haversine is the distance in metres, as the server measures it. */
export function haversine(a, b) {
  const r = 6371008.8;
  const rad = Math.PI / 180;
  const dlat = (b.lat - a.lat) * rad;
  const dlon = (b.lon - a.lon) * rad;
  const s = Math.sin(dlat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(Math.min(1, s)));
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * trackView returns {el, set({site, points, warnM}), add(point), repaint()}:
 * the trail of points [{lat, lon, accuracy, at}] against site {lat, lon}
 * (or null: the trail alone, around its first point).
 */
export function trackView({ w, id = 'live-track' }) {
  let site = null;
  let points = [];
  let warnM = 1000;
  const figure = h('div', { class: 'track-figure' });
  const summary = h('p', { class: 'track-summary small', role: 'status' });
  const el = h('section', { id, class: 'panel track', 'aria-labelledby': `${id}-title`, dataset: { points: '0', warning: 'false' } },
    w.text(h('h2', { id: `${id}-title` }), () => t('track.title')), figure, summary);

  function paint() {
    el.dataset.points = String(points.length);
    const centre = site || points[0] || null;
    if (!points.length || !centre) {
      fill(figure);
      el.dataset.warning = 'false';
      summary.textContent = t('track.none');
      return;
    }
    const xy = points.map((p) => project(p, centre));
    let maxD = null;
    if (site) maxD = Math.max(...points.map((p) => haversine(p, site)));
    const warning = maxD !== null && maxD > warnM;
    el.dataset.warning = String(warning);
    // The view holds every point and, with a site, the warning circle when it is near.
    let half = Math.max(50, ...xy.map((p) => Math.max(Math.abs(p.x), Math.abs(p.y))));
    if (site && warnM <= half * 2) half = Math.max(half, warnM);
    half *= 1.1;
    const size = 240;
    const k = size / (2 * half);
    const X = (p) => (size / 2 + p.x * k).toFixed(1);
    const Y = (p) => (size / 2 - p.y * k).toFixed(1);
    const root = svg('svg', { viewBox: `0 0 ${size} ${size}`, width: size, height: size, class: 'track-svg', role: 'img' });
    root.setAttribute('aria-label', t('track.figure', { n: points.length }));
    root.append(svg('rect', { x: 0, y: 0, width: size, height: size, class: 'track-bg' }));
    if (site) {
      root.append(svg('circle', { cx: size / 2, cy: size / 2, r: (warnM * k).toFixed(1), class: 'track-warn' }));
      root.append(svg('circle', { cx: size / 2, cy: size / 2, r: 5, class: 'track-site' }));
    }
    root.append(svg('polyline', { points: xy.map((p) => `${X(p)},${Y(p)}`).join(' '), class: 'track-line' }));
    const last = xy[xy.length - 1];
    root.append(svg('circle', { cx: X(last), cy: Y(last), r: 4, class: 'track-last' }));
    // A scale bar: a round number of metres near a quarter of the view.
    const target = half / 2;
    const step = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000].find((s) => s >= target) || target;
    root.append(svg('line', { x1: 8, y1: size - 10, x2: (8 + step * k).toFixed(1), y2: size - 10, class: 'track-scale' }));
    const label = svg('text', { x: 8, y: size - 14, class: 'track-scale-text' });
    label.textContent = distance(step);
    root.append(label);
    fill(figure, root);
    const lastD = site ? haversine(points[points.length - 1], site) : null;
    summary.textContent = site
      ? t(warning ? 'track.far' : 'track.near', { max: distance(maxD), last: distance(lastD), warn: distance(warnM), n: points.length })
      : t('track.noSite', { n: points.length });
    summary.classList.toggle('warning', warning);
  }

  return {
    el,
    set(v) {
      site = v.site || null;
      points = v.points || [];
      if (Number.isFinite(v.warnM)) warnM = v.warnM;
      paint();
    },
    add(p, warn) {
      if (!p) return;
      points.push(p);
      if (Number.isFinite(warn)) warnM = warn;
      paint();
    },
    repaint: paint,
  };
}
