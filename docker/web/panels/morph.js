// The morph panel: a strip of images between two class means (linear or slerp), and an animation
// that runs back and forth through it, unless the person prefers reduced motion.
import { apiBlob, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { $, latestOnly, reducedMotion, showError, showImage } from '../lib/ui.js';
import { classNames, fillClassSelect, state } from '../lib/state.js';

const ERROR = 'morph-error';
const FRAME_MS = 110;
const job = latestOnly();
const anim = { frames: 0, frame: 0, dir: 1, timer: 0, playing: !reducedMotion.matches };

// The morph needs the class means: a model without them says so instead of failing.
function canMorph() {
  const ok = Boolean(state.model && state.model.has_centroids);
  $('morph-note').hidden = ok;
  for (const id of ['morph-from', 'morph-to', 'morph-steps', 'morph-method', 'morph-go']) $(id).disabled = !ok;
  return ok;
}

function morph(tell = true) {
  return job(async (isCurrent, signal) => {
    if (!canMorph()) {
      $('morph-strip').hidden = true;
      $('morph-empty').hidden = false;
      $('morph-caption').textContent = 'No class means in this model';
      startAnimation(0);
      return;
    }
    const stepsText = $('morph-steps').value.trim();
    const body = {
      from: Number($('morph-from').value),
      to: Number($('morph-to').value),
      method: $('morph-method').value,
    };
    // sent as typed: the server says what is wrong with it
    if (stepsText !== '') body.steps = /^-?\d+$/.test(stepsText) ? Number(stepsText) : stepsText;
    try {
      const { blob } = await apiBlob(withModel('interpolate'), body, signal);
      if (!isCurrent()) return;
      await showImage($('morph-strip'), $('morph-empty'), blob);
      const names = classNames(state.model);
      const frames = $('morph-strip').naturalWidth / 28;
      const what = `${names[body.from]} \u2192 ${names[body.to]} in ${frames} steps (${body.method})`;
      $('morph-caption').textContent = what;
      $('morph-strip').alt = `The morph ${what} as a strip of images`;
      startAnimation(frames);
      showError(ERROR, null);
      if (tell) announce(`Morph ${what}.`);
    } catch (err) {
      if (isCurrent()) showError(ERROR, err, 'Morph');
    }
  });
}

function startAnimation(frames) {
  anim.frames = frames;
  // still: the middle of the morph; moving: from the first image
  anim.frame = anim.playing ? 0 : Math.floor((frames - 1) / 2);
  anim.dir = 1;
  $('morph-play').disabled = frames < 2;
  renderFrame();
  play(anim.playing);
}

function play(on) {
  anim.playing = on;
  clearInterval(anim.timer);
  if (on) anim.timer = setInterval(nextFrame, FRAME_MS);
  $('morph-play').textContent = on ? 'Pause animation' : 'Play animation';
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

export default {
  name: 'morph',

  setup() {
    $('morph-form').addEventListener('submit', (e) => {
      e.preventDefault();
      morph();
    });
    $('morph-play').addEventListener('click', () => play(!anim.playing));
    // a change of the system setting while the page is open stops the animation at once
    reducedMotion.addEventListener('change', () => {
      if (reducedMotion.matches) play(false);
    });
  },

  modelChanged(model) {
    fillClassSelect($('morph-from'), model, 3);
    fillClassSelect($('morph-to'), model, 8);
    return morph(false);
  },

  refresh: () => morph(false),
};
