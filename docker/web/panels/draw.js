// The draw panel: a drawing (mouse, finger) or an image (a test image, an uploaded PNG) is encoded
// to its latent Gaussian and reconstructed; the chart shows mu and log sigma^2, "Explore this z"
// hands mu to the latent panel.
import { apiBlob, apiJSON, withModel, ApiError } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { createChart } from '../lib/chart.js';
import { $, busy, latestOnly, showError, showImage } from '../lib/ui.js';
import { emit, fillClassSelect, isFashion, state } from '../lib/state.js';

const ERROR = 'draw-error';
const draw = { canvas: null, ctx: null, drawing: false, last: null, timer: 0, drawn: false, mu: null };
let chart = null;

function setExplorable(on) {
  $('draw-explore').disabled = !on;
}

function showChart(mu, logvar) {
  chart.show(state.model ? state.model.latent_dim : 0, mu, logvar);
}

function clearDrawing() {
  draw.ctx.fillStyle = '#000';
  draw.ctx.fillRect(0, 0, draw.canvas.width, draw.canvas.height);
  draw.drawn = false;
  draw.mu = null;
  $('recon').hidden = true;
  $('recon-empty').hidden = false;
  setExplorable(false);
  showChart(null, null);
  showError(ERROR, null);
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

function setupPointer() {
  const canvas = draw.canvas;
  canvas.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    draw.drawing = true;
    draw.last = null;
    clearTimeout(draw.timer);
    strokeTo(canvasPoint(e));
  });
  canvas.addEventListener('pointermove', (e) => {
    if (draw.drawing) strokeTo(canvasPoint(e));
  });
  const end = () => {
    if (!draw.drawing) return;
    draw.drawing = false;
    draw.last = null;
    draw.drawn = true;
    // encode shortly after the stroke ends, so a multi-stroke digit is sent once
    clearTimeout(draw.timer);
    draw.timer = setTimeout(() => encodeDrawing('Drawing'), 250);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
}

// Puts an image on the drawing canvas, fitted and centred, light ink on black as the models
// expect: an image whose border is mostly light (dark ink on paper) is inverted.
function putImage(img) {
  const { width, height } = draw.canvas;
  const ctx = draw.ctx;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, width, height);
  const scale = Math.min(width / img.naturalWidth, height / img.naturalHeight);
  const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, (width - w) / 2, (height - h) / 2, w, h);
  if (borderMean(ctx, width, height) > 127) {
    ctx.globalCompositeOperation = 'difference';
    ctx.fillStyle = '#fff';
    ctx.fillRect((width - w) / 2, (height - h) / 2, w, h);
    ctx.globalCompositeOperation = 'source-over';
  }
  draw.drawn = true;
}

function borderMean(ctx, width, height) {
  const { data } = ctx.getImageData(0, 0, width, height);
  let sum = 0, n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x > 2 && y > 2 && x < width - 3 && y < height - 3) continue;
      sum += data[(y * width + x) * 4];
      n++;
    }
  }
  return sum / n;
}

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
  clearTimeout(draw.timer);
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
  const fashion = isFashion(state.model);
  const box = fashion ? 28 : 20;
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const scale = box / Math.max(w, h);
  // centre of mass (MNIST) or of the bounding box (Fashion-MNIST) goes to the middle
  const cx = fashion ? x0 + w / 2 : mx / mass;
  const cy = fashion ? y0 + h / 2 : my / mass;
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

// Encodes and reconstructs what is on the canvas (what: how the announcement names it).
function encodeDrawing(what) {
  return encodeJob(async (isCurrent) => {
    if (!state.model || !draw.drawn) return;
    const image = modelInput();
    if (!image) return;
    try {
      const [doc, rec] = await Promise.all([
        apiJSON(withModel('encode'), { image }),
        apiBlob(withModel('reconstruct'), { image }),
      ]);
      if (!isCurrent()) return;
      draw.mu = doc.mu;
      showChart(doc.mu, doc.logvar);
      await showImage($('recon'), $('recon-empty'), rec.blob);
      setExplorable(true);
      showError(ERROR, null);
      if (what) announce(`${what} encoded: reconstruction and \u03bc, log \u03c3\u00b2 updated.`);
    } catch (err) {
      if (isCurrent()) showError(ERROR, err, 'Draw');
    }
  });
}

export default {
  name: 'draw',

  setup() {
    draw.canvas = $('draw');
    draw.ctx = draw.canvas.getContext('2d', { willReadFrequently: true });
    chart = createChart($('chart'), $('chart-summary'), $('chart-table').tBodies[0]);
    clearDrawing();
    setupPointer();
    setupImageInput();
    $('draw-clear').addEventListener('click', () => {
      clearDrawing();
      announce('Drawing cleared.');
    });
    $('draw-explore').addEventListener('click', () => {
      if (draw.mu) emit('latent', { z: draw.mu.slice(), why: 'z set to the drawing\u2019s \u03bc.' });
    });
  },

  async modelChanged(model) {
    fillClassSelect($('test-image'), model, 3, 'digit ');
    $('draw-hint').textContent = isFashion(model) ? 'a piece of clothing' : 'a digit';
    draw.mu = null;
    setExplorable(false);
    if (draw.drawn) await encodeDrawing();
    else showChart(null, null);
  },

  async refresh() {
    if (draw.drawn) await encodeDrawing();
  },
};
