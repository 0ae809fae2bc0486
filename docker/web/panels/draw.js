// The draw panel: a drawing (mouse, finger) or an image (a test image, an uploaded PNG) is encoded
// to its latent Gaussian, reconstructed and scored, live while one draws; the chart shows mu and
// log sigma^2, the score how typical the drawing is for the model's data set (its percentiles
// among the model's test images) with the heat map of where it is unusual; "Explore this z" hands
// mu to the latent panel. Every call sends the whole canvas and lets the server prepare it
// (lib/drawing.js's PREPARE); the panel shows what the model saw (the prepared 28x28 input beside
// its reconstruction) and says in words what was done. The canvas itself is lib/drawing.js
// (shared with the complete panel).
import { apiBlob, apiJSON, withModel, ApiError } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { createChart } from '../lib/chart.js';
import { PREPARE, clearDrawing, drawingPNG, fetchSeen, isDrawn, isNoInk, onDrawing, putImage, setupDrawing } from '../lib/drawing.js';
import { $, busy, latestOnly, paintPixels, showError, showImage } from '../lib/ui.js';
import { emit, fillClassSelect, isFashion, state } from '../lib/state.js';

const ERROR = 'draw-error';
// while a stroke goes on, the drawing is sent at most every LIVE_MS; END_MS after a stroke ends
// (so that a digit of several strokes is announced once)
const LIVE_MS = 200;
const END_MS = 250;
// the score's importance samples and seed: a fixed seed, so that the same drawing gives the same
// figures and the live figures do not flicker from the sampling alone
const SCORE_K = 64;
const SCORE_SEED = 1;
// the words of the out-of-distribution percentile
const UNUSUAL = 90;
const VERY_UNUSUAL = 99;

const draw = { liveTimer: 0, endTimer: 0, mu: null };
let chart = null;

function setExplorable(on) {
  $('draw-explore').disabled = !on;
}

function showChart(mu, logvar) {
  chart.show(state.model ? state.model.latent_dim : 0, mu, logvar);
}

const NOTHING = 'Nothing drawn yet.';
// a drawing in which the server finds no ink (its 422 no_ink): nothing drawn yet, calmly
const NO_INK = 'Nothing drawn yet, as far as the model can tell: it finds no ink on the canvas ' +
  '(a mark along its very edge, or one too faint to stand out, is not ink).';

function resetResults(note = NOTHING) {
  draw.mu = null;
  for (const id of ['seen', 'recon']) {
    $(id).hidden = true;
    $(`${id}-empty`).hidden = false;
  }
  $('seen-info').textContent = note;
  setExplorable(false);
  showChart(null, null);
  showScore(null);
  showError(ERROR, null);
}

/* ---------- what the model saw: the prepared input, its reconstruction, and in words ---------- */

// why the server took the ink as light on dark or dark on light (prepared.polarity)
const POLARITY = {
  border: 'told by its corners',
  centre: 'told by its middle against its corners',
  uniform: 'the picture being one level',
  alpha: 'told by its transparency',
  asked: 'as asked',
};

// The server's `prepared` of the drawing in a sentence.
function describeSeen(info) {
  const box = info.box ? `a ${info.box[2]} \u00d7 ${info.box[3]} box on the canvas` : '';
  const fit = {
    mnist: `The server fitted the ink (${box}) into 20 \u00d7 20 and centred it by its centre of mass in the 28 \u00d7 28 frame, as MNIST\u2019s digits were`,
    fill: `The server scaled the ink (${box}) to fill the 28 \u00d7 28 frame, as Fashion-MNIST\u2019s items were`,
  }[info.normalize] || 'The server averaged the whole canvas down to 28 \u00d7 28 (this model records no preparation of its own)';
  if (typeof info.invert !== 'boolean') return `${fit}.`;
  const why = POLARITY[info.polarity] || info.polarity;
  return info.invert ? `${fit}; dark ink on a light background (${why}), inverted.`
    : `${fit}; light ink on a dark background (${why}), kept as it is.`;
}

// Shows the server's view of the drawing (lib/drawing.js's fetchSeen): the prepared input, its
// reconstruction, and the sentence. data-version on each picture counts the pictures shown.
function showSeen(view) {
  for (const [id, grey] of [['seen', view.input], ['recon', view.pixels]]) {
    const canvas = $(id);
    paintPixels(canvas, grey);
    canvas.hidden = false;
    $(`${id}-empty`).hidden = true;
    canvas.dataset.version = String(Number(canvas.dataset.version || 0) + 1);
  }
  $('seen-info').textContent = describeSeen(view.info);
}

