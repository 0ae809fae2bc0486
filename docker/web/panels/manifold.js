// The manifold panel: the decoder over an n x n grid of a plane of the latent space, drawn by the
// server (GET /manifold): for d = 2 the paper's figure, else the plane of the test set's two leading
// principal directions (or two chosen dimensions). Pointing at a cell (or moving to it with the
// arrow keys) shows it large here and previews its z in the latent sliders; clicking it (Enter)
// keeps that z. For d = 2 the grid is also the 2-D pad: dragging on it moves z continuously, and a
// dot shows where z is. For larger d the dot is z's projection onto the plane.
//
// Where each cell's z is: cell (r, c) is base + q(c) A + q(n-1-r) B with q(i) the normal quantile
// of (i + 0.5) / n (the server's documented grid). The plane (base, A, B) is read from the z of a
// 2 x 2 grid of the same plane (GET /manifold?n=2&format=json: four cells, not the whole grid's
// pixels); the browser test checks the page's z of a cell against the server's.
import { apiBlob, apiJSON, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { normalCdf, normalQuantile } from '../lib/gauss.js';
import { $, fixed2, latestOnly, showError, showImage } from '../lib/ui.js';
import { activity, classNames, emit, on, state } from '../lib/state.js';

const ERROR = 'manifold-error';
const MAX_PAIRS = 6;
const job = latestOnly();
const m = {
  plane: null,      // {base, A, B, across, up, principal}: the plane of the grid on show
  n: 0,
  active: null,     // [r, c]: the cell under the pointer or with the focus
  chosen: null,     // [r, c] of the last cell kept (null after a drag on the d = 2 pad)
  saved: null,      // z before a preview began (restored when it ends without a choice)
  dragging: false,
  focusCell: [0, 0],
};

/* ---------- the plane's geometry ---------- */

const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
const q = (i, n) => normalQuantile((i + 0.5) / n);
const round2 = (v) => Math.round(v * 100) / 100;
// two decimals with a real minus sign, for text
const signed = (v) => fixed2(v).replace('-', '\u2212');

// The plane from the z of the 2 x 2 grid (cells row by row from the top).
function planeFrom(z) {
  const h = normalQuantile(0.75);
  const d = z[0].length;
  const base = [], A = [], B = [];
  for (let k = 0; k < d; k++) {
    base.push((z[0][k] + z[1][k] + z[2][k] + z[3][k]) / 4);
    A.push((z[1][k] - z[0][k]) / (2 * h));
    B.push((z[0][k] - z[2][k]) / (2 * h));
  }
  return { base, A, B };
}

// z at plane coordinates (a, b): base + a A + b B
function zAt(a, b) {
  const { base, A, B } = m.plane;
  return base.map((v, k) => v + a * A[k] + b * B[k]);
}

function cellZ(r, c) {
  return zAt(q(c, m.n), q(m.n - 1 - r, m.n));
}

// z's plane coordinates (a, b) and its distance from the plane
function project(z) {
  const { base, A, B } = m.plane;
  const rel = z.map((v, k) => v - base[k]);
  const a = dot(rel, A) / dot(A, A), b = dot(rel, B) / dot(B, B);
  const off = Math.sqrt(rel.reduce((s, v, k) => s + (v - a * A[k] - b * B[k]) ** 2, 0));
  return { a, b, off };
}

/* ---------- the controls ---------- */

function fillControls(model) {
  const d = model.latent_dim;
  const info = activity(model);
  const plane = $('manifold-plane');
  const options = [];
  if (d > 2 && model.principal_plane) options.push(new Option('the principal plane', 'principal'));
  // d = 2: the paper's figure, z0 across and z1 up; else pairs of the most active dimensions
  const pairs = d === 2 ? [[0, 1]] : [...Array(Math.min(MAX_PAIRS, Math.floor(d / 2))).keys()].map((p) => [info.order[2 * p], info.order[2 * p + 1]]);
  for (const [a, b] of pairs) options.push(new Option(`z${a} across, z${b} up`, `${a},${b}`));
  plane.replaceChildren(...options);
  const base = $('manifold-base');
  const bases = [new Option('the default centre', 'default')];
  if (d > 2 && model.principal_plane) bases.push(new Option('the origin', 'origin'));
  if (model.class_stats) {
    classNames(model).forEach((name, i) => bases.push(new Option(`class ${i === Number(name) ? i : `${i} \u00b7 ${name}`}`, String(i))));
  }
  base.replaceChildren(...bases);
  const why = [];
  if (d > 2 && !model.principal_plane) why.push('no principal plane, so the planes are pairs of dimensions');
  if (!model.class_stats) why.push('no class statistics, so no class can be the centre');
  $('manifold-note').textContent = why.length ? `This model has ${why.join(', and ')}.` : '';
  $('manifold-note').hidden = !why.length;
}

function params() {
  const p = { n: $('manifold-n').value };
  const plane = $('manifold-plane').value;
  if (plane !== 'principal' && state.model.latent_dim > 2) p.dims = plane;
  const base = $('manifold-base').value;
  if (base !== 'default') p.base = base;
  return p;
}

function describePlane(model, plane, base) {
  const names = classNames(model);
  const centre = base === 'default'
    ? (plane === 'principal' ? 'around the mean of the test set\u2019s codes'
      : model.latent_dim === 2 ? 'around the origin' : 'the other coordinates at 0')
    : base === 'origin' ? 'around the origin' : `around the centroid of class ${names[Number(base)]}`;
  if (plane === 'principal') return { across: 'the 1st principal direction', up: 'the 2nd', centre, principal: true };
  const [a, b] = plane.split(',');
  return { across: `z${a}`, up: `z${b}`, centre, principal: false, dims: [Number(a), Number(b)] };
}

/* ---------- loading the grid ---------- */

function load(tell = false) {
  return job(async (isCurrent, signal) => {
    const model = state.model;
    const p = params();
    const n = Number(p.n);
    try {
      const [{ blob }, probe] = await Promise.all([
        apiBlob(withModel('manifold', p), undefined, signal),
        apiJSON(withModel('manifold', { ...p, n: '2', format: 'json' }), undefined, signal),
      ]);
      if (!isCurrent()) return;
      const words = describePlane(model, $('manifold-plane').value || '0,1', $('manifold-base').value);
      m.plane = { ...planeFrom(probe.z), ...words };
      m.n = n;
      m.active = null;
      m.chosen = null;
      m.saved = null;
      m.focusCell = [Math.floor(n / 2), Math.floor(n / 2)];
      await showImage($('manifold'), $('manifold-empty'), blob);
      buildCells();
      const caption = `${n} \u00d7 ${n}: ${words.across} across, ${words.up} up, ${words.centre}`;
      $('manifold-caption').textContent = caption;
      $('manifold').alt = `The decoder over a ${n} by ${n} grid: ${words.across} across, ${words.up} up`;
      showCell(m.focusCell);
      drawMarks();
      showError(ERROR, null);
      if (tell) announce(`Manifold: ${caption}.`);
    } catch (err) {
      if (isCurrent()) showError(ERROR, err, 'Manifold');
    }
  });
}

/* ---------- the cells: an ARIA grid over the picture (one Tab stop, arrow keys) ---------- */

function cellLabel(r, c) {
  const a = q(c, m.n), b = q(m.n - 1 - r, m.n);
  if (m.plane.principal) return `${signed(a)} spreads along the 1st direction, ${signed(b)} along the 2nd`;
  const z = cellZ(r, c);
  return `${m.plane.across} ${signed(z[m.plane.dims[0]])}, ${m.plane.up} ${signed(z[m.plane.dims[1]])}`;
}

function buildCells() {
  const grid = $('manifold-grid');
  const rows = [];
  for (let r = 0; r < m.n; r++) {
    const row = document.createElement('div');
    row.setAttribute('role', 'row');
    row.className = 'mrow';
    row.style.height = `${100 / m.n}%`;
    for (let c = 0; c < m.n; c++) {
      const cell = document.createElement('div');
      cell.setAttribute('role', 'gridcell');
      cell.className = 'mcell';
      cell.id = `cell-${r}-${c}`;
      cell.dataset.r = String(r);
      cell.dataset.c = String(c);
      cell.tabIndex = r === m.focusCell[0] && c === m.focusCell[1] ? 0 : -1;
      cell.setAttribute('aria-label', cellLabel(r, c));
      cell.setAttribute('aria-selected', 'false');
      row.append(cell);
    }
    rows.push(row);
  }
  grid.replaceChildren(...rows);
  grid.setAttribute('aria-label', `Manifold cells, ${m.n} by ${m.n}: arrow keys move, Enter keeps the cell\u2019s z`);
  grid.hidden = false;
}

const cellEl = ([r, c]) => $(`cell-${r}-${c}`);

function moveFocus(rc) {
  const old = cellEl(m.focusCell);
  if (old) old.tabIndex = -1;
  m.focusCell = rc;
  const el = cellEl(rc);
  el.tabIndex = 0;
  el.focus();
}

function setupGrid() {
  const grid = $('manifold-grid');
  grid.addEventListener('keydown', (e) => {
    if (!m.plane) return;
    const [r, c] = m.focusCell;
    const last = m.n - 1;
    const moves = {
      ArrowUp: [Math.max(0, r - 1), c], ArrowDown: [Math.min(last, r + 1), c],
      ArrowLeft: [r, Math.max(0, c - 1)], ArrowRight: [r, Math.min(last, c + 1)],
      Home: e.ctrlKey ? [0, 0] : [r, 0], End: e.ctrlKey ? [last, last] : [r, last],
      PageUp: [0, c], PageDown: [last, c],
    };
    if (moves[e.key]) {
      // the focus moves, and focusin previews the cell
      e.preventDefault();
      moveFocus(moves[e.key]);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      choose(m.focusCell);
    } else if (e.key === 'Escape') {
      endPreview();
    }
  });
  grid.addEventListener('focusin', (e) => {
    const cell = e.target.closest('.mcell');
    if (cell) preview([Number(cell.dataset.r), Number(cell.dataset.c)]);
  });
  grid.addEventListener('focusout', (e) => {
    if (!grid.contains(e.relatedTarget)) endPreview();
  });
  // the pointer: hover previews, a press keeps, a drag keeps as it goes (continuously for d = 2)
  const at = (e) => {
    const r = grid.getBoundingClientRect();
    const fx = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    const fy = Math.min(1, Math.max(0, (e.clientY - r.top) / r.height));
    const cell = [Math.min(m.n - 1, Math.floor(fy * m.n)), Math.min(m.n - 1, Math.floor(fx * m.n))];
    return { fx, fy, cell };
  };
  const pad = () => state.model && state.model.latent_dim === 2;
  grid.addEventListener('pointerdown', (e) => {
    if (!m.plane) return;
    e.preventDefault();
    grid.setPointerCapture(e.pointerId);
    m.dragging = true;
    const p = at(e);
    if (pad()) choosePoint(p);
    else choose(p.cell, false);
  });
  grid.addEventListener('pointermove', (e) => {
    if (!m.plane) return;
    const p = at(e);
    if (m.dragging) {
      if (pad()) choosePoint(p);
      else if (!m.chosen || p.cell[0] !== m.chosen[0] || p.cell[1] !== m.chosen[1]) choose(p.cell, false);
    } else if (e.pointerType === 'mouse' || e.pointerType === 'pen') {
      if (pad()) previewPoint(p);
      else if (!m.active || p.cell[0] !== m.active[0] || p.cell[1] !== m.active[1]) preview(p.cell);
    }
  });
  const up = () => {
    if (!m.dragging) return;
    m.dragging = false;
    const z = state.z.map(signed).join(', ');
    announce(m.chosen ? `z set to the manifold cell: ${cellLabel(...m.chosen)}.` : `z set to (${z}) on the manifold.`);
  };
  grid.addEventListener('pointerup', up);
  grid.addEventListener('pointercancel', up);
  grid.addEventListener('pointerleave', () => {
    if (!m.dragging) endPreview();
  });
}

// A cell shows under the pointer or the focus: large beside the grid, and in the sliders.
function preview(rc) {
  m.active = rc;
  showCell(rc);
  if (!m.saved) m.saved = state.z.slice();
  emit('latent', { z: cellZ(...rc).map(round2), preview: true });
  drawMarks();
}

function previewPoint({ fx, fy, cell }) {
  m.active = cell;
  showCell(cell);
  if (!m.saved) m.saved = state.z.slice();
  emit('latent', { z: pointZ(fx, fy), preview: true });
  drawMarks();
}

function pointZ(fx, fy) {
  const clamp = (v) => Math.min(0.999, Math.max(0.001, v));
  return zAt(normalQuantile(clamp(fx)), normalQuantile(clamp(1 - fy))).map(round2);
}

// The preview ends without a choice: z goes back to what it was.
function endPreview() {
  m.active = null;
  if (m.saved) {
    const z = m.saved;
    m.saved = null;
    emit('latent', { z, preview: true });
  }
  showCell(m.chosen || m.focusCell);
  drawMarks();
}

function choose(rc, tell = true) {
  m.saved = null;
  m.chosen = rc;
  m.active = rc;
  for (const el of $('manifold-grid').querySelectorAll('[aria-selected="true"]')) el.setAttribute('aria-selected', 'false');
  const el = cellEl(rc);
  if (el) el.setAttribute('aria-selected', 'true');
  showCell(rc);
  emit('latent', { z: cellZ(...rc).map(round2), why: tell ? `z set to the manifold cell: ${cellLabel(...rc)}.` : '' });
  drawMarks();
}

function choosePoint(p) {
  m.saved = null;
  m.chosen = null;
  m.active = p.cell;
  showCell(p.cell);
  emit('latent', { z: pointZ(p.fx, p.fy) });
  drawMarks();
}

/* ---------- the large cell, the marks ---------- */

function showCell([r, c]) {
  const img = $('manifold');
  const canvas = $('manifold-cell');
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, 28, 28);
  if (!m.plane || img.hidden || !img.naturalWidth) return;
  ctx.drawImage(img, c * 28, r * 28, 28, 28, 0, 0, 28, 28);
  canvas.dataset.cell = `${r},${c}`;
  const label = cellLabel(r, c);
  $('manifold-cell-caption').textContent = `Row ${r + 1}, column ${c + 1}: ${label}`;
  canvas.setAttribute('aria-label', `The manifold's cell at row ${r + 1}, column ${c + 1}, decoded large`);
}

