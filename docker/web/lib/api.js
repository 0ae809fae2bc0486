// Calls to the vae-server API, which nginx serves under api/ on the same origin. Every failure is
// an ApiError whose message can be shown to a person; outages are reported on the bus ("service").
import { state, emit } from './state.js';

const API = 'api/';

export class ApiError extends Error {
  constructor(message, status, type) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

// A call given up on purpose (its AbortSignal fired: a newer call made it stale). Not an error
// to show, and not an outage.
export class Aborted extends Error {
  constructor() {
    super('aborted');
    this.name = 'Aborted';
  }
}

const isAborted = (err) => err instanceof Aborted;

// True when the error means the model service is not there (as opposed to a bad request):
// nginx reaches no replica (its 503 not_ready), a replica is loading or draining, or the
// network is down.
export function isOutage(err) {
  return err instanceof ApiError && (err.status === 0 || err.status === 502 || err.status === 504 ||
    (err.status === 503 && err.type === 'not_ready'));
}

// The text shown and announced for an error. An ApiError carries the API's own message; anything
// else is a bug in the page, logged to the console, and never shown as raw exception text.
export function userMessage(err) {
  if (err instanceof ApiError) return err.message;
  if (isAborted(err)) return 'cancelled';
  console.error(err);
  return 'something went wrong in this page; reloading it starts again';
}

// Fetches API + path (a POST of body as JSON when body is given; signal, an AbortSignal, gives
// the call up); resolves to the Response on 2xx, else throws an ApiError carrying the API's
// {"error":{"message"}} (or the HTTP status line when the body is not the API's error shape), or
// Aborted.
export async function api(path, body, signal) {
  const options = body === undefined ? { signal } : {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  };
  let resp;
  try {
    resp = await fetch(API + path, options);
  } catch (_) {
    if (signal && signal.aborted) throw new Aborted();
    throw report(new ApiError('cannot reach the server', 0, 'network'));
  }
  if (resp.ok) {
    emit('service', { up: true });
    return resp;
  }
  let message = `HTTP ${resp.status} ${resp.statusText}`.trim();
  let type = 'http';
  try {
    const doc = await resp.json();
    if (doc && doc.error && doc.error.message) {
      message = doc.error.message;
      type = doc.error.type;
    }
  } catch (_) { /* not JSON: keep the status line */ }
  throw report(new ApiError(message, resp.status, type));
}

function report(err) {
  if (isOutage(err)) emit('service', { up: false, error: err });
  return err;
}

// The reply read by read(resp); a reply that cannot be read is an ApiError too.
async function apiRead(path, body, signal, read) {
  const resp = await api(path, body, signal);
  try {
    return await read(resp);
  } catch (_) {
    if (signal && signal.aborted) throw new Aborted();
    throw new ApiError('the server\'s reply could not be read', resp.status, 'bad_reply');
  }
}

// The reply as parsed JSON.
export const apiJSON = (path, body, signal) => apiRead(path, body, signal, (resp) => resp.json());

// The reply as a Blob (a PNG), with its headers.
export const apiBlob = (path, body, signal) => apiRead(path, body, signal, async (resp) => ({ blob: await resp.blob(), headers: resp.headers }));

// path?model=NAME&... for the selected model
export function withModel(path, params = {}) {
  const q = new URLSearchParams({ model: state.model.name, ...params });
  return `${path}?${q}`;
}
