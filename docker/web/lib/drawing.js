// The drawing canvas that the draw and complete panels share: the ink (mouse, finger, or an image
// put on it), what is hidden from the completion (rubbed out with the pen in rub-out mode, or a
// half of the model's frame), and the drawing as the model saw it. The page does not prepare the
// drawing itself: every call sends the whole canvas as a PNG with normalize=auto and invert=auto,
// and the server fits it the way the model's training images were made (MNIST: 20x20 and centred
// by the centre of mass; Fashion-MNIST: the frame filled). Its reply (the prepared 28x28 input and
// where the ink's box landed in that frame) is kept here, so that what is rubbed out maps into the
// frame the model sees.
//
// Rubbing out hides, it does not erase: the ink stays (the encoding and the score see the whole
// drawing) and the hidden part is drawn over with stripes. Ink drawn later over a hidden part makes
// it known again.
import { apiJSON, ApiError, withModel } from './api.js';
import { state } from './state.js';

const SIZE = 280;
const FRAME = 28;
const INK = 22;       // pen width in canvas pixels
const RUB = 34;       // rub-out width

export const HALVES = ['top', 'bottom', 'left', 'right'];

// What every call made from the drawing asks of the server: prepare the picture as the model's
// training images were (auto: the model's own record) and tell light ink on dark from dark on light.
export const PREPARE = { normalize: 'auto', invert: 'auto' };

const d = {
  canvas: null, ctx: null,          // the ink: light on black as drawn, or an image as it came
  overlay: null, octx: null,        // what is hidden, as the person sees it (stripes)
  rubbed: null, rctx: null,         // the rubbed-out area (offscreen, opaque where hidden)
  pattern: null,
  stroke: null,                     // {last, rub} during a stroke
  drawn: false,
  rubbing: false,
  half: '',
  pen: '#fff',                      // the ink's colour: dark on a picture the server found dark on light
  version: 0,                       // counts the changes of the ink
  seen: { version: -1, model: '', view: null },
  listeners: [],
};

// Tells fn(event) about changes: {kind: 'ink', live} (a stroke of ink; live: during it, else it
// ended), {kind: 'mask'} (the hidden part may have changed), {kind: 'clear'}, {kind: 'seen'} (the
// server's view of the drawing arrived). putImage() tells only 'mask': its caller encodes the image
// itself.
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

function inkChanged() {
  d.version++;
}

function clearAll(notify = true) {
  d.ctx.fillStyle = '#000';
  d.ctx.fillRect(0, 0, SIZE, SIZE);
  d.rctx.clearRect(0, 0, SIZE, SIZE);
  d.drawn = false;
  d.pen = '#fff';
  inkChanged();
  d.seen = { version: -1, model: '', view: null };
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
    d.ctx.strokeStyle = d.ctx.fillStyle = d.pen;
    line(d.ctx, s.last, p, INK);
    // new ink is known: it is taken out of what was rubbed out
    d.rctx.globalCompositeOperation = 'destination-out';
    d.rctx.strokeStyle = d.rctx.fillStyle = '#fff';
    line(d.rctx, s.last, p, INK);
    d.rctx.globalCompositeOperation = 'source-over';
    d.drawn = true;
    inkChanged();
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

// Puts an image on the canvas as it is, fitted and centred (a picture that is not square gets bars
// of its own edges' colour, so that its background goes on to the canvas's corners). Light ink on
// dark or dark on light: the server tells which (invert=auto). What was rubbed out goes.
export function putImage(img) {
  const ctx = d.ctx;
  const scale = Math.min(SIZE / img.naturalWidth, SIZE / img.naturalHeight);
  const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
  ctx.fillStyle = edgeColour(img);
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.fillStyle = '#000';
  ctx.fillRect((SIZE - w) / 2, (SIZE - h) / 2, w, h);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, (SIZE - w) / 2, (SIZE - h) / 2, w, h);
  d.rctx.clearRect(0, 0, SIZE, SIZE);
  d.drawn = true;
  d.pen = '#fff';
  inkChanged();
  renderOverlay();
  tell({ kind: 'mask' });
}

// The mean colour of an image's outermost pixels, as it shows on the black canvas.
function edgeColour(img) {
  const w = img.naturalWidth, h = img.naturalHeight;
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(img, 0, 0);
  const { data } = ctx.getImageData(0, 0, w, h);
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x > 0 && y > 0 && x < w - 1 && y < h - 1) continue;
      for (let k = 0; k < 3; k++) sum[k] += data[(y * w + x) * 4 + k];
      n++;
    }
  }
  return `rgb(${sum.map((v) => Math.round(v / n)).join(', ')})`;
}

// The whole canvas as a PNG data URL, as every call from the drawing sends it; null when nothing
// is drawn.
export function drawingPNG() {
  return d.drawn ? d.canvas.toDataURL('image/png') : null;
}

/* ---------- the drawing as the model saw it ---------- */

// Asks the server for its view of the drawing as it is now, for the selected model: POST
// /reconstruct?format=json&with_input=1 with PREPARE. Resolves to {image: the PNG sent, input: the
// prepared 28x28 input (784 numbers), pixels: its reconstruction, info: the reply's `prepared`},
// which is kept for seen() and told as 'seen' (while the ink and the model stay as they were); a
// drawing in which the server finds no ink is kept as {noInk: true} and rethrown (an ApiError of
// type no_ink). Resolves to null when nothing is drawn. image: drawingPNG() taken in the same turn (the ink as
// it is now), to share it with other calls.
export async function fetchSeen(signal, image = drawingPNG()) {
  if (!image || !state.model) return null;
  const version = d.version, model = state.model.name;
  try {
    const doc = await apiJSON(withModel('reconstruct', { ...PREPARE, with_input: '1', format: 'json' }), { image }, signal);
    // one row each (the reply's rows are lists, one per image)
    const row = (v) => (Array.isArray(v[0]) ? v[0] : v);
    const view = { image, input: row(doc.input), pixels: row(doc.pixels), info: doc.prepared || { normalize: 'none' } };
    setSeen(version, model, view);
    return view;
  } catch (err) {
    if (isNoInk(err)) setSeen(version, model, { noInk: true });
    throw err;
  }
}

