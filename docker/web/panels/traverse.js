// The traversal panel: from the current z (the latent sliders), each of the most active latent
// dimensions swept in turn from -range to +range (GET /traverse): one row per dimension, the
// standard picture of what each coordinate does. It follows z (a short while after z stops
// changing, stale calls cancelled); a tick marks each row's current value, and clicking a cell
// sets that coordinate.
import { apiBlob, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { $, fixed2, latestOnly, showError, showImage } from '../lib/ui.js';
import { activity, emit, on, state } from '../lib/state.js';

const ERROR = 'traverse-error';
const FOLLOW_MS = 300;
const job = latestOnly();
// rows: the number of rows asked for (kept across models; fewer when a model has fewer dimensions)
const t = { dims: [], steps: 0, range: 0, base: null, timer: 0, rows: 8 };

function fillRows(model) {
  const d = model.latent_dim;
  const sel = $('traverse-rows');
  const keep = t.rows;
  const counts = [2, 4, 8, 12, 16].filter((k) => k < d);
  counts.push(d);
  sel.replaceChildren(...counts.map((k) => new Option(k === d ? `all ${d}` : String(k), String(k))));
  sel.value = String(counts.includes(keep) ? keep : counts.find((k) => k >= keep) || d);
}

function traverse(tell = false) {
  clearTimeout(t.timer);
  t.timer = 0;
  return job(async (isCurrent, signal) => {
    const model = state.model;
    if (state.z.length !== model.latent_dim) return;
    const info = activity(model);
    const dims = info.order.slice(0, Number($('traverse-rows').value));
    const steps = Number($('traverse-steps').value);
    const range = Number($('traverse-range').value);
    const base = state.z.slice();
    const params = { z: base.map((v) => String(v)).join(','), dims: dims.join(','), steps: String(steps), range: String(range) };
    try {
      const { blob } = await apiBlob(withModel('traverse', params), undefined, signal);
      if (!isCurrent()) return;
      Object.assign(t, { dims, steps, range, base });
      await showImage($('traverse'), $('traverse-empty'), blob);
      showLabels(info);
      const what = `${dims.length} dimension${dims.length > 1 ? 's' : ''} (${dims.map((i) => `z${i}`).join(', ')}), each from \u2212${range} to +${range} in ${steps} steps`;
      $('traverse').alt = `Traversal from the current z: ${what}`;
      $('traverse-caption').textContent = `From the current z: ${dims.length} row${dims.length > 1 ? 's' : ''}, \u2212${range} to +${range}${info.active ? ', the most active dimensions first' : ''}; the ticks mark z`;
      drawTicks();
      showError(ERROR, null);
      if (tell) announce(`Traversal: ${what}.`);
    } catch (err) {
      if (isCurrent()) showError(ERROR, err, 'Traversal');
    }
  });
}

function showLabels(info) {
  const labels = $('traverse-labels');
  labels.style.gridTemplateRows = `repeat(${t.dims.length}, 1fr)`;
  labels.replaceChildren(...t.dims.map((i) => {
    const li = document.createElement('li');
    li.textContent = `z${i}`;
    if (info.active && !info.active.has(i)) li.className = 'inactive';
    return li;
  }));
}

// A tick above and below each row, at the row's coordinate of the current z.
function drawTicks() {
  const canvas = $('traverse-ticks');
  const ratio = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  if (!W || !H) return;
  canvas.width = Math.round(W * ratio);
  canvas.height = Math.round(H * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, W, H);
  if (!t.dims.length || state.z.length !== t.base.length) return;
  const rowH = H / t.dims.length, cellW = W / t.steps;
  ctx.fillStyle = '#ffb35a';
  t.dims.forEach((dim, r) => {
    const f = Math.min(1, Math.max(0, (state.z[dim] + t.range) / (2 * t.range)));
    const x = (0.5 + f * (t.steps - 1)) * cellW;
    ctx.fillRect(x - 1, r * rowH, 2, Math.max(3, rowH * 0.12));
    ctx.fillRect(x - 1, (r + 1) * rowH - Math.max(3, rowH * 0.12), 2, Math.max(3, rowH * 0.12));
  });
}

function follow() {
  drawTicks();
  clearTimeout(t.timer);
  t.timer = setTimeout(() => traverse(false), FOLLOW_MS);
}

export default {
  name: 'traverse',

  setup() {
    for (const id of ['traverse-rows', 'traverse-steps', 'traverse-range']) {
      $(id).addEventListener('change', () => traverse(true));
    }
    $('traverse-rows').addEventListener('change', () => { t.rows = Number($('traverse-rows').value); });
    on('z', follow);
    new ResizeObserver(() => drawTicks()).observe($('traverse-ticks'));
    // a click on a cell sets that row's coordinate to the cell's value (the sliders do the same
    // from the keyboard)
    $('traverse-box').addEventListener('click', (e) => {
      if (!t.dims.length || $('traverse').hidden) return;
      const r = $('traverse').getBoundingClientRect();
      const row = Math.min(t.dims.length - 1, Math.floor(((e.clientY - r.top) / r.height) * t.dims.length));
      const col = Math.min(t.steps - 1, Math.floor(((e.clientX - r.left) / r.width) * t.steps));
      if (row < 0 || col < 0) return;
      const value = Math.round((-t.range + (2 * t.range * col) / (t.steps - 1)) * 100) / 100;
      const z = state.z.slice();
      z[t.dims[row]] = value;
      emit('latent', { z, why: `z${t.dims[row]} set to ${fixed2(value).replace('-', '\u2212')}.` });
    });
  },

  modelChanged(model) {
    fillRows(model);
    return traverse(false);
  },

  refresh: () => traverse(false),
};
