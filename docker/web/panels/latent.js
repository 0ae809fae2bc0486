// The latent panel: one slider per latent dimension (and a 2-D pad when d = 2) and the image the
// model decodes from z, which follows live: one /decode in flight, moves in between coalesced.
import { apiBlob, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { $, busy, fixed2, reducedMotion, showError, showImage } from '../lib/ui.js';
import { on, state } from '../lib/state.js';

const ERROR = 'latent-error';
const RANGE = 3;

function buildSliders(d) {
  const rows = [];
  for (let i = 0; i < d; i++) {
    const row = document.createElement('div');
    row.className = 'slider';
    const label = document.createElement('label');
    label.htmlFor = `z-${i}`;
    label.textContent = `z${i}`;
    const input = document.createElement('input');
    input.type = 'range';
    input.id = `z-${i}`;
    input.min = String(-RANGE);
    input.max = String(RANGE);
    input.step = '0.05';
    input.value = '0';
    input.dataset.index = String(i);
    // the value in text is the slider's own (aria-valuetext); the number beside it is for the eye
    const value = document.createElement('span');
    value.className = 'value';
    value.setAttribute('aria-hidden', 'true');
    input.addEventListener('input', () => {
      state.z[i] = Number(input.value);
      showValue(input, value, state.z[i]);
      drawPad();
      requestDecode();
    });
    row.append(label, input, value);
    rows.push(row);
  }
  $('sliders').replaceChildren(...rows);
  $('pad2d').hidden = d !== 2;
  $('latent-hint').textContent = d === 2 ? 'drag on the pad or move the sliders' : `move the ${d} sliders`;
  $('latent-skip').textContent = `Skip the ${d} sliders`;
  $('latent-skip').hidden = false;
  $('sliders').setAttribute('aria-label', `Latent vector z, ${d} coordinates`);
}

function showValue(input, value, v) {
  value.textContent = fixed2(v);
  input.setAttribute('aria-valuetext', fixed2(v));
}

function syncSliders() {
  for (const input of $('sliders').querySelectorAll('input')) {
    const i = Number(input.dataset.index);
    input.value = String(state.z[i]);
    showValue(input, input.nextElementSibling, state.z[i]);
  }
  drawPad();
}

function drawPad() {
  const pad = $('pad2d');
  if (pad.hidden) return;
  const ctx = pad.getContext('2d');
  const S = pad.width;
  ctx.clearRect(0, 0, S, S);
  ctx.strokeStyle = '#2a3140';
  for (let k = -RANGE; k <= RANGE; k++) {
    const t = ((k + RANGE) / (2 * RANGE)) * S;
    ctx.lineWidth = k === 0 ? 2 : 1;
    ctx.beginPath();
    ctx.moveTo(t, 0);
    ctx.lineTo(t, S);
    ctx.moveTo(0, t);
    ctx.lineTo(S, t);
    ctx.stroke();
  }
  const x = ((state.z[0] + RANGE) / (2 * RANGE)) * S;
  const y = ((RANGE - state.z[1]) / (2 * RANGE)) * S;
  ctx.fillStyle = '#5aa9ff';
  ctx.beginPath();
  ctx.arc(x, y, 7, 0, 2 * Math.PI);
  ctx.fill();
}

function setupPad() {
  const pad = $('pad2d');
  let dragging = false;
  const move = (e) => {
    const r = pad.getBoundingClientRect();
    const fx = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    const fy = Math.min(1, Math.max(0, (e.clientY - r.top) / r.height));
    state.z[0] = Math.round((fx * 2 - 1) * RANGE * 100) / 100;
    state.z[1] = Math.round((1 - fy * 2) * RANGE * 100) / 100;
    syncSliders();
    requestDecode();
  };
  pad.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    dragging = true;
    move(e);
  });
  pad.addEventListener('pointermove', (e) => dragging && move(e));
  pad.addEventListener('pointerup', () => { dragging = false; });
  pad.addEventListener('pointercancel', () => { dragging = false; });
}

// One decode in flight at a time; changes of z during it are coalesced into one more decode.
const decoder = { busy: false, again: false };

function requestDecode() {
  if (!state.model) return;
  if (decoder.busy) {
    decoder.again = true;
    return;
  }
  decodeLoop();
}

async function decodeLoop() {
  decoder.busy = true;
  busy.add(1);
  try {
    do {
      decoder.again = false;
      const model = state.model;
      try {
        const { blob } = await apiBlob(withModel('decode'), { z: state.z });
        if (model === state.model) await showImage($('decoded'), $('decoded-empty'), blob);
        showError(ERROR, null);
      } catch (err) {
        showError(ERROR, err, 'Latent space');
      }
    } while (decoder.again);
  } finally {
    decoder.busy = false;
    busy.add(-1);
  }
}

function setZ(z, why) {
  state.z = z;
  syncSliders();
  requestDecode();
  if (why) announce(why);
}

function gaussian() {
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

export default {
  name: 'latent',

  setup() {
    setupPad();
    $('latent-zero').addEventListener('click', () => setZ(state.z.map(() => 0), 'z set to zero.'));
    $('latent-random').addEventListener('click', () =>
      setZ(state.z.map(() => Math.round(gaussian() * 100) / 100), 'z drawn at random.'));
    // the skip link moves focus itself: the page's URL fragment holds the model
    $('latent-skip').addEventListener('click', (e) => {
      e.preventDefault();
      $('latent-zero').focus();
    });
    // another panel hands over a z ("Explore this z"): show it here and take the focus along
    on('latent', ({ z, why }) => {
      setZ(z, why);
      $('latent-card').scrollIntoView({ behavior: reducedMotion.matches ? 'auto' : 'smooth', block: 'nearest' });
      $('latent-title').focus({ preventScroll: true });
    });
  },

  async modelChanged(model, previous) {
    if (!previous || previous.latent_dim !== model.latent_dim) buildSliders(model.latent_dim);
    state.z = new Array(model.latent_dim).fill(0);
    syncSliders();
    requestDecode();
  },

  async refresh() {
    requestDecode();
  },
};
