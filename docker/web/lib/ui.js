// Helpers every panel uses: elements by id, errors in a card, pictures (a PNG reply, or 784 grey
// levels), the busy count, and the latest-call-wins wrapper.
import { announce } from './announce.js';
import { isOutage, userMessage } from './api.js';

export const $ = (id) => document.getElementById(id);

// two decimals, without a "-0.00"
export const fixed2 = (v) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);

export const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

// Shows err in the card's error box #id (null hides it) and announces it, prefixed by what failed
// ("Sample 16: ..."). An outage is not announced here: the banner says it once for every card.
export function showError(id, err, what) {
  const el = $(id);
  if (!err) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  const message = userMessage(err);
  el.textContent = message;
  el.hidden = false;
  if (!isOutage(err)) announce(`${what}: error: ${message}`);
}

// Shows a PNG blob in an <img> (replacing its placeholder); data-version counts finished loads.
export function showImage(img, placeholder, blob) {
  // an earlier image still loading into this element is superseded: its handlers are replaced
  // below and would never run, so its caller is released here (its URL freed), not left waiting
  if (img.supersede) img.supersede();
  return new Promise((resolve) => {
    const url = URL.createObjectURL(blob);
    const finish = () => {
      img.supersede = null;
      resolve();
    };
    img.supersede = () => {
      URL.revokeObjectURL(url);
      finish();
    };
    img.onload = () => {
      if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
      img.dataset.url = url;
      img.hidden = false;
      placeholder.hidden = true;
      img.dataset.version = String(Number(img.dataset.version || 0) + 1);
      finish();
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      finish();
    };
    img.src = url;
  });
}

// Paints 784 grey levels (0..1, row by row) on a 28x28 canvas; with known (784 numbers, 0 =
// hidden) the hidden pixels are striped in blue instead.
export function paintPixels(canvas, grey, known = null) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(Math.min(1, Math.max(0, grey[i])) * 255);
    const x = i % 28, y = (i - x) / 28;
    const stripe = known && !known[i];
    const lit = stripe && (x + y) % 4 < 2;
    img.data[i * 4] = stripe ? (lit ? 40 : 20) : v;
    img.data[i * 4 + 1] = stripe ? (lit ? 80 : 40) : v;
    img.data[i * 4 + 2] = stripe ? (lit ? 150 : 75) : v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// Calls to the API under way, or scheduled (the draw panel's live updates), as body data-busy
// (for tests and styling): 0 when the page is settled.
export const busy = {
  n: 0,
  add(delta) {
    this.n += delta;
    document.body.dataset.busy = String(this.n);
  },
};

// Runs task(isCurrent, signal) for a panel so that only the latest call's result is used: a newer
// call makes the older one stale (isCurrent() turns false, its result is dropped) and cancels the
// API calls it still has under way (signal, for lib/api.js, aborts them).
export function latestOnly() {
  let gen = 0;
  let controller = null;
  return async (task) => {
    const mine = ++gen;
    if (controller) controller.abort();
    const own = new AbortController();
    controller = own;
    busy.add(1);
    try {
      await task(() => mine === gen, own.signal);
    } finally {
      if (controller === own) controller = null;
      busy.add(-1);
    }
  };
}
