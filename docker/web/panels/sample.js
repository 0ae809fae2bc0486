// The sample panel: 16 images from the prior N(0, I) as a 4x4 grid, with a seed (empty = a random
// one, shown after) and a temperature.
import { apiBlob, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { $, latestOnly, showError, showImage } from '../lib/ui.js';

const ERROR = 'sample-error';
const job = latestOnly();

// Samples 16 (announced when told, so that a model switch does not speak for every panel).
function sample(tell = true) {
  return job(async (isCurrent) => {
    const params = { n: '16', temperature: $('temperature').value };
    const seed = $('seed').value.trim();
    if (seed !== '') params.seed = seed;
    try {
      const { blob, headers } = await apiBlob(withModel('sample', params));
      if (!isCurrent()) return;
      const used = headers.get('X-Seed');
      if (used !== null && seed === '') $('seed').value = used;
      await showImage($('samples'), $('samples-empty'), blob);
      const caption = `4 \u00d7 4 grid \u00b7 seed ${used} \u00b7 temperature ${Number(params.temperature).toFixed(1)}`;
      $('samples-caption').textContent = caption;
      $('samples').alt = `Sixteen samples in a 4 by 4 grid, seed ${used}, temperature ${Number(params.temperature).toFixed(1)}`;
      showError(ERROR, null);
      if (tell) announce(`16 samples: seed ${used}, temperature ${Number(params.temperature).toFixed(1)}.`);
    } catch (err) {
      if (isCurrent()) showError(ERROR, err, 'Sample 16');
    }
  });
}

function showTemperature() {
  const text = Number($('temperature').value).toFixed(1);
  $('temperature-out').textContent = text;
  $('temperature').setAttribute('aria-valuetext', text);
}

export default {
  name: 'sample',

  setup() {
    $('sample-form').addEventListener('submit', (e) => {
      e.preventDefault();
      sample();
    });
    $('sample-new').addEventListener('click', () => {
      $('seed').value = String(Math.floor(Math.random() * 2 ** 31));
      sample();
    });
    $('temperature').addEventListener('input', showTemperature);
    $('temperature').addEventListener('change', () => sample());
  },

  modelChanged: () => sample(false),
  refresh: () => sample(false),
};
