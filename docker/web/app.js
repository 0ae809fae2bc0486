// VAE playground: draws, encodes, decodes, samples and morphs through the vae-server API, which
// nginx serves under api/ on the same origin. Plain JavaScript, no build step, no dependencies.
'use strict';

const API = 'api/';
const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
  'Sneaker', 'Bag', 'Ankle boot'];
const SLIDER_RANGE = 3;

const $ = (id) => document.getElementById(id);
// two decimals, without a "-0.00"
const fixed2 = (v) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);

/* ---------- API access: every failure becomes an ApiError whose message is shown to the user ---------- */

class ApiError extends Error {
  constructor(message, status, type) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

// Fetches API + path; resolves to the Response on 2xx, else throws an ApiError carrying the API's
// {"error":{"message"}} (or the HTTP status line when the body is not the API's error shape).
async function api(path, body) {
  const options = body === undefined ? {} : {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  };
  let resp;
  try {
    resp = await fetch(API + path, options);
  } catch (e) {
    throw new ApiError(`cannot reach the server (${e.message})`, 0, 'network');
  }
  if (resp.ok) return resp;
  let message = `HTTP ${resp.status} ${resp.statusText}`.trim();
  let type = 'http';
  try {
    const doc = await resp.json();
    if (doc && doc.error && doc.error.message) {
      message = doc.error.message;
      type = doc.error.type;
    }
  } catch (_) { /* not JSON: keep the status line */ }
  throw new ApiError(message, resp.status, type);
}

// path?model=NAME&... for the current model
function withModel(path, params = {}) {
  const q = new URLSearchParams({ model: state.model.name, ...params });
  return `${path}?${q}`;
}

function showError(id, err) {
  const el = $(id);
  if (!err) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.textContent = err.message || String(err);
  el.hidden = false;
}

function showBanner(message) {
  $('banner-text').textContent = message;
  $('banner').hidden = !message;
}

// Shows a PNG blob in an <img> (replacing its placeholder); data-version counts finished loads.
function showImage(img, placeholder, blob) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(blob);
    img.onload = () => {
      if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
      img.dataset.url = url;
      img.hidden = false;
      placeholder.hidden = true;
      img.dataset.version = String(Number(img.dataset.version || 0) + 1);
      resolve();
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      resolve();
    };
    img.src = url;
  });
}

// Calls to the API under way (body data-busy, for tests and styling): 0 when the page is settled.
const busy = {
  n: 0,
  add(delta) {
    this.n += delta;
    document.body.dataset.busy = String(this.n);
  },
};

// Runs task() for a panel so that only the latest call's result is used: a newer call makes the
// older one's result stale (gen changes) and it is dropped.
function latestOnly() {
  let gen = 0;
  return async (task) => {
    const mine = ++gen;
    const isCurrent = () => mine === gen;
    busy.add(1);
    try {
      await task(isCurrent);
    } finally {
      busy.add(-1);
    }
  };
}

/* ---------- state ---------- */

const state = {
  models: [],
  model: null,
  z: [],
  mu: null,
  drawn: false,
};

function isFashion(model) {
  const dataset = (model.metadata && model.metadata.dataset) || model.name;
  return /fashion/i.test(dataset);
}

function classNames(model) {
  return isFashion(model) ? FASHION_CLASSES : [...Array(10).keys()].map(String);
}

/* ---------- models ---------- */

async function loadModels() {
  try {
    const doc = await (await api('v1/models')).json();
    if (!doc.models || !doc.models.length) throw new ApiError('the server has no models loaded', 0, '');
    state.models = doc.models;
    showBanner('');
    $('status').textContent = `Connected: ${doc.models.length} model${doc.models.length > 1 ? 's' : ''}`;
    renderModelSwitch();
    const wanted = new URLSearchParams(location.hash.slice(1)).get('model');
    const first = doc.models.find((m) => m.name === wanted) || doc.models.find((m) => m.default) || doc.models[0];
    await selectModel(first.name);
  } catch (err) {
    showBanner(`Cannot load the models: ${err.message}. Retrying in 5 s.`);
    $('status').textContent = 'Not connected';
    setTimeout(loadModels, 5000);
  }
}

