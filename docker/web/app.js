// VAE playground: the page's frame. Loads the models from the vae-server API (nginx serves it under
// api/ on the same origin), runs the model switch, the connection banner and the footer status,
// and drives the panels. Plain JavaScript modules, no build step, no dependencies.
//
// A panel is a module in panels/ whose default export is
//   { name, setup(), modelChanged(model, previous), refresh() }
// setup() wires its card once at start; modelChanged() runs when a model is selected (the first
// one included) and refresh() when the service is back after an outage: both redo what the panel
// shows and return a promise. Controls that need a model carry data-needs-model in the markup and
// stay disabled until a model is loaded. Panels report through lib/: api.js for calls (errors as
// ApiError), ui.js for a card's error box and pictures, announce.js for the one live region.
// To add a panel: its <section class="card"> in index.html, its module in panels/, one entry below.
import { apiJSON, ApiError, isOutage, userMessage } from './lib/api.js';
import { announce } from './lib/announce.js';
import { $, busy } from './lib/ui.js';
import { on, state } from './lib/state.js';
import draw from './panels/draw.js';
import complete from './panels/complete.js';
import latent from './panels/latent.js';
import manifold from './panels/manifold.js';
import traverse from './panels/traverse.js';
import sample from './panels/sample.js';
import morph from './panels/morph.js';

const PANELS = [draw, complete, latent, manifold, traverse, sample, morph];
const RETRY_SECONDS = 5;

/* ---------- the model switch: native radio buttons (one Tab stop, arrow keys select) ---------- */

function renderModelSwitch() {
  const box = $('models');
  box.replaceChildren(...state.models.map((m) => {
    const label = document.createElement('label');
    label.className = 'segment';
    label.title = `${(m.metadata && m.metadata.dataset) || m.name}, latent dimension ${m.latent_dim}`;
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'model';
    input.value = m.name;
    input.addEventListener('change', () => input.checked && selectModel(m.name));
    const text = document.createElement('span');
    text.textContent = m.name;
    label.append(input, text);
    return label;
  }));
}

async function selectModel(name) {
  const model = state.models.find((m) => m.name === name);
  if (!model) return;
  const previous = state.model;
  state.model = model;
  for (const input of $('models').querySelectorAll('input')) input.checked = input.value === name;
  const arch = model.architecture || model.hidden.join('-');
  const dataset = (model.metadata && model.metadata.dataset) || '';
  $('model-info').textContent = `d = ${model.latent_dim} \u00b7 ${arch}${dataset ? ' \u00b7 ' + dataset : ''}`;
  document.body.dataset.model = name;
  history.replaceState(null, '', `#model=${encodeURIComponent(name)}`);
  enableControls(true);
  await Promise.all(PANELS.map((p) => p.modelChanged(model, previous)));
}

function enableControls(on) {
  for (const el of document.querySelectorAll('[data-needs-model]')) el.disabled = !on;
}

/* ---------- the connection: banner, footer status, retries and recovery ---------- */

const service = {
  up: null,        // null: never connected yet; then true or false
  said: '',        // the outage message shown (and announced) last: each is said once
  dismissed: '',   // the message the person dismissed: not shown again during this outage
  timer: 0,
  connecting: null,
};

function showBanner(message) {
  $('banner-text').textContent = message;
  $('banner').hidden = !message || message === service.dismissed;
}

function setStatus(text) {
  $('status').textContent = text;
}

// GET /v1/models and everything that follows from it: the first time, the switch and the first
// model; after an outage, the same model again (or another one if it is gone) and every panel
// redone. A failure shows the banner once and tries again in RETRY_SECONDS.
function connect() {
  if (!service.connecting) {
    service.connecting = connectOnce().finally(() => { service.connecting = null; });
  }
  return service.connecting;
}

async function connectOnce() {
  clearTimeout(service.timer);
  busy.add(1);
  try {
    const doc = await apiJSON('v1/models');
    if (!doc.models || !doc.models.length) throw new ApiError('the server has no models loaded', 503, 'no_models');
    const wasDown = service.up === false;
    service.up = true;
    service.said = service.dismissed = '';
    showBanner('');
    setStatus(`Connected: ${doc.models.length} model${doc.models.length > 1 ? 's' : ''}`);
    const names = (list) => list.map((m) => m.name).join();
    const changed = names(doc.models) !== names(state.models);
    state.models = doc.models;
    if (changed) renderModelSwitch();
    const wanted = state.model ? state.model.name : new URLSearchParams(location.hash.slice(1)).get('model');
    const keep = doc.models.find((m) => m.name === wanted);
    if (wasDown) announce('The model service is back.');
    if (keep && state.model && !changed) {
      state.model = keep;
      await Promise.all(PANELS.map((p) => p.refresh()));
    } else {
      const first = keep || doc.models.find((m) => m.default) || doc.models[0];
      await selectModel(first.name);
    }
  } catch (err) {
    lost(err);
  } finally {
    busy.add(-1);
  }
}

// The service is not answering (or has no model): say so once, keep the footer true, retry.
function lost(err) {
  service.up = false;
  clearTimeout(service.timer);
  service.timer = setTimeout(connect, RETRY_SECONDS * 1000);
  const reason = userMessage(err);
  const message = state.model
    ? `The model service stopped answering: ${reason}. The page tries again every ${RETRY_SECONDS} s and carries on when it is back.`
    : `Cannot load the models: ${reason}. The page tries again every ${RETRY_SECONDS} s.`;
  setStatus(`Not connected: retrying every ${RETRY_SECONDS} s`);
  if (message === service.said) return;
  service.said = message;
  showBanner(message);
  announce(message);
}

function setupConnection() {
  // any call that finds the service gone, or back, tells the page (lib/api.js)
  on('service', ({ up, error }) => {
    if (!up && isOutage(error) && service.up !== false) lost(error);
    else if (up && service.up === false) connect();
  });
  $('banner-close').addEventListener('click', () => {
    service.dismissed = $('banner-text').textContent;
    $('banner').hidden = true;
    // the focus goes on to where the page's content begins
    $('draw-title').focus();
  });
}

function setup() {
  busy.add(0);
  enableControls(false);
  for (const p of PANELS) p.setup();
  setupConnection();
  connect();
}

setup();
