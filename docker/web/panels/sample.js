// The sample panel: 16 images as a 4x4 grid, from the prior N(0, I) or from one class (the
// Gaussian of that class's codes, which the trainer stored: GET /sample?label=), with a seed
// (empty = a random one, shown after) and a temperature.
import { apiBlob, withModel } from '../lib/api.js';
import { announce } from '../lib/announce.js';
import { $, latestOnly, showError, showImage } from '../lib/ui.js';
import { classNames, state } from '../lib/state.js';

const ERROR = 'sample-error';
const job = latestOnly();

// Samples 16 (announced when told, so that a model switch does not speak for every panel).
function sample(tell = true) {
  return job(async (isCurrent, signal) => {
    const params = { n: '16', temperature: $('temperature').value };
    const seed = $('seed').value.trim();
    if (seed !== '') params.seed = seed;
    const label = $('sample-class').value;
    if (label !== '') params.label = label;
    try {
      const { blob, headers } = await apiBlob(withModel('sample', params), undefined, signal);
      if (!isCurrent()) return;
      const used = headers.get('X-Seed');
      if (used !== null && seed === '') $('seed').value = used;
      await showImage($('samples'), $('samples-empty'), blob);
      const temperature = Number(params.temperature).toFixed(1);
      const of = label === '' ? '' : ` of class ${className(label)}`;
      const caption = `4 \u00d7 4 grid${of} \u00b7 seed ${used} \u00b7 temperature ${temperature}`;
      $('samples-caption').textContent = caption;
      $('samples').alt = `Sixteen samples${of} in a 4 by 4 grid, seed ${used}, temperature ${temperature}`;
      $('sample-hint').textContent = label === '' ? 'from the prior N(0, I)' : `from the Gaussian of class ${className(label)}`;
      showError(ERROR, null);
      if (tell) announce(`16 samples${of}: seed ${used}, temperature ${temperature}.`);
    } catch (err) {
      if (isCurrent()) showError(ERROR, err, 'Sample 16');
    }
  });
}

// a class by its name: "3", or "Dress" for Fashion-MNIST
const className = (label) => classNames(state.model)[Number(label)];

// The class picker: any class (the prior), or one of the model's ten, when it has class statistics.
function fillClasses(model) {
  const sel = $('sample-class');
  const keep = sel.value;
  const options = [new Option('any (the prior)', '')];
  if (model.class_stats) {
    classNames(model).forEach((name, i) => options.push(new Option(name, String(i))));
  }
  sel.replaceChildren(...options);
  sel.value = options.some((o) => o.value === keep) ? keep : '';
  $('sample-class-note').hidden = Boolean(model.class_stats);
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
    $('sample-class').addEventListener('change', () => sample());
  },

  modelChanged(model) {
    fillClasses(model);
    return sample(false);
  },
  refresh: () => sample(false),
};