/* ---------- the score: percentiles in words, the figures, the heat map ---------- */

const nouns = (model) => (isFashion(model) ? { one: 'clothing', many: 'test images of clothing' } : { one: 'digit', many: 'test digits' });
// a percentage for text, never rounded up to 100% or down to 0%
const pct = (v) => `${Math.min(Math.max(v, 0.1), 99.9).toFixed(1)}%`;

function scoreTitle(model) {
  $('score-title').textContent = `How ${nouns(model).one}-like is this drawing?`;
}

// The words for an out-of-distribution percentile p (0..100).
function verdict(p, many) {
  if (p >= VERY_UNUSUAL) return `Very unusual: more unusual than ${pct(p)} of the model\u2019s ${many}.`;
  if (p >= UNUSUAL) return `Unusual: more unusual than ${pct(p)} of the model\u2019s ${many}.`;
  return `Typical: ${pct(100 - p)} of the model\u2019s ${many} are more unusual.`;
}

// Shows a /score reply (null: nothing scored), and returns the short sentence said with the
// announcement.
function showScore(s) {
  const meter = $('ood-meter');
  const heat = $('heat');
  if (!s) {
    meter.value = 0;
    meter.closest('.meter-row').hidden = true;
    $('score-verdict').textContent = 'Draw something, or encode an image, to score it.';
    $('score-figures').textContent = '';
    heat.hidden = true;
    $('heat-empty').hidden = false;
    $('score').dataset.calibrated = '';
    return '';
  }
  const many = nouns(state.model).many;
  const figures = `\u2212log p(x) \u2248 ${s.nll.toFixed(1)} nats (${s.bits_per_dim.toFixed(3)} bits per pixel, ` +
    `k = ${s.k}) \u00b7 \u2212ELBO ${s.loss.toFixed(1)} (BCE ${s.bce.toFixed(1)} + KL ${s.kl.toFixed(1)}) \u00b7 ` +
    `${Math.round(s.complexity)} bits as a PNG`;
  $('score').dataset.calibrated = String(s.calibrated);
  if (!s.calibrated || s.ood_percentile === null) {
    meter.closest('.meter-row').hidden = true;
    $('score-verdict').textContent = 'This model has no score tables, so there is no percentile to compare ' +
      'the drawing with (vae-train --annotate adds them to its weights file). Its likelihood alone:';
    $('score-figures').textContent = figures;
    return 'no score tables for this model';
  }
  meter.closest('.meter-row').hidden = false;
  meter.value = s.ood_percentile;
  meter.setAttribute('aria-valuetext', `${pct(s.ood_percentile)}`);
  $('ood-value').textContent = pct(s.ood_percentile);
  const said = verdict(s.ood_percentile, many);
  $('score-verdict').textContent = `${said} Out-of-distribution score ${s.ood_score.toFixed(2)}; ` +
    `by its likelihood alone, ${pct(s.percentile)} of them are more likely.`;
  $('score-figures').textContent = figures;
  return said.replace(/:.*/, '').toLowerCase();
}

/* ---------- encoding: live while drawing, the latest call wins, stale calls cancelled ---------- */

const encodeJob = latestOnly();

// Encodes, reconstructs and scores what is on the canvas (what: how the announcement names it;
// none for the live updates during a stroke). A drawing in which the server finds no ink (a mark
// along the very edge, a blank picture) is "nothing drawn yet", not an error.
function encodeDrawing(what) {
  return encodeJob(async (isCurrent, signal) => {
    if (!state.model || !isDrawn()) return;
    const image = drawingPNG();
    if (!image) return;
    const score = { ...PREPARE, k: SCORE_K, seed: SCORE_SEED };
    try {
      const [doc, view, s, heat] = await Promise.all([
        apiJSON(withModel('encode', PREPARE), { image }, signal),
        fetchSeen(signal, image),
        apiJSON(withModel('score', score), { image }, signal),
        apiBlob(withModel('score', { ...score, format: 'png' }), { image }, signal),
      ]);
      if (!isCurrent()) return;
      draw.mu = doc.mu;
      showChart(doc.mu, doc.logvar);
      showSeen(view);
      await showImage($('heat'), $('heat-empty'), heat.blob);
      const word = showScore(s);
      setExplorable(true);
      showError(ERROR, null);
      if (what) announce(`${what} encoded and scored: ${word}.`);
    } catch (err) {
      if (!isCurrent()) return;
      if (isNoInk(err)) {
        resetResults(NO_INK);
        if (what) announce(`${what}: no ink found, nothing to encode.`);
        return;
      }
      showError(ERROR, err, 'Draw');
    }
  });
}