function drawMarks() {
  const canvas = $('manifold-marks');
  const ratio = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  if (!W || !H) return;
  canvas.width = Math.round(W * ratio);
  canvas.height = Math.round(H * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, W, H);
  if (!m.plane || !state.model || state.z.length !== m.plane.base.length) return;
  const cw = W / m.n, ch = H / m.n;
  ctx.lineWidth = 2;
  if (m.chosen) {
    ctx.strokeStyle = '#ffb35a';
    ctx.strokeRect(m.chosen[1] * cw + 1, m.chosen[0] * ch + 1, cw - 2, ch - 2);
  }
  if (m.active && (!m.chosen || m.active[0] !== m.chosen[0] || m.active[1] !== m.chosen[1])) {
    ctx.strokeStyle = 'rgba(90, 169, 255, 0.9)';
    ctx.strokeRect(m.active[1] * cw + 1, m.active[0] * ch + 1, cw - 2, ch - 2);
  }
  // where z is: a dot on the plane (a ring when z is off it: its projection)
  const { a, b, off } = project(state.z);
  const x = normalCdf(a) * W, y = (1 - normalCdf(b)) * H;
  const onPlane = off < 0.05;
  ctx.beginPath();
  ctx.arc(x, y, 6, 0, 2 * Math.PI);
  if (onPlane) {
    ctx.fillStyle = '#5aa9ff';
    ctx.fill();
    ctx.strokeStyle = '#08111f';
    ctx.stroke();
  } else {
    ctx.strokeStyle = '#5aa9ff';
    ctx.stroke();
  }
  canvas.dataset.dot = `${x.toFixed(1)},${y.toFixed(1)}`;
  $('manifold-where').textContent = onPlane
    ? 'The dot is z, on this plane.'
    : `The ring is where z projects onto this plane; z is ${off.toFixed(2)} away from it.`;
}

export default {
  name: 'manifold',

  setup() {
    setupGrid();
    for (const id of ['manifold-plane', 'manifold-base', 'manifold-n']) {
      $(id).addEventListener('change', () => load(true));
    }
    on('z', () => drawMarks());
    new ResizeObserver(() => drawMarks()).observe($('manifold-marks'));
  },

  modelChanged(model) {
    fillControls(model);
    m.plane = null;
    $('manifold-hint').textContent = model.latent_dim === 2
      ? 'the 2-D latent space through the normal quantiles: point, click or drag'
      : 'the decoder over a plane of the latent space: point at a cell, or click it';
    return load(false);
  },

  refresh: () => load(false),
};
