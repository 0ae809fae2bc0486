// The drawing canvas that the draw and complete panels share: the ink (mouse, finger, or an image
// put on it), what is hidden from the completion (rubbed out with the pen in rub-out mode, or a
// half of the model's frame), and the drawing as the model sees it: 28x28, cropped, scaled and
// centred the way the training images were, with the mask of its known pixels in the same frame.
//
// Rubbing out hides, it does not erase: the ink stays (the encoding and the score see the whole
// drawing) and the hidden part is drawn over with stripes. Ink drawn later over a hidden part makes
// it known again.
import { isFashion, state } from './state.js';

const SIZE = 280;
const FRAME = 28;
const INK = 22;       // pen width in canvas pixels
const RUB = 34;       // rub-out width

export const HALVES = ['top', 'bottom', 'left', 'right'];

const d = {
  canvas: null, ctx: null,          // the ink, light on black
  overlay: null, octx: null,        // what is hidden, as the person sees it (stripes)
  rubbed: null, rctx: null,         // the rubbed-out area (offscreen, opaque where hidden)
  pattern: null,
  stroke: null,                     // {last, rub} during a stroke
  drawn: false,
  rubbing: false,
  half: '',
  listeners: [],
};

// Tells fn(event) about changes: {kind: 'ink', live} (a stroke of ink; live: during it, else it
// ended), {kind: 'mask'} (the hidden part may have changed), {kind: 'clear'}. putImage() tells
// only 'mask': its caller encodes the image itself.
export function onDrawing(fn) {
  d.listeners.push(fn);
}

function tell(event) {
  for (const fn of d.listeners) fn(event);
}

export const isDrawn = () => d.drawn;
export const isRubbing = () => d.rubbing;
export const hiddenHalf = () => d.half;

export function setupDrawing(canvas, overlay) {
  d.canvas = canvas;
  d.ctx = canvas.getContext('2d', { willReadFrequently: true });
  d.overlay = overlay;
  d.octx = overlay.getContext('2d');
  d.rubbed = document.createElement('canvas');
  d.rubbed.width = d.rubbed.height = SIZE;
  d.rctx = d.rubbed.getContext('2d', { willReadFrequently: true });
  d.pattern = stripes();
  clearAll(false);
  setupPointer();
}

function stripes() {
  const tile = document.createElement('canvas');
  tile.width = tile.height = 10;
  const t = tile.getContext('2d');
  t.fillStyle = 'rgba(90, 169, 255, 0.30)';
  t.fillRect(0, 0, 10, 10);
  t.strokeStyle = 'rgba(90, 169, 255, 0.85)';
  t.lineWidth = 2;
  t.beginPath();
  t.moveTo(-2, 12);
  t.lineTo(12, -2);
  t.moveTo(-2, 2);
  t.lineTo(2, -2);
  t.moveTo(8, 12);
  t.lineTo(12, 8);
  t.stroke();
  return d.octx.createPattern(tile, 'repeat');
}

function clearAll(notify = true) {
  d.ctx.fillStyle = '#000';
  d.ctx.fillRect(0, 0, SIZE, SIZE);
  d.rctx.clearRect(0, 0, SIZE, SIZE);
  d.drawn = false;
  renderOverlay();
  if (notify) tell({ kind: 'clear' });
}

// Clears the ink and what was rubbed out (the hidden half is a setting: it stays).
export const clearDrawing = () => clearAll(true);

export function setRubbing(on) {
  d.rubbing = on;
  d.canvas.classList.toggle('rubbing', on);
}

// half: '' (none) or one of HALVES, of the model's 28x28 frame
export function setHiddenHalf(half) {
  d.half = HALVES.includes(half) ? half : '';
  renderOverlay();
  tell({ kind: 'mask' });
}

function canvasPoint(e) {
  const r = d.canvas.getBoundingClientRect();
  return { x: (e.clientX - r.left) * (SIZE / r.width), y: (e.clientY - r.top) * (SIZE / r.height) };
}

