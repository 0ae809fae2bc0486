// What the panels share: the models, the selected model and the latent vector z, and a bus for the
// few things one panel tells the others: "service" (the API is gone or back), "latent" (a panel
// hands the latent panel a z: {z, why, follow}, follow taking the focus along) and "z" (z changed,
// {preview} true while it only previews a manifold cell).
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

// What the items of the model's data set are called, for text: "digit" or "item of clothing".
export function itemNoun(model) {
  return isFashion(model) ? 'item of clothing' : 'digit';
}

// The model's latent dimensions by activity, from the diagnostics the trainer stored: order (the
// dimensions by decreasing variance of mu over the test set, ties by index: the server's own
// order for /traverse), active (a Set of the dimensions whose variance is above the threshold),
// and per dimension its variance and KL. Without diagnostics: the index order, and active null.
export function activity(model) {
  const d = model.latent_dim;
  const diag = model.diagnostics;
  const index = [...Array(d).keys()];
  if (!diag || !Array.isArray(diag.mu_var) || diag.mu_var.length !== d) {
    return { order: index, active: null, muVar: null, kl: null, threshold: null };
  }
  const order = index.slice().sort((a, b) => diag.mu_var[b] - diag.mu_var[a] || a - b);
  const threshold = typeof diag.active_threshold === 'number' ? diag.active_threshold : 0.01;
  const active = new Set(index.filter((i) => diag.mu_var[i] > threshold));
  const kl = Array.isArray(diag.kl_per_dim) && diag.kl_per_dim.length === d ? diag.kl_per_dim : null;
  return { order, active, muVar: diag.mu_var, kl, threshold };
}