function renderModelSwitch() {
  const box = $('models');
  box.replaceChildren();
  for (const m of state.models) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = m.name;
    b.dataset.model = m.name;
    b.setAttribute('role', 'radio');
    b.setAttribute('aria-checked', 'false');
    b.title = `${(m.metadata && m.metadata.dataset) || m.name}, latent dimension ${m.latent_dim}`;
    b.addEventListener('click', () => selectModel(m.name));
    box.append(b);
  }
}

async function selectModel(name) {
  const model = state.models.find((m) => m.name === name);
  if (!model) return;
  const changedSize = !state.model || state.model.latent_dim !== model.latent_dim;
  state.model = model;
  for (const b of $('models').children) b.setAttribute('aria-checked', String(b.dataset.model === name));
  const arch = model.architecture || model.hidden.join('-');
  const dataset = (model.metadata && model.metadata.dataset) || '';
  $('model-info').textContent = `d = ${model.latent_dim} \u00b7 ${arch}${dataset ? ' \u00b7 ' + dataset : ''}`;
  $('draw-hint').textContent = isFashion(model) ? 'a piece of clothing' : 'a digit';
  document.body.dataset.model = name;
  history.replaceState(null, '', `#model=${encodeURIComponent(name)}`);
  if (changedSize) buildSliders(model.latent_dim);
  state.z = new Array(model.latent_dim).fill(0);
  state.mu = null;
  syncSliders();
  fillClassSelects(model);
  requestDecode();
  const jobs = [sample(), morph()];
  if (state.drawn) jobs.push(encodeDrawing());
  else drawChart(null, null);
  $('draw-explore').disabled = true;
  await Promise.all(jobs);
}

/* ---------- drawing ---------- */

const draw = {
  canvas: null,
  ctx: null,
  drawing: false,
  last: null,
  timer: 0,
};

function clearDrawing() {
  draw.ctx.fillStyle = '#000';
  draw.ctx.fillRect(0, 0, draw.canvas.width, draw.canvas.height);
  state.drawn = false;
  state.mu = null;
  $('recon').hidden = true;
  $('recon-empty').hidden = false;
  $('draw-explore').disabled = true;
  drawChart(null, null);
  showError('draw-error', null);
}

function canvasPoint(e) {
  const r = draw.canvas.getBoundingClientRect();
  return {
    x: (e.clientX - r.left) * (draw.canvas.width / r.width),
    y: (e.clientY - r.top) * (draw.canvas.height / r.height),
  };
}

function strokeTo(p) {
  const ctx = draw.ctx;
  ctx.strokeStyle = '#fff';
  ctx.fillStyle = '#fff';
  ctx.lineWidth = 22;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  if (draw.last) {
    ctx.moveTo(draw.last.x, draw.last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
  } else {
    ctx.arc(p.x, p.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
  }
  draw.last = p;
}

function setupDrawing() {
  draw.canvas = $('draw');
  draw.ctx = draw.canvas.getContext('2d', { willReadFrequently: true });
  clearDrawing();
  draw.canvas.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    draw.canvas.setPointerCapture(e.pointerId);
    draw.drawing = true;
    draw.last = null;
    clearTimeout(draw.timer);
    strokeTo(canvasPoint(e));
  });
  draw.canvas.addEventListener('pointermove', (e) => {
    if (draw.drawing) strokeTo(canvasPoint(e));
  });
  const end = () => {
    if (!draw.drawing) return;
    draw.drawing = false;
    draw.last = null;
    state.drawn = true;
    // encode shortly after the stroke ends, so a multi-stroke digit is sent once
    clearTimeout(draw.timer);
    draw.timer = setTimeout(encodeDrawing, 250);
  };
  draw.canvas.addEventListener('pointerup', end);
  draw.canvas.addEventListener('pointercancel', end);
  $('draw-clear').addEventListener('click', clearDrawing);
  $('draw-explore').addEventListener('click', () => {
    if (!state.mu) return;
    state.z = state.mu.slice();
    syncSliders();
    decodeNow();
    $('latent-card').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  });
}