// A line (or a dot) of width w from `from` (null: a dot) to p on ctx in its current style.
function line(ctx, from, p, w) {
  ctx.lineWidth = w;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  if (from) {
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
  } else {
    ctx.arc(p.x, p.y, w / 2, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function strokeTo(p) {
  const s = d.stroke;
  if (s.rub) {
    d.rctx.strokeStyle = d.rctx.fillStyle = '#fff';
    line(d.rctx, s.last, p, RUB);
  } else {
    d.ctx.strokeStyle = d.ctx.fillStyle = '#fff';
    line(d.ctx, s.last, p, INK);
    // new ink is known: it is taken out of what was rubbed out
    d.rctx.globalCompositeOperation = 'destination-out';
    d.rctx.strokeStyle = d.rctx.fillStyle = '#fff';
    line(d.rctx, s.last, p, INK);
    d.rctx.globalCompositeOperation = 'source-over';
    d.drawn = true;
  }
  s.last = p;
}

function setupPointer() {
  const canvas = d.canvas;
  canvas.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    d.stroke = { last: null, rub: d.rubbing };
    strokeTo(canvasPoint(e));
    if (d.stroke.rub) renderOverlay();
    else tell({ kind: 'ink', live: true });
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!d.stroke) return;
    strokeTo(canvasPoint(e));
    if (d.stroke.rub) renderOverlay();
    else tell({ kind: 'ink', live: true });
  });
  const end = () => {
    if (!d.stroke) return;
    const rub = d.stroke.rub;
    d.stroke = null;
    renderOverlay();
    tell(rub ? { kind: 'mask' } : { kind: 'ink', live: false });
    if (!rub) tell({ kind: 'mask' });
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
}

// Puts an image on the canvas, fitted and centred, light ink on black as the models expect: an
// image whose border is mostly light (dark ink on paper) is inverted. What was rubbed out goes.
export function putImage(img) {
  const ctx = d.ctx;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, SIZE, SIZE);
  const scale = Math.min(SIZE / img.naturalWidth, SIZE / img.naturalHeight);
  const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, (SIZE - w) / 2, (SIZE - h) / 2, w, h);
  if (borderMean() > 127) {
    ctx.globalCompositeOperation = 'difference';
    ctx.fillStyle = '#fff';
    ctx.fillRect((SIZE - w) / 2, (SIZE - h) / 2, w, h);
    ctx.globalCompositeOperation = 'source-over';
  }
  d.rctx.clearRect(0, 0, SIZE, SIZE);
  d.drawn = true;
  renderOverlay();
  tell({ kind: 'mask' });
}

function borderMean() {
  const { data } = d.ctx.getImageData(0, 0, SIZE, SIZE);
  let sum = 0, n = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      if (x > 2 && y > 2 && x < SIZE - 3 && y < SIZE - 3) continue;
      sum += data[(y * SIZE + x) * 4];
      n++;
    }
  }
  return sum / n;
}

// How the ink maps into the model's 28x28 frame, the way the training images were made: MNIST
// digits fit a 20x20 box centred by their centre of mass; Fashion-MNIST items fill the frame,
// centred by their bounding box. {x0, y0, w, h, scale, dx, dy}: canvas (x, y) goes to frame
// (dx + (x - x0) * scale, dy + (y - y0) * scale). null when nothing is drawn.
function frameTransform() {
  const data = d.ctx.getImageData(0, 0, SIZE, SIZE).data;
  let x0 = SIZE, y0 = SIZE, x1 = -1, y1 = -1, mass = 0, mx = 0, my = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = data[(y * SIZE + x) * 4];
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
  const fashion = state.model ? isFashion(state.model) : false;
  const box = fashion ? FRAME : 20;
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const scale = box / Math.max(w, h);
  const cx = fashion ? x0 + w / 2 : mx / mass;
  const cy = fashion ? y0 + h / 2 : my / mass;
  return { x0, y0, w, h, scale, dx: FRAME / 2 - (cx - x0) * scale, dy: FRAME / 2 - (cy - y0) * scale };
}