// A scheduled update (draw.liveTimer, draw.endTimer) counts as a call under way (lib/ui.js's busy)
// from when it is scheduled until its call has started (latestOnly counts that call at once): the
// page is not settled while a change to the drawing still waits for its call, e.g. in the END_MS
// after a stroke ends, when the last live call may have answered for the drawing before its last
// moves.
function schedule(timer, ms, fn) {
  cancel(timer);
  busy.add(1);
  draw[timer] = setTimeout(() => {
    draw[timer] = 0;
    fn();
    busy.add(-1);
  }, ms);
}

function cancel(timer) {
  if (!draw[timer]) return;
  clearTimeout(draw[timer]);
  draw[timer] = 0;
  busy.add(-1);
}

function cancelScheduled() {
  cancel('liveTimer');
  cancel('endTimer');
}

function setupLive() {
  onDrawing((e) => {
    if (e.kind === 'clear') {
      cancelScheduled();
      resetResults();
      return;
    }
    if (e.kind !== 'ink') return;
    cancel('endTimer');
    if (e.live) {
      // at most one update every LIVE_MS while the pen moves
      if (!draw.liveTimer) schedule('liveTimer', LIVE_MS, () => encodeDrawing());
      return;
    }
    cancel('liveTimer');
    schedule('endTimer', END_MS, () => encodeDrawing('Drawing'));
  });
}

/* ---------- images: a test image, an upload ---------- */

// Loads an image from a URL (a test image, or an object URL of an uploaded file).
async function loadImage(url) {
  const img = new Image();
  img.src = url;
  try {
    await img.decode();
  } catch (_) {
    throw new ApiError('that file could not be read as a PNG image', 0, 'bad_image');
  }
  return img;
}

async function useImage(url, what) {
  cancelScheduled();
  busy.add(1);
  try {
    putImage(await loadImage(url));
    await encodeDrawing(what);
  } catch (err) {
    showError(ERROR, err, what);
  } finally {
    busy.add(-1);
  }
}

function testImageURL() {
  const set = isFashion(state.model) ? 'fashion' : 'mnist';
  return `test-images/${set}-${$('test-image').value}.png`;
}

function setupImageInput() {
  $('test-image-go').addEventListener('click', () => {
    const sel = $('test-image');
    useImage(testImageURL(), `Test image ${sel.options[sel.selectedIndex].text}`);
  });
  $('upload').addEventListener('change', async (e) => {
    const file = e.target.files && e.target.files[0];
    if (!file) return;
    const url = URL.createObjectURL(file);
    try {
      await useImage(url, `Uploaded image ${file.name}`);
    } finally {
      URL.revokeObjectURL(url);
      e.target.value = '';
    }
  });
}

export default {
  name: 'draw',

  setup() {
    chart = createChart($('chart'), $('chart-summary'), $('chart-table').tBodies[0]);
    setupDrawing($('draw'), $('draw-mask'));
    resetResults();
    setupLive();
    setupImageInput();
    $('draw-clear').addEventListener('click', () => {
      clearDrawing();
      announce('Drawing cleared.');
    });
    $('draw-explore').addEventListener('click', () => {
      if (draw.mu) emit('latent', { z: draw.mu.slice(), why: 'z set to the drawing\u2019s \u03bc.', follow: true });
    });
  },

  async modelChanged(model) {
    fillClassSelect($('test-image'), model, 3, 'digit ');
    $('draw-hint').textContent = isFashion(model) ? 'a piece of clothing' : 'a digit';
    scoreTitle(model);
    draw.mu = null;
    setExplorable(false);
    if (isDrawn()) await encodeDrawing();
    else resetResults();
  },

  async refresh() {
    if (isDrawn()) await encodeDrawing();
  },
};
