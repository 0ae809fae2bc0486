// The draw panel's complete mode: hide part of the drawing from the model (a half of its frame, or
// what one rubs out with the pen in rub-out mode), press Complete, and watch the chain of POST
// /complete fill it in: its start and ten steps, played as an animation (shown at once, with a
// Replay button, to people who ask for reduced motion). What is hidden is in the frame the model
// saw: the canvas goes to the server with normalize=auto&invert=auto as for every other call, and
// what is hidden on it goes along as the mask mapped into the prepared 28x28 frame through the
// server's `prepared` box, scale and offset of that same canvas (lib/drawing.js), so that the
// hidden pixels line up with the prepared image.
import { apiJSON, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { PREPARE, completionInput, fetchSeen, isDrawn, isNoInk, isRubbing, onDrawing, setHiddenHalf, setRubbing } from '../lib/drawing.js';
import { $, latestOnly, paintPixels, reducedMotion, showError } from '../lib/ui.js';
import { state } from '../lib/state.js';

const ERROR = 'complete-error';
const FRAME_MS = 160;
const METHODS = { mwg: 'Metropolis-within-Gibbs', pseudo_gibbs: 'pseudo-Gibbs' };
const BLANK = new Array(784).fill(0);
const job = latestOnly();
const chain = { frames: [], steps: 0, frame: 0, timer: 0, accepted: 0, method: '', runs: 0 };

// The known pixels as the model will get them, and whether Complete can run.
function showKnown() {
  const input = isDrawn() ? completionInput() : null;
  const usable = input && !input.noInk;
  const canvas = $('complete-known');
  if (!usable) {
    paintPixels(canvas, BLANK);
    canvas.dataset.hidden = '0';
    $('complete-known-caption').textContent = !isDrawn() || (input && input.noInk) ? 'Nothing drawn yet'
      : 'Waiting for the model\u2019s view of the drawing';
  } else {
    paintPixels(canvas, input.pixels, input.known);
    canvas.dataset.hidden = String(input.hidden);
    $('complete-known-caption').textContent = input.hidden
      ? `${input.hidden} of 784 pixels hidden`
      : 'Nothing hidden yet';
  }
  const ready = Boolean(state.model && usable && input.hidden > 0 && input.hidden < 784);
  $('complete-go').disabled = !ready;
  $('complete-go').setAttribute('aria-describedby', ready ? 'complete-known-caption' : 'complete-why');
  $('complete-why').textContent = !state.model ? 'No model loaded.'
    : !isDrawn() || (input && input.noInk) ? 'Draw, or encode an image, first.'
      : !input ? 'The model\u2019s view of the drawing is on its way.'
        : !input.hidden ? 'Hide a half, or rub out part of the drawing, first.' : '';
  return input;
}

function complete() {
  return job(async (isCurrent, signal) => {
    let input = showKnown();
    if (!input || input.noInk || !input.hidden) return;
    try {
      // ink drawn since the model's last view: its view of the drawing as it is now, first
      if (!input.current) {
        await fetchSeen(signal);
        if (!isCurrent()) return;
        input = showKnown();
        if (!input || input.noInk || !input.hidden) return;
      }
      const body = { image: input.image, method: $('complete-method').value, chain: true };
      if (input.keep) body.keep = input.keep;
      else body.mask = input.known;
      const stepsText = $('complete-steps').value.trim();
      // sent as typed: the server says what is wrong with it
      if (stepsText !== '') body.steps = /^-?\d+$/.test(stepsText) ? Number(stepsText) : stepsText;
      const doc = await apiJSON(withModel('complete', { ...PREPARE, format: 'json' }), body, signal);
      if (!isCurrent()) return;
      showError(ERROR, null);
      play(doc, input.known);
      const what = `${doc.steps} steps of ${METHODS[doc.method] || doc.method}, ${doc.accepted} of ${doc.steps} proposals accepted`;
      $('complete-caption').dataset.summary = what;
      announce(`Completion: ${input.hidden} hidden pixels filled in by ${what}.`);
    } catch (err) {
      if (!isCurrent()) return;
      if (isNoInk(err)) showKnown();
      else showError(ERROR, err, 'Complete');
    }
  });
}

function play(doc, known) {
  stop();
  chain.frames = doc.chain && doc.chain.length ? doc.chain : [doc.pixels];
  chain.known = known;
  chain.steps = doc.steps;
  chain.accepted = doc.accepted;
  chain.method = doc.method;
  $('complete-replay').disabled = false;
  if (reducedMotion.matches) {
    showFrame(chain.frames.length - 1);
    $('complete-anim').dataset.runs = String(++chain.runs);
    return;
  }
  animate();
}

function animate() {
  stop();
  chain.frame = 0;
  showFrame(0);
  $('complete-anim').dataset.runs = String(++chain.runs);
  chain.timer = setInterval(() => {
    if (chain.frame + 1 >= chain.frames.length) {
      stop();
      return;
    }
    showFrame(chain.frame + 1);
  }, FRAME_MS);
}

function stop() {
  clearInterval(chain.timer);
  chain.timer = 0;
}

// Frame i of the chain (the canvas's data-frame; data-done 1 on the last; data-runs counts the
// chains shown, for tests): the start (i = 0) and then evenly spaced steps, the last one the end.
function showFrame(i) {
  chain.frame = i;
  const canvas = $('complete-anim');
  paintPixels(canvas, chain.frames[i]);
  const last = chain.frames.length - 1;
  const step = last ? Math.round((i * chain.steps) / last) : chain.steps;
  canvas.dataset.frame = String(i);
  canvas.dataset.done = i === last ? '1' : '0';
  const method = METHODS[chain.method] || chain.method;
  $('complete-caption').textContent = i === last
    ? `Completed: ${chain.steps} steps of ${method}, ${chain.accepted} accepted`
    : `Step ${step} of ${chain.steps}\u2026`;
  canvas.setAttribute('aria-label', i === last
    ? `The completed drawing after ${chain.steps} steps of ${method}`
    : `The chain filling in the hidden pixels, step ${step} of ${chain.steps}`);
}

function clearResult() {
  stop();
  chain.frames = [];
  const canvas = $('complete-anim');
  paintPixels(canvas, BLANK);
  canvas.dataset.frame = '';
  canvas.dataset.done = '0';
  canvas.setAttribute('aria-label', 'The completion appears here');
  $('complete-caption').textContent = 'The completion appears here';
  $('complete-replay').disabled = true;
}

export default {
  name: 'complete',

  setup() {
    onDrawing((e) => {
      if (e.kind === 'clear') clearResult();
      if (e.kind === 'mask' || e.kind === 'clear' || e.kind === 'seen') showKnown();
    });
    $('draw-rub').addEventListener('click', () => {
      const on = !isRubbing();
      setRubbing(on);
      $('draw-rub').setAttribute('aria-pressed', String(on));
      $('draw').setAttribute('aria-label', on
        ? 'Drawing area in rub-out mode: what you rub out is hidden from the completion'
        : 'Drawing area: draw with the mouse or a finger, or use an image below');
      announce(on ? 'Rub-out mode: the pen hides parts of the drawing from the completion.' : 'Drawing mode.');
    });
    $('complete-hide').addEventListener('change', () => setHiddenHalf($('complete-hide').value));
    $('complete-form').addEventListener('submit', (e) => {
      e.preventDefault();
      complete();
    });
    $('complete-replay').addEventListener('click', () => chain.frames.length && animate());
    reducedMotion.addEventListener('change', () => {
      if (reducedMotion.matches && chain.timer) {
        stop();
        showFrame(chain.frames.length - 1);
      }
    });
    setHiddenHalf($('complete-hide').value);
    clearResult();
  },

  modelChanged() {
    // a completion still under way belongs to the model before: cancelled
    job(async () => {});
    clearResult();
    showKnown();
  },

  refresh() {
    showKnown();
  },
};
