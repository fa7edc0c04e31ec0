/**
 * The drawing layer over a paused video frame, a PDF page or a photo: an SVG
 * laid exactly over the picture's content box (inside any letterbox bars of
 * object-fit: contain), so coordinates are fractions 0..1 of the picture
 * itself and mean the same thing at any display size. Pointer events make
 * mouse, pen and touch draw alike. Shapes are drawn in pixels and redrawn
 * after every resize, so strokes and arrowheads keep their size.
 */
import { t } from '../../i18n.js';

const NS = 'http://www.w3.org/2000/svg';

/** TOOLS are the shapes a user can draw, in toolbar order. */
export const TOOLS = ['rect', 'ellipse', 'arrow', 'freehand', 'point'];

/** SEVERITY_COLORS colours a shape by the severity of its note. */
export const SEVERITY_COLORS = { info: '#2b6cde', concern: '#e08a00', violation: '#d11a1a' };

const MIN_SIZE = 0.004; // a drag smaller than this (fraction of the picture) is a slip, not a shape
const MAX_FREEHAND = 2000;

function svg(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, String(v));
  return el;
}

const clamp01 = (v) => Math.min(1, Math.max(0, v));
const round4 = (v) => Math.round(v * 10000) / 10000;

/**
 * contentBox is where the picture of media (a video or an img) is drawn
 * inside its element, relative to host, assuming object-fit: contain.
 */
export function contentBox(media, host) {
  const nw = media.videoWidth || media.naturalWidth || 0;
  const nh = media.videoHeight || media.naturalHeight || 0;
  const r = media.getBoundingClientRect();
  const hr = host.getBoundingClientRect();
  if (!nw || !nh || !r.width || !r.height) return null;
  const scale = Math.min(r.width / nw, r.height / nh);
  const w = nw * scale;
  const hgt = nh * scale;
  return { left: r.left - hr.left + (r.width - w) / 2, top: r.top - hr.top + (r.height - hgt) / 2, width: w, height: hgt };
}

/** normalize puts a finished drawing into the form the API stores. */
function normalize(type, points, color) {
  let pts = points.map(([x, y]) => [round4(clamp01(x)), round4(clamp01(y))]);
  if (type === 'rect' || type === 'ellipse') {
    const [[x1, y1], [x2, y2]] = pts;
    pts = [[Math.min(x1, x2), Math.min(y1, y2)], [Math.max(x1, x2), Math.max(y1, y2)]];
  }
  if (type === 'freehand' && pts.length === 1) pts.push(pts[0]);
  return { type, points: pts.slice(0, MAX_FREEHAND), color };
}

/** tooSmall says whether a drag was too short to mean a shape. */
function tooSmall(type, pts) {
  if (type === 'point') return false;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  return Math.max(...xs) - Math.min(...xs) < MIN_SIZE && Math.max(...ys) - Math.min(...ys) < MIN_SIZE;
}