function toFrame(source, t) {
  const out = document.createElement('canvas');
  out.width = out.height = FRAME;
  const ctx = out.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, FRAME, FRAME);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, t.x0, t.y0, t.w, t.h, t.dx, t.dy, t.w * t.scale, t.h * t.scale);
  return out;
}

// The frame's hidden half as a rectangle of frame pixels [x, y, w, h], or null.
function halfRect(half) {
  const H = FRAME / 2;
  return { top: [0, 0, FRAME, H], bottom: [0, H, FRAME, H], left: [0, 0, H, FRAME], right: [H, 0, H, FRAME] }[half] || null;
}

// The drawing as the model sees it: a 28x28 PNG data URL, or null when nothing is drawn.
export function modelImage() {
  const t = frameTransform();
  return t ? toFrame(d.canvas, t).toDataURL('image/png') : null;
}

// The drawing for the completion: {image: the 28x28 PNG data URL with the hidden pixels black,
// known: 784 numbers (1 known, 0 hidden, row by row), hidden: how many are hidden, keep: the
// named half the server knows ('top' etc.) when exactly one half is hidden and nothing rubbed out,
// else null, grey: 784 grey levels 0..1 of that image}, or null when nothing is drawn.
export function completionInput() {
  const t = frameTransform();
  if (!t) return null;
  const frame = toFrame(d.canvas, t);
  const fctx = frame.getContext('2d', { willReadFrequently: true });
  const rubbed = toFrame(d.rubbed, t).getContext('2d').getImageData(0, 0, FRAME, FRAME).data;
  const half = halfRect(d.half);
  const img = fctx.getImageData(0, 0, FRAME, FRAME);
  const known = new Array(FRAME * FRAME);
  const grey = new Array(FRAME * FRAME);
  let hidden = 0, rubbedAny = false;
  for (let i = 0; i < FRAME * FRAME; i++) {
    const x = i % FRAME, y = (i - x) / FRAME;
    const inHalf = half && x >= half[0] && x < half[0] + half[2] && y >= half[1] && y < half[1] + half[3];
    const rub = rubbed[i * 4] > 127;
    rubbedAny = rubbedAny || rub;
    known[i] = inHalf || rub ? 0 : 1;
    if (!known[i]) {
      hidden++;
      img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = 0;
    }
    grey[i] = img.data[i * 4] / 255;
  }
  fctx.putImageData(img, 0, 0);
  const opposite = { top: 'bottom', bottom: 'top', left: 'right', right: 'left' };
  return {
    image: frame.toDataURL('image/png'),
    known,
    grey,
    hidden,
    keep: d.half && !rubbedAny ? opposite[d.half] : null,
  };
}

// The overlay: stripes over what is hidden, the rubbed-out area and the hidden half of the frame
// (mapped back onto the canvas through the current drawing's frame, or the canvas's own half when
// nothing is drawn).
function renderOverlay() {
  const o = d.octx;
  o.clearRect(0, 0, SIZE, SIZE);
  o.globalCompositeOperation = 'source-over';
  o.drawImage(d.rubbed, 0, 0);
  const half = halfRect(d.half);
  if (half) {
    const t = d.drawn ? frameTransform() : null;
    const s = t ? t.scale : FRAME / SIZE;
    const [ox, oy] = t ? [t.x0 - t.dx / s, t.y0 - t.dy / s] : [0, 0];
    o.fillStyle = '#fff';
    o.fillRect(ox + half[0] / s, oy + half[1] / s, half[2] / s, half[3] / s);
  }
  o.globalCompositeOperation = 'source-in';
  o.fillStyle = d.pattern;
  o.fillRect(0, 0, SIZE, SIZE);
  o.globalCompositeOperation = 'source-over';
  d.overlay.dataset.hidden = String(half || hasRubbed() ? 1 : 0);
}

function hasRubbed() {
  const data = d.rctx.getImageData(0, 0, SIZE, SIZE).data;
  for (let i = 3; i < data.length; i += 16) if (data[i]) return true;
  return false;
}