export const isNoInk = (err) => err instanceof ApiError && err.type === 'no_ink';

function setSeen(version, model, view) {
  if (version !== d.version) return;
  d.seen = { version, model, view };
  if (view.info && !view.noInk) d.pen = view.info.invert ? '#000' : '#fff';
  renderOverlay();
  tell({ kind: 'seen' });
}

// The server's last view of the drawing for the selected model: {view, current} (current: of the
// ink as it is now; else of the ink a moment ago, a newer one on its way), or null.
export function seen() {
  const s = d.seen;
  if (!s.view || !state.model || s.model !== state.model.name) return null;
  return { view: s.view, current: s.version === d.version };
}

// How the canvas maps into the model's 28x28 frame, from the server's `prepared`: canvas (x, y)
// goes to frame (ox + (x - x0) * scale, oy + (y - y0) * scale). Without normalisation (a model
// that records none) the whole canvas is area-averaged to the frame.
function frameMap(info) {
  if (!info || !info.box || !info.offset || !(info.scale > 0)) return { x0: 0, y0: 0, scale: FRAME / SIZE, ox: 0, oy: 0 };
  return { x0: info.box[0], y0: info.box[1], scale: info.scale, ox: info.offset[0], oy: info.offset[1] };
}

// The frame's hidden half as a rectangle of frame pixels [x, y, w, h], or null.
function halfRect(half) {
  const H = FRAME / 2;
  return { top: [0, 0, FRAME, H], bottom: [0, H, FRAME, H], left: [0, 0, H, FRAME], right: [H, 0, H, FRAME] }[half] || null;
}

// What was rubbed out, in the frame: 784 coverages 0..1 (the rubbed canvas drawn through the map).
function rubbedInFrame(m) {
  const out = document.createElement('canvas');
  out.width = out.height = FRAME;
  const ctx = out.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.setTransform(m.scale, 0, 0, m.scale, m.ox - m.x0 * m.scale, m.oy - m.y0 * m.scale);
  ctx.drawImage(d.rubbed, 0, 0);
  const data = ctx.getImageData(0, 0, FRAME, FRAME).data;
  return Array.from({ length: FRAME * FRAME }, (_, i) => data[i * 4 + 3] / 255);
}

// The drawing for the completion, in the frame the model saw (the server's last view of it, for
// the selected model): {image: the canvas PNG that view was made from (sent again with PREPARE,
// the server prepares it into the same frame), known: 784 numbers (1 known, 0 hidden, row by row:
// what is hidden on the canvas mapped into that frame through the view's `prepared`), hidden: how
// many are hidden, keep: the named half the server knows ('top' etc.) when exactly one half is
// hidden and nothing rubbed out, else null, pixels: the prepared input with the hidden pixels 0
// (what the model will know), current: whether the view is of the ink as it is now}; {noInk: true}
// when the server found no ink; null when there is no view (nothing drawn, or not yet asked).
export function completionInput() {
  const s = seen();
  if (!s) return null;
  if (s.view.noInk) return { noInk: true, current: s.current };
  const m = frameMap(s.view.info);
  const rubbed = rubbedInFrame(m);
  const half = halfRect(d.half);
  const known = new Array(FRAME * FRAME);
  const pixels = new Array(FRAME * FRAME);
  let hidden = 0, rubbedAny = false;
  for (let i = 0; i < FRAME * FRAME; i++) {
    const x = i % FRAME, y = (i - x) / FRAME;
    const inHalf = half && x >= half[0] && x < half[0] + half[2] && y >= half[1] && y < half[1] + half[3];
    const rub = rubbed[i] > 0.5;
    rubbedAny = rubbedAny || rub;
    known[i] = inHalf || rub ? 0 : 1;
    if (!known[i]) hidden++;
    pixels[i] = known[i] ? s.view.input[i] : 0;
  }
  const opposite = { top: 'bottom', bottom: 'top', left: 'right', right: 'left' };
  return { image: s.view.image, pixels, known, hidden, keep: d.half && !rubbedAny ? opposite[d.half] : null, current: s.current };
}

// The overlay: stripes over what is hidden, the rubbed-out area and the hidden half of the frame
// (mapped back onto the canvas through the server's last view of the drawing, or the canvas's own
// half when there is none).
function renderOverlay() {
  const o = d.octx;
  o.clearRect(0, 0, SIZE, SIZE);
  o.globalCompositeOperation = 'source-over';
  o.drawImage(d.rubbed, 0, 0);
  const half = halfRect(d.half);
  if (half) {
    const s = d.drawn ? seen() : null;
    const m = frameMap(s && !s.view.noInk ? s.view.info : null);
    const at = (fx, fy) => [m.x0 + (fx - m.ox) / m.scale, m.y0 + (fy - m.oy) / m.scale];
    const [x, y] = at(half[0], half[1]);
    o.fillStyle = '#fff';
    o.fillRect(x, y, half[2] / m.scale, half[3] / m.scale);
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