/** shapeNode draws one shape in a w × hgt pixel box. */
function shapeNode(shape, w, hgt, cls, props = {}) {
  const g = svg('g', { class: cls, 'data-shape': shape.type, ...props });
  const color = shape.color || SEVERITY_COLORS.info;
  const px = shape.points.map(([x, y]) => [x * w, y * hgt]);
  const line = { stroke: color, 'stroke-width': 3, fill: 'none', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' };
  const [a, b = a] = px;
  switch (shape.type) {
    case 'rect':
      g.append(svg('rect', { ...line, x: Math.min(a[0], b[0]), y: Math.min(a[1], b[1]), width: Math.abs(b[0] - a[0]), height: Math.abs(b[1] - a[1]) }));
      break;
    case 'ellipse':
      g.append(svg('ellipse', { ...line, cx: (a[0] + b[0]) / 2, cy: (a[1] + b[1]) / 2, rx: Math.abs(b[0] - a[0]) / 2, ry: Math.abs(b[1] - a[1]) / 2 }));
      break;
    case 'arrow':
    case 'line': {
      g.append(svg('line', { ...line, x1: a[0], y1: a[1], x2: b[0], y2: b[1] }));
      if (shape.type === 'arrow') {
        const ang = Math.atan2(b[1] - a[1], b[0] - a[0]);
        const len = 14;
        const wing = (d) => `${b[0] - len * Math.cos(ang + d)},${b[1] - len * Math.sin(ang + d)}`;
        g.append(svg('polyline', { ...line, points: `${wing(0.45)} ${b[0]},${b[1]} ${wing(-0.45)}` }));
      }
      break;
    }
    case 'freehand':
      g.append(svg('polyline', { ...line, points: px.map((p) => p.join(',')).join(' ') }));
      break;
    default: // point
      g.append(svg('circle', { cx: a[0], cy: a[1], r: 7, fill: color, stroke: '#fff', 'stroke-width': 2 }));
  }
  return g;
}

/**
 * drawOverlay lays an SVG over media inside host (a positioned element).
 * onStart runs when a drawing begins (the video pauses); onDraft gets the
 * finished shape (or null when it was cleared).
 */
export function drawOverlay(media, host, { onStart = () => {}, onDraft = () => {} } = {}) {
  // An image needs a name (WCAG 1.1.1); the notes list beside it says in
  // words what each shape marks.
  const el = svg('svg', { id: 'draw-overlay', class: 'draw-overlay', 'data-tool': 'none', role: 'img', 'aria-label': t('review.overlay') });
  host.append(el);
  let tool = '';
  let color = SEVERITY_COLORS.info;
  let draft = null; // {type, points, color}
  let drag = null; // {id, type, points}
  let shown = []; // [{id, shape, selected}]
  let box = null;

  function render() {
    el.replaceChildren();
    if (!box) return;
    for (const s of shown) {
      if (!s.shape?.points?.length) continue;
      el.append(shapeNode(s.shape, box.width, box.height, s.selected ? 'shape is-selected' : 'shape', { 'data-annotation-id': s.id }));
    }
    const d = drag ? { type: drag.type, points: drag.points, color } : draft;
    if (d) el.append(shapeNode(d, box.width, box.height, 'shape draft'));
  }

  function layout() {
    box = contentBox(media, host);
    el.style.display = box ? '' : 'none';
    if (box) {
      Object.assign(el.style, { left: `${box.left}px`, top: `${box.top}px`, width: `${box.width}px`, height: `${box.height}px` });
      el.setAttribute('viewBox', `0 0 ${box.width} ${box.height}`);
    }
    render();
  }

  const at = (e) => {
    const r = el.getBoundingClientRect();
    return [clamp01((e.clientX - r.left) / r.width), clamp01((e.clientY - r.top) / r.height)];
  };

  el.addEventListener('pointerdown', (e) => {
    if (!tool || e.button > 0 || !box) return;
    e.preventDefault();
    el.setPointerCapture?.(e.pointerId);
    onStart();
    const p = at(e);
    drag = { id: e.pointerId, type: tool, points: tool === 'freehand' || tool === 'point' ? [p] : [p, p] };
    render();
  });
  el.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.id || drag.type === 'point') return;
    e.preventDefault();
    const p = at(e);
    if (drag.type === 'freehand') {
      const last = drag.points[drag.points.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) > 0.003 && drag.points.length < MAX_FREEHAND) drag.points.push(p);
    } else {
      drag.points[1] = p;
    }
    render();
  });
  const finish = (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    const { type, points } = drag;
    drag = null;
    if (e.type === 'pointerup' && !tooSmall(type, points)) {
      draft = normalize(type, points, color);
      onDraft(draft);
    }
    render();
  };
  el.addEventListener('pointerup', finish);
  el.addEventListener('pointercancel', finish);

  const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(layout) : null;
  observer?.observe(media);
  observer?.observe(host);
  window.addEventListener('resize', layout);
  for (const ev of ['loadedmetadata', 'load', 'resize']) media.addEventListener(ev, layout);
  layout();

  return {
    el,
    layout,
    /** setTool picks a drawing tool, or none ('') to let clicks through to the player. */
    setTool(next) {
      tool = TOOLS.includes(next) ? next : '';
      el.dataset.tool = tool || 'none';
    },
    tool: () => tool,
    draft: () => draft,
    clearDraft() {
      draft = null;
      drag = null;
      render();
    },
    setColor(next) {
      color = next;
      if (draft) draft.color = next;
      render();
    },
    /** show draws saved shapes: [{id, shape, selected}]. */
    show(list) {
      shown = list;
      render();
    },
    cleanup() {
      observer?.disconnect();
      window.removeEventListener('resize', layout);
      el.remove();
    },
  };
}