// The drawing as the training images were made: MNIST digits fit a 20x20 box centred by their
// centre of mass in 28x28; Fashion-MNIST items fill the 28x28 frame. Returns a 28x28 PNG data URL,
// or null when nothing is drawn.
function modelInput() {
  const { width, height } = draw.canvas;
  const data = draw.ctx.getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1, mass = 0, mx = 0, my = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = data[(y * width + x) * 4];
      if (v > 20) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  if (x1 < 0) return null;
  const box = isFashion(state.model) ? 28 : 20;
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const scale = box / Math.max(w, h);
  // centre of mass (MNIST) or of the bounding box (Fashion-MNIST) goes to the middle
  const cx = isFashion(state.model) ? x0 + w / 2 : mx / mass;
  const cy = isFashion(state.model) ? y0 + h / 2 : my / mass;
  const out = document.createElement('canvas');
  out.width = out.height = 28;
  const ctx = out.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, 28, 28);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  const dx = 14 - (cx - x0) * scale, dy = 14 - (cy - y0) * scale;
  ctx.drawImage(draw.canvas, x0, y0, w, h, dx, dy, w * scale, h * scale);
  return out.toDataURL('image/png');
}

const encodeJob = latestOnly();

function encodeDrawing() {
  return encodeJob(async (isCurrent) => {
    const image = modelInput();
    if (!image) return;
    try {
      const [enc, rec] = await Promise.all([
        api(withModel('encode'), { image }),
        api(withModel('reconstruct'), { image }),
      ]);
      const doc = await enc.json();
      const blob = await rec.blob();
      if (!isCurrent()) return;
      state.mu = doc.mu;
      drawChart(doc.mu, doc.logvar);
      await showImage($('recon'), $('recon-empty'), blob);
      $('draw-explore').disabled = false;
      showError('draw-error', null);
    } catch (err) {
      if (isCurrent()) showError('draw-error', err);
    }
  });
}

/* ---------- the mu / logvar bar chart ---------- */

function drawChart(mu, logvar) {
  const canvas = $('chart');
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height;
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  ctx.clearRect(0, 0, W, H);
  ctx.font = '11px system-ui, sans-serif';
  const d = state.model ? state.model.latent_dim : 0;
  const left = 34, right = 6;
  const panels = [
    { label: '\u03bc', values: mu, colour: colour('--accent'), top: 8, height: 100 },
    { label: 'log\u03c3\u00b2', values: logvar, colour: colour('--accent-2'), top: 122, height: 90 },
  ];
  const slot = d ? (W - left - right) / d : 0;
  for (const p of panels) {
    const max = p.values ? Math.max(1, ...p.values.map((v) => Math.abs(v))) : 1;
    const limit = Math.ceil(max);
    const mid = p.top + p.height / 2;
    const scale = (p.height / 2) / limit;
    ctx.fillStyle = colour('--muted');
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(`+${limit}`, left - 6, p.top + 4);
    ctx.fillText('0', left - 6, mid);
    ctx.fillText(`\u2212${limit}`, left - 6, p.top + p.height - 4);
    ctx.save();
    ctx.translate(10, mid);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.fillText(p.label, 0, 0);
    ctx.restore();
    ctx.strokeStyle = colour('--line');
    ctx.lineWidth = 1;
    ctx.strokeRect(left + 0.5, p.top + 0.5, W - left - right - 1, p.height - 1);
    ctx.beginPath();
    ctx.moveTo(left, Math.round(mid) + 0.5);
    ctx.lineTo(W - right, Math.round(mid) + 0.5);
    ctx.stroke();
    if (!p.values) continue;
    ctx.fillStyle = p.colour;
    p.values.forEach((v, i) => {
      const x = left + i * slot + slot * 0.15;
      const h = v * scale;
      ctx.fillRect(x, h >= 0 ? mid - h : mid, slot * 0.7, Math.max(1, Math.abs(h)));
    });
  }
  ctx.fillStyle = colour('--muted');
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const every = d > 16 ? 4 : 1;
  for (let i = 0; i < d; i += every) ctx.fillText(String(i), left + (i + 0.5) * slot, H - 16);
  if (!mu) {
    ctx.textBaseline = 'middle';
    ctx.fillText('draw something to see its latent Gaussian', W / 2, 8 + 50 - 18);
  }
  canvas.dataset.bars = mu ? String(mu.length) : '0';
}

