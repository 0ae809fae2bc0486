// The latent panel: one slider per latent dimension, the active ones first (by the diagnostics the
// trainer stored: the variance of mu over the test set), the inactive ones after them, marked; and
// the image the model decodes from z, which follows live: one /decode in flight, moves in between
// coalesced. For d = 2 the 2-D pad is the manifold panel's grid.
import { apiBlob, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { $, busy, fixed2, reducedMotion, showError, showImage } from '../lib/ui.js';
import { activity, emit, on, state } from '../lib/state.js';

const ERROR = 'latent-error';
const RANGE = 3;

function sliderRow(i, info) {
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
  if (info.muVar) {
    row.title = `variance of \u03bc over the test set ${info.muVar[i].toPrecision(2)}` +
      (info.kl ? `, KL ${info.kl[i].toFixed(2)} nats` : '');
  }
  if (info.active && !info.active.has(i)) {
    row.classList.add('inactive');
    input.setAttribute('aria-describedby', 'inactive-note');
  }
  // the value in text is the slider's own (aria-valuetext); the number beside it is for the eye
  const value = document.createElement('span');
  value.className = 'value';
  value.setAttribute('aria-hidden', 'true');
  input.addEventListener('input', () => {
    state.z[i] = Number(input.value);
    showValue(input, value, state.z[i]);
    changed();
  });
  row.append(label, input, value);
  return row;
}

// A group of sliders with its visible heading (the group's name).
function group(id, heading, rows, extraClass) {
  const box = document.createElement('div');
  box.className = `slider-group${extraClass ? ` ${extraClass}` : ''}`;
  box.setAttribute('role', 'group');
  box.setAttribute('aria-labelledby', `${id}-heading`);
  const title = document.createElement('p');
  title.className = 'group-heading';
  title.id = `${id}-heading`;
  title.textContent = heading;
  const grid = document.createElement('div');
  grid.className = 'slider-grid';
  grid.append(...rows);
  box.append(title, grid);
  return box;
}

function buildSliders(model) {
  const d = model.latent_dim;
  const info = activity(model);
  const groups = [];
  if (info.active) {
    const active = info.order.filter((i) => info.active.has(i));
    const inactive = info.order.filter((i) => !info.active.has(i));
    groups.push(group('active', `Active: ${active.length} of ${d}, most used first`, active.map((i) => sliderRow(i, info))));
    if (inactive.length) {
      groups.push(group('inactive', `Inactive: ${inactive.length}`, inactive.map((i) => sliderRow(i, info)), 'inactive-group'));
    }
    $('inactive-note').textContent = `inactive: the encoder hardly uses this dimension (the variance of its \u03bc over the test set is below ${info.threshold}); moving it changes the image little`;
    $('latent-order').textContent = inactive.length
      ? `Active dimensions first, by how much the encoder uses them; the ${inactive.length} inactive ones after, dimmed.`
      : 'Every dimension is active; the most used first.';
  } else {
    groups.push(group('all', `All ${d}, in index order`, [...Array(d).keys()].map((i) => sliderRow(i, info))));
    $('inactive-note').textContent = '';
    $('latent-order').textContent = 'This model has no diagnostics, so the dimensions are in index order and none is marked inactive.';
  }
  $('sliders').replaceChildren(...groups);
  $('sliders').dataset.order = info.order.join(',');
  $('latent-hint').textContent = d === 2 ? 'drag on the manifold or move the sliders' : `move the ${d} sliders`;
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
}

// z changed here or was set from outside: the sliders' own moves do not need syncing
function changed(preview = false) {
  requestDecode();
  emit('z', { preview });
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

function setZ(z, why, preview = false) {
  state.z = z;
  syncSliders();
  changed(preview);
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
    $('latent-zero').addEventListener('click', () => setZ(state.z.map(() => 0), 'z set to zero.'));
    $('latent-random').addEventListener('click', () =>
      setZ(state.z.map(() => Math.round(gaussian() * 100) / 100), 'z drawn at random.'));
    // the skip link moves focus itself: the page's URL fragment holds the model
    $('latent-skip').addEventListener('click', (e) => {
      e.preventDefault();
      $('latent-zero').focus();
    });
    // another panel hands over a z: shown here; with follow ("Explore this z") the focus and the
    // view come along; preview (a manifold cell under the pointer) is not announced
    on('latent', ({ z, why, follow, preview }) => {
      if (!state.model || z.length !== state.model.latent_dim) return;
      setZ(z.slice(), why, preview);
      if (!follow) return;
      $('latent-card').scrollIntoView({ behavior: reducedMotion.matches ? 'auto' : 'smooth', block: 'nearest' });
      $('latent-title').focus({ preventScroll: true });
    });
  },

  async modelChanged(model) {
    buildSliders(model);
    state.z = new Array(model.latent_dim).fill(0);
    syncSliders();
    changed();
  },

  async refresh() {
    requestDecode();
  },
};
