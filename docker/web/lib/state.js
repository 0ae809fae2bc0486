// What the panels share: the models, the selected model and the latent vector z, and a bus for the
// few things one panel tells the others ("model", "service", "latent").
export const state = {
  models: [],   // GET /v1/models, as the server lists them
  model: null,  // the selected one (null until a model list has been loaded)
  z: [],        // the latent vector the latent panel decodes
};

export const bus = new EventTarget();

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  bus.addEventListener(name, (e) => handler(e.detail));
}

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
  'Sneaker', 'Bag', 'Ankle boot'];

export function isFashion(model) {
  const dataset = (model.metadata && model.metadata.dataset) || model.name;
  return /fashion/i.test(dataset);
}

// The ten class names of the model's data set ("0".."9" for digits).
export function classNames(model) {
  return isFashion(model) ? FASHION_CLASSES : [...Array(10).keys()].map(String);
}

// A <select>'s options, one per class ("3", or "3 · Dress" for Fashion-MNIST; digits get
// digitPrefix), keeping the selected class (preset when none is).
export function fillClassSelect(select, model, preset, digitPrefix = '') {
  const keep = select.value === '' ? String(preset) : select.value;
  select.replaceChildren(...classNames(model).map((n, i) =>
    new Option(isFashion(model) ? `${i} \u00b7 ${n}` : `${digitPrefix}${n}`, String(i))));
  select.value = keep;
}