/* ---------- latent sliders and the 2-D pad ---------- */

function buildSliders(d) {
  const box = $('sliders');
  box.replaceChildren();
  for (let i = 0; i < d; i++) {
    const row = document.createElement('label');
    row.className = 'slider';
    const name = document.createElement('span');
    name.textContent = `z${i}`;
    const input = document.createElement('input');
    input.type = 'range';
    input.min = String(-SLIDER_RANGE);
    input.max = String(SLIDER_RANGE);
    input.step = '0.05';
    input.value = '0';
    input.dataset.index = String(i);
    input.setAttribute('aria-label', `latent coordinate ${i}`);
    const out = document.createElement('output');
    out.textContent = '0.00';
    input.addEventListener('input', () => {
      state.z[i] = Number(input.value);
      out.textContent = fixed2(state.z[i]);
      drawPad();
      requestDecode();
    });
    row.append(name, input, out);
    box.append(row);
  }
  $('pad2d').hidden = d !== 2;
  $('latent-hint').textContent = d === 2 ? 'drag on the pad or move the sliders' : `move the ${d} sliders`;
}

function syncSliders() {
  for (const input of $('sliders').querySelectorAll('input')) {
    const i = Number(input.dataset.index);
    input.value = String(state.z[i]);
    input.nextElementSibling.textContent = fixed2(state.z[i]);
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
  for (let k = -SLIDER_RANGE; k <= SLIDER_RANGE; k++) {
    const t = ((k + SLIDER_RANGE) / (2 * SLIDER_RANGE)) * S;
    ctx.lineWidth = k === 0 ? 2 : 1;
    ctx.beginPath();
    ctx.moveTo(t, 0);
    ctx.lineTo(t, S);
    ctx.moveTo(0, t);
    ctx.lineTo(S, t);
    ctx.stroke();
  }
  const x = ((state.z[0] + SLIDER_RANGE) / (2 * SLIDER_RANGE)) * S;
  const y = ((SLIDER_RANGE - state.z[1]) / (2 * SLIDER_RANGE)) * S;
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
    state.z[0] = Math.round((fx * 2 - 1) * SLIDER_RANGE * 100) / 100;
    state.z[1] = Math.round((1 - fy * 2) * SLIDER_RANGE * 100) / 100;
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

// One decode in flight at a time; slider moves during it are coalesced into one more decode.
const decoder = { busy: false, again: false };

function requestDecode() {
  if (decoder.busy) {
    decoder.again = true;
    return;
  }
  decodeNow();
}

async function decodeNow() {
  decoder.busy = true;
  decoder.again = false;
  busy.add(1);
  const model = state.model.name;
  try {
    const resp = await api(withModel('decode'), { z: state.z });
    const blob = await resp.blob();
    if (model === state.model.name) await showImage($('decoded'), $('decoded-empty'), blob);
    showError('latent-error', null);
  } catch (err) {
    showError('latent-error', err);
  } finally {
    decoder.busy = false;
    if (decoder.again || model !== state.model.name) decodeNow();
    busy.add(-1);
  }
}

function gaussian() {
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

/* ---------- sampling ---------- */

const sampleJob = latestOnly();

function sample() {
  return sampleJob(async (isCurrent) => {
    const params = { n: '16', temperature: $('temperature').value };
    const seed = $('seed').value.trim();
    if (seed !== '') params.seed = seed;
    try {
      const resp = await api(withModel('sample', params));
      const blob = await resp.blob();
      if (!isCurrent()) return;
      const used = resp.headers.get('X-Seed');
      if (used !== null && seed === '') $('seed').value = used;
      await showImage($('samples'), $('samples-empty'), blob);
      $('samples-caption').textContent = `4 \u00d7 4 grid \u00b7 seed ${used} \u00b7 temperature ${Number(params.temperature).toFixed(1)}`;
      showError('sample-error', null);
    } catch (err) {
      if (isCurrent()) showError('sample-error', err);
    }
  });
}

/* ---------- morph ---------- */

const morphJob = latestOnly();
const anim = { frames: 0, frame: 0, dir: 1, timer: 0, playing: true };

function fillClassSelects(model) {
  const names = classNames(model);
  for (const [id, preset] of [['morph-from', 3], ['morph-to', 8]]) {
    const sel = $(id);
    const keep = sel.value === '' ? preset : Number(sel.value);
    sel.replaceChildren(...names.map((n, i) => new Option(isFashion(model) ? `${i} \u00b7 ${n}` : n, String(i))));
    sel.value = String(keep);
  }
}

function morph() {
  return morphJob(async (isCurrent) => {
    const stepsText = $('morph-steps').value.trim();
    const body = {
      from: Number($('morph-from').value),
      to: Number($('morph-to').value),
      method: $('morph-method').value,
    };
    // sent as typed: the server says what is wrong with it
    if (stepsText !== '') body.steps = /^-?\d+$/.test(stepsText) ? Number(stepsText) : stepsText;
    try {
      const resp = await api(withModel('interpolate'), body);
      const blob = await resp.blob();
      if (!isCurrent()) return;
      await showImage($('morph-strip'), $('morph-empty'), blob);
      const names = classNames(state.model);
      const frames = $('morph-strip').naturalWidth / 28;
      $('morph-caption').textContent = `${names[body.from]} \u2192 ${names[body.to]} in ${frames} steps (${body.method})`;
      startAnimation(frames);
      showError('morph-error', null);
    } catch (err) {
      if (isCurrent()) showError('morph-error', err);
    }
  });
}

function startAnimation(frames) {
  anim.frames = frames;
  anim.frame = 0;
  anim.dir = 1;
  clearInterval(anim.timer);
  renderFrame();
  if (anim.playing) anim.timer = setInterval(nextFrame, 110);
}

function nextFrame() {
  if (anim.frames < 2) return;
  if (anim.frame + anim.dir < 0 || anim.frame + anim.dir >= anim.frames) anim.dir = -anim.dir;
  anim.frame += anim.dir;
  renderFrame();
}

function renderFrame() {
  const ctx = $('morph-anim').getContext('2d');
  const strip = $('morph-strip');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, 28, 28);
  if (strip.hidden || !strip.naturalWidth) return;
  ctx.drawImage(strip, anim.frame * 28, 0, 28, 28, 0, 0, 28, 28);
  $('morph-anim').dataset.frame = String(anim.frame);
}

/* ---------- wiring ---------- */

function setup() {
  busy.add(0);
  setupDrawing();
  setupPad();
  $('banner-close').addEventListener('click', () => showBanner(''));
  $('latent-zero').addEventListener('click', () => {
    state.z = state.z.map(() => 0);
    syncSliders();
    requestDecode();
  });
  $('latent-random').addEventListener('click', () => {
    state.z = state.z.map(() => Math.round(gaussian() * 100) / 100);
    syncSliders();
    requestDecode();
  });
  $('sample-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sample();
  });
  $('sample-new').addEventListener('click', () => {
    $('seed').value = String(Math.floor(Math.random() * 2 ** 31));
    sample();
  });
  $('temperature').addEventListener('input', () => {
    $('temperature-out').textContent = Number($('temperature').value).toFixed(1);
  });
  $('temperature').addEventListener('change', sample);
  $('morph-form').addEventListener('submit', (e) => {
    e.preventDefault();
    morph();
  });
  $('morph-play').addEventListener('click', () => {
    anim.playing = !anim.playing;
    $('morph-play').textContent = anim.playing ? 'Pause' : 'Play';
    clearInterval(anim.timer);
    if (anim.playing) anim.timer = setInterval(nextFrame, 110);
  });
  drawChart(null, null);
  loadModels();
}

document.addEventListener('DOMContentLoaded', setup);
