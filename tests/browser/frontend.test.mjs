// make browser-test: Debian's Chromium, headless and driven by playwright-core, uses the web
// frontend through nginx (FRONTEND_URL, set by tests/scaleout/stack.py) the way people do: with
// the mouse, with a finger, and with the keyboard alone. It starts the page with no replica
// answering and then starts one (the page must recover by itself), draws (scored live, stale calls
// cancelled), completes a drawing, walks the manifold and the traversal, operates every control
// of every panel from the keyboard (checked by its effect), uses a 2-D model and a model without
// the trainer's statistics, provokes errors, takes the service away and brings it back. In each
// state, at 1280x900 and at 390x844, axe-core must find no violation, the page must have one live
// region and show no raw exception text; a screenshot of each goes to ARTIFACTS. Any console error
// fails the test, except the HTTP errors provoked on purpose.
//
// A new panel is covered by one entry in PANELS: its card and its keyboard steps. The harness then
// checks that every control in the card was operated from the keyboard, runs axe-core and takes
// the screenshots; the Tab walk finds its controls by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import * as a11y from './a11y.mjs';

const BASE = process.env.FRONTEND_URL;
const ARTIFACTS = process.env.ARTIFACTS || 'build/browser-artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SERVER = process.env.VAE_SERVER;
const REPLICA_PIDS = (process.env.REPLICA_PIDS || '').split(/\s+/).filter(Boolean).map(Number);
const REPLICA_URL = (process.env.REPLICA_URLS || '').split(/\s+/)[0];
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const VIEWPORTS = [{ width: 1280, height: 900 }, { width: 390, height: 844 }];
// what a page must never show or say: the text of a JavaScript exception
const RAW_ERROR = /TypeError|ReferenceError|SyntaxError|RangeError|Cannot read propert|is not a function|is not defined|undefined|\bnull\b|Failed to fetch|NetworkError|\[object /;

assert.ok(BASE, 'FRONTEND_URL is not set (run through tests/browser/run.sh)');
assert.ok(SERVER && REPLICA_URL && REPLICA_PIDS.length === 1, 'VAE_SERVER, REPLICA_URLS and REPLICA_PIDS (one replica) are needed: run through tests/browser/run.sh');
fs.mkdirSync(ARTIFACTS, { recursive: true });

// console errors allowed at a given moment (the HTTP errors the test provokes on purpose)
let allowed = [];
const consoleErrors = [];

/* ---------- the replica: the stack's is killed at the start; the test starts its own on that port ---------- */

const replica = {
  proc: null,
  port: Number(new URL(REPLICA_URL).port),
  async ready(seconds = 30) {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`${REPLICA_URL}/ready`)).status === 200) return true;
      } catch (_) { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  },
  async start() {
    const log = fs.openSync(path.join(ARTIFACTS, 'replica.log'), 'a');
    this.proc = spawn(SERVER, ['--bind', '127.0.0.1', '--port', String(this.port), '--threads', '2', '--shutdown-grace', '1'],
      { cwd: ROOT, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    assert.ok(await this.ready(), `the replica did not get ready on port ${this.port} (see replica.log)`);
  },
  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGKILL');
      await exited;
    }
    this.proc = null;
  },
};

async function killStackReplica() {
  for (const pid of REPLICA_PIDS) process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    try {
      await fetch(`${REPLICA_URL}/ready`);
    } catch (_) {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('the stack\'s replica still answers after SIGKILL');
}

/* ---------- pictures, settling, waiting ---------- */

// Size and pixel statistics of an <img> or <canvas> (grey level 0..255), read in the page.
async function picture(page, selector) {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el) return null;
    const w = el.naturalWidth ?? el.width, h = el.naturalHeight ?? el.height;
    if (!w || !h) return { width: w, height: h, mean: 0, variance: 0, hash: 0 };
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d');
    ctx.drawImage(el, 0, 0);
    const data = ctx.getImageData(0, 0, w, h).data;
    let sum = 0, sq = 0, hash = 0;
    for (let i = 0; i < data.length; i += 4) {
      const g = (data[i] + data[i + 1] + data[i + 2]) / 3;
      sum += g;
      sq += g * g;
      hash = (hash * 31 + data[i]) >>> 0;
    }
    const n = data.length / 4;
    return { width: w, height: h, mean: sum / n, variance: sq / n - (sum / n) ** 2, hash };
  }, selector);
}

// Waits until the page has no API call under way or scheduled (its body's data-busy is 0).
async function settled(page) {
  await page.waitForFunction(() => document.body.dataset.busy === '0', null, { timeout: 10000 })
    .catch(() => assert.fail('the page still has API calls under way after 10 s'));
}

async function expectPicture(page, selector, width, height, what) {
  await settled(page);
  const p = await picture(page, selector);
  assert.ok(p, `${what}: ${selector} is not on the page`);
  assert.equal(`${p.width}x${p.height}`, `${width}x${height}`, `${what}: size`);
  assert.ok(p.variance > 50, `${what}: the picture is blank (variance ${p.variance.toFixed(1)})`);
  return p;
}

const version = (page, selector) => page.$eval(selector, (el) => Number(el.dataset.version || 0));

// Waits until the <img>'s data-version (bumped by the page on each loaded picture) passes `after`.
async function waitVersion(page, selector, after, what) {
  await page.waitForFunction(
    ([sel, v]) => Number(document.querySelector(sel).dataset.version || 0) > v,
    [selector, after], { timeout: 10000 },
  ).catch(() => assert.fail(`${what}: ${selector} did not update`));
}

async function visibleErrors(page) {
  return page.$$eval('.error:not([hidden]), #banner:not([hidden])', (els) => els.map((e) => `${e.id}: ${e.textContent}`));
}

async function noVisibleErrors(page) {
  assert.deepEqual(await visibleErrors(page), [], 'errors shown on the page');
}

const text = (page, selector) => page.textContent(selector);

// The page's own modules, as it loaded them (the same URL is the same module instance).
const pageZ = (page) => page.evaluate(async () => (await import('./lib/state.js')).state.z.slice());
const completionInput = (page) => page.evaluate(async () => (await import('./lib/drawing.js')).completionInput());
const drawingPNG = (page) => page.evaluate(async () => (await import('./lib/drawing.js')).drawingPNG());

// A POST of the drawing now on the page's canvas to BASE/api/PATH from the test (not through the
// page, whose calls drawingCalls records), with the query params; the reply's JSON.
async function postDrawing(page, apiPath, params) {
  const image = await drawingPNG(page);
  assert.ok(image, 'nothing is drawn');
  const model = await page.evaluate(() => document.body.dataset.model);
  const q = new URLSearchParams({ model, ...params });
  const resp = await fetch(`${BASE}/api/${apiPath}?${q}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ image }) });
  assert.equal(resp.status, 200, `POST /api/${apiPath}?${q}: ${resp.status}`);
  return resp.json();
}

// The server's view of the drawing on the page's canvas, asked by the test itself:
// /reconstruct?normalize=auto&invert=auto&with_input=1&format=json -> {input, pixels, prepared}.
async function serverView(page) {
  const image = await drawingPNG(page);
  const doc = await postDrawing(page, 'reconstruct', { normalize: 'auto', invert: 'auto', with_input: '1', format: 'json' });
  assert.equal(doc.input.length, 1, 'one image, one row of input');
  return { image, input: doc.input[0], pixels: doc.pixels[0], prepared: doc.prepared };
}

const isComplete = (r) => new URL(r.url()).pathname.endsWith('/api/complete');

// A call from the page asked the server to prepare the picture: normalize=auto&invert=auto.
function assertPrepareAsked(req, what) {
  const q = new URL(req.url()).searchParams;
  assert.deepEqual([q.get('normalize'), q.get('invert')], ['auto', 'auto'], `${what}: ${q}`);
}

// The 784 grey levels (red channel) of a 28x28 canvas on the page.
const canvasGrey = (page, selector) => page.$eval(selector, (c) =>
  Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0)));

// The width and height of a PNG data URL, from its IHDR.
function pngSize(dataURL) {
  const bytes = Buffer.from(dataURL.replace(/^data:image\/png;base64,/, ''), 'base64');
  assert.equal(bytes.subarray(1, 4).toString(), 'PNG', 'not a PNG');
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

const dist = (a, b) => Math.sqrt(a.reduce((acc, v, i) => acc + (v - b[i]) ** 2, 0));

// Every call the page makes from the drawing (POST /encode, /reconstruct, /score, /complete,
// /traverse), and the /encode replies by the image they were for: recorded from the start.
const drawingCalls = [];
const encodeReplies = new Map();
const DRAWING_CALL = /\/api\/(encode|reconstruct|score|complete|traverse)$/;

function recordDrawingCalls(page) {
  page.on('request', (r) => {
    const url = new URL(r.url());
    const m = url.pathname.match(DRAWING_CALL);
    if (!m || r.method() !== 'POST') return;
    drawingCalls.push({ path: m[1], params: Object.fromEntries(url.searchParams), body: r.postDataJSON() });
  });
  page.on('response', async (r) => {
    if (!new URL(r.url()).pathname.endsWith('/api/encode') || r.status() !== 200) return;
    try {
      const body = r.request().postDataJSON();
      encodeReplies.set(body.image, await r.json());
    } catch (_) { /* cancelled on the way */ }
  });
}

// mu of the drawing now on the canvas, as the page's own /encode call got it.
async function pageMu(page, what) {
  await settled(page);
  const image = await drawingPNG(page);
  const deadline = Date.now() + 3000;
  while (!encodeReplies.has(image) && Date.now() < deadline) await page.waitForTimeout(50);
  assert.ok(encodeReplies.has(image), `${what}: the page did not encode the drawing on show`);
  return encodeReplies.get(image).mu;
}

// GET BASE/api/PATH as JSON, from the test (not through the page)
async function apiGet(pathAndQuery) {
  const resp = await fetch(`${BASE}/api/${pathAndQuery}`);
  assert.equal(resp.status, 200, `GET /api/${pathAndQuery}: ${resp.status}`);
  return resp.json();
}

// A model as GET /v1/models describes it (its latent_dim d, its diagnostics...): what the test
// expects of the page is computed from it, not written down for one set of weights.
async function modelInfo(name) {
  const model = (await apiGet('v1/models')).models.find((m) => m.name === name);
  assert.ok(model, `the server has no model ${name}`);
  return model;
}

// A model's latent dimensions by decreasing variance of mu (ties by index), and its inactive ones,
// computed here from GET /v1/models, independently of the page; d is its latent_dim.
async function activityOf(name) {
  const model = await modelInfo(name);
  const v = model.diagnostics.mu_var;
  assert.equal(v.length, model.latent_dim, `${name}: one mu variance per latent dimension`);
  const order = v.map((_, i) => i).sort((a, b) => v[b] - v[a] || a - b);
  const inactive = order.filter((i) => !(v[i] > model.diagnostics.active_threshold));
  assert.equal(model.latent_dim - inactive.length, model.diagnostics.active_units, `${name}: active units by the threshold against the server's count`);
  return { model, d: model.latent_dim, order, inactive };
}

function assertClose(actual, expected, tolerance, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - expected[i])));
  assert.ok(worst <= tolerance, `${what}: off by ${worst} (${actual.slice(0, 4)} against ${expected.slice(0, 4)})`);
}

const runs = (page) => page.$eval('#complete-anim', (c) => Number(c.dataset.runs || 0));

// Waits for a chain after the first `after` (data-runs on the canvas) to end playing (data-done),
// and returns the frames it showed on the way (data-frame).
async function chainPlayed(page, after, what) {
  return page.evaluate((n) => new Promise((resolve, reject) => {
    const c = document.querySelector('#complete-anim');
    const frames = [];
    const started = performance.now();
    const look = () => {
      if (Number(c.dataset.runs || 0) > n) {
        if (frames[frames.length - 1] !== c.dataset.frame) frames.push(c.dataset.frame);
        if (c.dataset.done === '1') return resolve(frames.map(Number));
      }
      if (performance.now() - started > 10000) return reject(new Error('timeout'));
      requestAnimationFrame(look);
    };
    look();
  }), after).catch(() => assert.fail(`${what}: no chain finished playing in 10 s`));
}
const focusedId = (page) => page.evaluate(() => document.activeElement && document.activeElement.id);
const sliderValues = (page) => page.$$eval('#sliders input', (els) => els.map((e) => Number(e.value)));

// Focuses `selector` and presses the keys in turn.
async function keys(page, selector, ...names) {
  await page.focus(selector);
  for (const k of names) await page.keyboard.press(k);
}

// Waits until no announcement is pending, and returns how many the live regions have made so far
// (the count an expectAnnouncements() after the next action starts from).
async function mark(page) {
  await page.waitForFunction(() => document.body.dataset.announcing !== '1', null, { timeout: 5000 })
    .catch(() => assert.fail('an announcement is still pending after 5 s'));
  return (await a11y.liveLog(page)).length;
}

// Waits for exactly `count` new live-region announcements after `from` (a moment longer, to see
// that no more follow), each matching the patterns in turn; returns their texts.
async function expectAnnouncements(page, from, patterns, what) {
  await page.waitForFunction(([n]) => window.__liveLog.length >= n, [from + patterns.length], { timeout: 4000 })
    .catch(() => {});
  await page.waitForTimeout(400);
  await mark(page);
  const said = (await a11y.announcementsSince(page, from, 0)).map((a) => a.text);
  assert.equal(said.length, patterns.length, `${what}: announcements ${JSON.stringify(said)}`);
  patterns.forEach((re, i) => assert.match(said[i], re, `${what}: announcement ${i}`));
  return said;
}

/* ---------- the checks of every state ---------- */

const states = [];

async function assertNoRawErrorText(page, where) {
  const shown = await page.$$eval('.error:not([hidden]), #banner:not([hidden]), #status, figcaption, .chart-summary',
    (els) => els.map((e) => e.textContent));
  const said = (await a11y.liveLog(page)).map((a) => a.text);
  for (const t of [...shown, ...said]) assert.doesNotMatch(t, RAW_ERROR, `${where}: raw exception text on the page`);
}

// axe-core at both sizes, one live region, no raw exception text, and a screenshot of each.
async function checkState(page, name) {
  states.push(name);
  for (const vp of VIEWPORTS) {
    await page.setViewportSize(vp);
    // two frames: the layout and the chart's redraw at the new size
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const where = `${name} at ${vp.width}x${vp.height}`;
    await a11y.assertNoAxeViolations(page, where);
    await a11y.assertOneLiveRegion(page, where);
    await assertNoRawErrorText(page, where);
    const file = `${String(states.length).padStart(2, '0')}-${name}-${vp.width}x${vp.height}.png`;
    await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
  }
  await page.setViewportSize(VIEWPORTS[0]);
}

/* ---------- input: mouse strokes, touch strokes, a PNG to upload ---------- */

// A stroke with the mouse through canvas-relative points (0..1).
async function mouseStroke(page, points) {
  await page.locator('#draw').scrollIntoViewIfNeeded();
  const box = await page.locator('#draw').boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 6 });
  await page.mouse.up();
}

// The same with a finger: raw touch events through the DevTools protocol (Chromium turns them
// into pointer events with pointerType "touch", as on a phone).
async function touchStroke(page, cdp, points) {
  await page.locator('#draw').scrollIntoViewIfNeeded();
  const box = await page.locator('#draw').boundingBox();
  const at = ([x, y]) => ({ x: box.x + x * box.width, y: box.y + y * box.height });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [at(points[0])] });
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    for (let k = 1; k <= 6; k++) {
      const p = [a[0] + ((b[0] - a[0]) * k) / 6, a[1] + ((b[1] - a[1]) * k) / 6];
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [at(p)] });
    }
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

// An 8-bit grey PNG (width*height bytes), for the upload: written here, not taken from the page.
function pngGrey(width, height, pixels) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (kind, body) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc(Buffer.concat([Buffer.from(kind), body])));
    return Buffer.concat([head, Buffer.from(kind), body, tail]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < height; y++) rows.push(Buffer.from([0]), pixels.subarray(y * width, (y + 1) * width));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

// A dark "1" on white paper, 56x56: the page must invert it to light ink on black.
function paperDigit(file) {
  const n = 56, px = Buffer.alloc(n * n, 245);
  for (let y = 10; y < 46; y++) for (let x = 25; x < 31; x++) px[y * n + x] = 20;
  fs.writeFileSync(file, pngGrey(n, n, px));
  return file;
}

/* ---------- the panels, each operated from the keyboard alone ---------- */

const PANELS = [
  {
    name: 'models',
    root: '.model-switch',
    // native radio buttons: the arrow keys move the selection, and wrap around
    async use(page) {
      const checked = () => page.$eval('#models input:checked', (el) => el.value);
      const d = (await modelInfo('mnist')).latent_dim;
      const v = await version(page, '#samples');
      await keys(page, '#models input:checked', 'ArrowRight');
      assert.equal(await checked(), 'fashion');
      await waitVersion(page, '#samples', v, 'samples of fashion');
      await settled(page);
      assert.match(await text(page, '#model-info'), /fashion/);
      assert.match(await text(page, '#test-image option:checked'), /Dress/);
      // the drawing, prepared for this model: Fashion-MNIST's items fill the frame
      assert.match(await text(page, '#seen-info'), /^The server scaled the ink \(a \d+ \u00d7 \d+ box on the canvas\) to fill the 28 \u00d7 28 frame, as Fashion-MNIST\u2019s items were; light ink/);
      assert.equal((await serverView(page)).prepared.normalize, 'fill');
      // the sample panel's class picker names the classes of Fashion-MNIST
      const classes = await page.$$eval('#sample-class option', (os) => os.map((o) => o.textContent));
      assert.deepEqual(classes, ['any (the prior)', 'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
        'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
      await page.keyboard.press('ArrowRight');
      assert.equal(await checked(), 'mnist2d');
      await page.waitForFunction(() => document.querySelectorAll('#sliders input').length === 2);
      await settled(page);
      assert.deepEqual(await page.$$eval('#manifold-plane option', (os) => os.map((o) => o.textContent)), ['z0 across, z1 up']);
      await page.keyboard.press('ArrowRight');
      assert.equal(await checked(), 'bare');
      await settled(page);
      await page.keyboard.press('ArrowRight');
      assert.equal(await checked(), 'mnist');
      await page.waitForFunction((n) => document.querySelectorAll('#sliders input').length === n, d);
      await settled(page);
      assert.match(await text(page, '#seen-info'), /fitted the ink \(a \d+ \u00d7 \d+ box on the canvas\) into 20 \u00d7 20 and centred it by its centre of mass/);
    },
  },
  {
    name: 'complete',
    root: '#complete',
    async use(page) {
      // nothing hidden at first: Complete waits, and the drawing shows no stripes
      assert.equal(await page.inputValue('#complete-hide'), '');
      assert.ok(await page.isDisabled('#complete-go'), 'Complete is enabled with nothing hidden');
      assert.equal(await page.getAttribute('#draw-mask', 'data-hidden'), '0');
      // the drawing on the canvas (the 0 drawn with a finger), its bottom half hidden with the keys
      await keys(page, '#complete-hide', 'ArrowDown');
      assert.equal(await page.inputValue('#complete-hide'), 'bottom');
      assert.equal(await text(page, '#complete-known-caption'), '392 of 784 pixels hidden');
      await expectPicture(page, '#complete-known', 28, 28, 'the known pixels');
      assert.equal(await page.getAttribute('#draw-mask', 'data-hidden'), '1', 'the hidden half is not shown on the drawing');
      await keys(page, '#complete-method', 'ArrowDown');
      assert.equal(await page.inputValue('#complete-method'), 'pseudo_gibbs');
      await keys(page, '#complete-steps', 'Control+A');
      await page.keyboard.type('60');
      let from = await mark(page);
      let before = await runs(page);
      let [req, resp] = await Promise.all([page.waitForRequest(isComplete), page.waitForResponse(isComplete), keys(page, '#complete-go', 'Enter')]);
      let body = req.postDataJSON();
      assert.deepEqual([body.keep, body.mask, body.steps, body.method, body.chain, body.pixels], ['top', undefined, 60, 'pseudo_gibbs', true, undefined]);
      // what is sent is the whole canvas, to be prepared by the server as for every other call;
      // the server prepared it into the frame the page showed (its with_input JSON for this
      // canvas), and the known pixels shown are exactly those of that prepared input
      const ref = await serverView(page);
      assertPrepareAsked(req, 'Complete, the bottom hidden');
      assert.equal(body.image, await drawingPNG(page), 'Complete did not send the canvas');
      assert.deepEqual((await resp.json()).prepared, ref.prepared, 'the completion was prepared into another frame');
      const shownKnown = await canvasGrey(page, '#complete-known');
      assert.deepEqual(shownKnown.slice(0, 392), ref.input.slice(0, 392).map((g) => Math.round(g * 255)), 'the known pixels shown are not the prepared input');
      // the chain is played: its start, steps between, its end
      let frames = await chainPlayed(page, before, 'bottom hidden');
      assert.ok(frames.length >= 3 && frames[0] === 0 && frames[frames.length - 1] === 10, `frames shown: ${frames}`);
      await expectPicture(page, '#complete-anim', 28, 28, 'the completion');
      assert.match(await text(page, '#complete-caption'), /^Completed: 60 steps of pseudo-Gibbs, \d+ accepted$/);
      await expectAnnouncements(page, from, [/^Completion: 392 hidden pixels filled in by 60 steps of pseudo-Gibbs, \d+ of 60 proposals accepted\.$/], 'complete');
      await assertCompletion(page, 'bottom hidden', ref);
      // rub-out mode: the pen hides what it rubs; only that is hidden, sent as a mask
      await keys(page, '#draw-rub', 'Space');
      assert.equal(await page.getAttribute('#draw-rub', 'aria-pressed'), 'true');
      await keys(page, '#complete-hide', 'ArrowUp');
      assert.equal(await page.inputValue('#complete-hide'), '');
      assert.ok(await page.isDisabled('#complete-go'), 'Complete is enabled with nothing hidden');
      const rub = [[0.2, 0.55], [0.8, 0.55], [0.8, 0.8], [0.2, 0.8]];
      await mouseStroke(page, rub);
      const hidden = Number((await text(page, '#complete-known-caption')).split(' ')[0]);
      assert.ok(hidden > 50 && hidden < 784, `${hidden} pixels hidden by rubbing out`);
      const expected = rubbedFrame(ref.prepared, rub, RUB_WIDTH);
      await keys(page, '#complete-method', 'ArrowUp');
      await keys(page, '#complete-steps', 'Control+A');
      await page.keyboard.type('50');
      before = await runs(page);
      [req, resp] = await Promise.all([page.waitForRequest(isComplete), page.waitForResponse(isComplete), keys(page, '#complete-go', 'Space')]);
      body = req.postDataJSON();
      assertPrepareAsked(req, 'Complete, rubbed out');
      assert.equal(body.image, ref.image, 'rubbing out changed the picture sent');
      assert.deepEqual((await resp.json()).prepared, ref.prepared, 'the completion was prepared into another frame');
      assert.equal(body.keep, undefined);
      assert.equal(body.mask.length, 784);
      assert.equal(body.mask.filter((v) => v === 0).length, hidden, 'the mask sent is not what the page shows as hidden');
      // the mask lines up with the stroke mapped into the frame the model saw (by the server's
      // box, scale and offset, computed here)
      assertMaskLinesUp(body.mask, expected, 'the rubbed-out mask');
      frames = await chainPlayed(page, before, 'rubbed out');
      assert.equal(frames[frames.length - 1], 10);
      await assertCompletion(page, 'rubbed out', ref);
      // Replay plays the same chain again
      before = await runs(page);
      await keys(page, '#complete-replay', 'Enter');
      frames = await chainPlayed(page, before, 'replay');
      assert.ok(frames[0] === 0 && frames.length >= 3, `replay showed ${frames}`);
      // back to drawing
      await keys(page, '#draw-rub', 'Enter');
      assert.equal(await page.getAttribute('#draw-rub', 'aria-pressed'), 'false');
      await settled(page);
      // ink drawn and Complete pressed at once, before the page has encoded the new ink: the page
      // first asks for the model's view of the drawing as it is now, and maps the mask through it
      await mouseStroke(page, [[0.42, 0.3], [0.58, 0.3]]);
      [req, resp] = await Promise.all([page.waitForRequest(isComplete), page.waitForResponse(isComplete), keys(page, '#complete-go', 'Enter')]);
      body = req.postDataJSON();
      const now = await serverView(page);
      assert.notDeepEqual(now.input, ref.input, 'the stroke did not change what the model sees');
      assert.equal(body.image, now.image, 'Complete right after a stroke sent the drawing as it was before it');
      assert.deepEqual((await resp.json()).prepared, now.prepared, 'the completion was prepared into another frame');
      assertMaskLinesUp(body.mask, rubbedFrame(now.prepared, rub, RUB_WIDTH), 'the mask after a new stroke');
      await settled(page);
    },
  },
  {
    name: 'draw',
    root: '#draw-card',
    async use(page) {
      // a test image, chosen with the arrow keys and encoded with Enter
      const d = (await modelInfo('mnist')).latent_dim;
      await keys(page, '#test-image', 'ArrowDown', 'ArrowDown');
      assert.equal(await page.inputValue('#test-image'), '5');
      let v = await version(page, '#recon');
      let from = await mark(page);
      await keys(page, '#test-image-go', 'Enter');
      await waitVersion(page, '#recon', v, 'reconstruction of the test image');
      await expectPicture(page, '#recon', 28, 28, 'reconstruction of the test image');
      assert.equal(await page.getAttribute('#chart', 'data-bars'), String(d), 'one mu bar per latent dimension');
      await expectAnnouncements(page, from, [/Test image digit 5 encoded/], 'a test image');
      // the chart's values in text: a summary and, opened with Enter, the table
      assert.match(await text(page, '#chart-summary'), /\u03bc from .* \(z\d+\) to .*; log \u03c3\u00b2 from/);
      await keys(page, '#chart-details summary', 'Enter');
      assert.ok(await page.$eval('#chart-details', (d) => d.open), 'Enter does not open the table');
      assert.equal(await page.locator('#chart-table tbody tr').count(), d, 'one table row per latent dimension');
      assert.match(await text(page, '#chart-table tbody tr:first-child'), /^z0\s*[\u2212\d]/);
      // an upload, from the keyboard: Space on the file input opens the file chooser
      const file = paperDigit(path.join(os.tmpdir(), `vae-paper-digit-${process.pid}.png`));
      v = await version(page, '#recon');
      await page.focus('#upload');
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
      await chooser.setFiles(file);
      await waitVersion(page, '#recon', v, 'reconstruction of the upload');
      fs.rmSync(file);
      // shown as it came; the server inverts it (invert=auto)
      const canvas = await picture(page, '#draw');
      assert.ok(canvas.mean > 190, `the dark-on-light upload was changed on the canvas (mean ${canvas.mean.toFixed(0)})`);
      assert.match(await text(page, '#seen-info'), /; dark ink on a light background \(told by its corners\), inverted\.$/);
      await expectPicture(page, '#recon', 28, 28, 'reconstruction of the upload');
      await expectPicture(page, '#seen', 28, 28, 'the upload as the model saw it');
      // Explore this z: the sliders take mu, and the focus goes along to the latent panel
      v = await version(page, '#decoded');
      await keys(page, '#draw-explore', 'Enter');
      await waitVersion(page, '#decoded', v, 'decode of the drawing\'s mu');
      assert.ok((await sliderValues(page)).some((z) => z !== 0), '"Explore this z" did not set the sliders');
      assert.equal(await focusedId(page), 'latent-title', 'the focus did not follow "Explore this z"');
      // Clear
      await keys(page, '#draw-clear', 'Enter');
      assert.ok(await page.isHidden('#recon'), 'Clear left the reconstruction');
      assert.equal(await page.getAttribute('#chart', 'data-bars'), '0');
      assert.equal(await page.locator('#chart-table tbody tr').count(), 0);
      assert.ok(await page.isDisabled('#draw-explore'));
      // encoded again, so that the later states show a drawing
      await keys(page, '#test-image-go', 'Enter');
      await settled(page);
    },
  },
  {
    name: 'latent',
    root: '#latent-card',
    async use(page) {
      // the skip link goes past the sliders to "Zero"
      await keys(page, '#latent-skip', 'Enter');
      assert.equal(await focusedId(page), 'latent-zero', 'the skip link did not move the focus past the sliders');
      // Zero and Random: one announcement each (not one per slider)
      let said = await mark(page);
      await page.keyboard.press('Enter');
      assert.ok((await sliderValues(page)).every((x) => x === 0), 'Zero did not zero z');
      await expectAnnouncements(page, said, [/^z set to zero\.$/], 'Zero');
      await settled(page);
      // every slider one step with an arrow key, in the page's order; the decoded image follows,
      // nothing is announced
      const from = await mark(page);
      const v = await version(page, '#decoded');
      const ids = await page.$$eval('#sliders input', (els) => els.map((e) => e.id));
      for (const [k, id] of ids.entries()) await keys(page, `#${id}`, k % 2 ? 'ArrowLeft' : 'ArrowRight');
      await waitVersion(page, '#decoded', v, 'decode after the slider moves');
      await settled(page);
      const z = await sliderValues(page);
      assert.deepEqual(z, z.map((_, k) => (k % 2 ? -0.05 : 0.05)), 'the arrow keys did not move each slider one step');
      const { order } = await activityOf('mnist');
      assert.deepEqual(await page.$$eval('#sliders .slider', (rows) => rows.slice(0, 2).map((r) =>
        [r.querySelector('label').textContent, r.querySelector('input').getAttribute('aria-valuetext'), r.querySelector('.value').textContent])),
      [[`z${order[0]}`, '0.05', '0.05'], [`z${order[1]}`, '-0.05', '-0.05']]);
      await keys(page, '#z-3', 'End');
      assert.equal(await page.inputValue('#z-3'), '3');
      await settled(page);
      assert.equal((await a11y.announcementsSince(page, from, 0)).length, 0, 'slider moves were announced');
      said = await mark(page);
      const before = await picture(page, '#decoded');
      await settled(page);
      const v2 = await version(page, '#decoded');
      await keys(page, '#latent-random', 'Space');
      await waitVersion(page, '#decoded', v2, 'decode after Random');
      assert.ok((await sliderValues(page)).some((x) => x !== 0), 'Random left z at zero');
      const after = await expectPicture(page, '#decoded', 28, 28, 'decoded after Random');
      assert.notEqual(after.hash, before.hash, 'Random did not change the decoded image');
      await expectAnnouncements(page, said, [/^z drawn at random\.$/], 'Random');
    },
  },
  {
    name: 'manifold',
    root: '#manifold-card',
    async use(page) {
      const { order } = await activityOf('mnist');
      const pair = `${order[0]},${order[1]}`;
      // a plane of two dimensions, around a class's centroid, 16 x 16: each reloads the grid
      let v = await version(page, '#manifold');
      await keys(page, '#manifold-plane', 'ArrowDown');
      assert.equal(await page.inputValue('#manifold-plane'), pair);
      await waitVersion(page, '#manifold', v, 'manifold of a pair of dimensions');
      assert.match(await text(page, '#manifold-caption'), new RegExp(`^12 \u00d7 12: z${order[0]} across, z${order[1]} up, the other coordinates at 0$`));
      await settled(page);
      v = await version(page, '#manifold');
      await keys(page, '#manifold-base', 'ArrowDown', 'ArrowDown');
      assert.equal(await page.inputValue('#manifold-base'), '0');
      await waitVersion(page, '#manifold', v, 'manifold around class 0');
      await settled(page);
      v = await version(page, '#manifold');
      const from = await mark(page);
      await keys(page, '#manifold-n', 'ArrowDown');
      await waitVersion(page, '#manifold', v, 'manifold of 16 x 16');
      await expectPicture(page, '#manifold', 16 * 28, 16 * 28, 'the 16 x 16 manifold');
      await expectAnnouncements(page, from, [new RegExp(`^Manifold: 16 \u00d7 16: z${order[0]} across, z${order[1]} up, around the centroid of class 0\.$`)], 'manifold');
      // the server's own z of every cell, to check the page's
      const grid = await apiGet(`manifold?model=mnist&n=16&dims=${pair}&base=0&format=json`);
      const serverZ = (r, c) => grid.z[r * 16 + c];
      // the cells from the keyboard: one Tab stop (the middle cell), arrows preview, Enter keeps
      const z0 = await pageZ(page);
      await page.focus('#manifold-grid [tabindex="0"]');
      assert.equal(await focusedId(page), 'cell-8-8');
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowUp');
      assert.equal(await focusedId(page), 'cell-7-9');
      assertClose(await pageZ(page), serverZ(7, 9), 0.006, 'the previewed cell\'s z');
      assert.equal(await page.getAttribute('#manifold-cell', 'data-cell'), '7,9');
      await expectPicture(page, '#manifold-cell', 28, 28, 'the cell, large');
      let said = await mark(page);
      const vd = await version(page, '#decoded');
      await page.keyboard.press('Enter');
      await waitVersion(page, '#decoded', vd, 'decode of the chosen cell');
      assert.equal(await page.getAttribute('#cell-7-9', 'aria-selected'), 'true');
      await expectAnnouncements(page, said, [new RegExp(`^z set to the manifold cell: z${order[0]} [\u2212\\d.-]+, z${order[1]} [\u2212\\d.-]+\\.$`)], 'a cell kept');
      const chosen = await pageZ(page);
      assertClose(chosen, serverZ(7, 9), 0.006, 'the chosen cell\'s z');
      // another cell previewed, then Escape: back to the chosen one; Home and End, PageUp and PageDown
      await page.keyboard.press('Home');
      assert.equal(await focusedId(page), 'cell-7-0');
      assertClose(await pageZ(page), serverZ(7, 0), 0.006, 'Home');
      await page.keyboard.press('PageDown');
      await page.keyboard.press('End');
      assert.equal(await focusedId(page), 'cell-15-15');
      await page.keyboard.press('Escape');
      assertClose(await pageZ(page), chosen, 0, 'Escape');
      // the pointer: hovering previews, leaving restores, a click keeps
      const n = 16;
      await page.mouse.move(...(await cellCentre(page, 2, 3, n)));
      await page.waitForFunction(() => document.querySelector('#manifold-cell').dataset.cell === '2,3');
      assertClose(await pageZ(page), serverZ(2, 3), 0.006, 'hover');
      await page.mouse.move(5, 5);
      assertClose(await pageZ(page), chosen, 0, 'leaving the grid');
      said = await mark(page);
      await page.mouse.click(...(await cellCentre(page, 12, 4, n)));
      await page.mouse.move(5, 5);
      assertClose(await pageZ(page), serverZ(12, 4), 0.006, 'a click');
      await expectAnnouncements(page, said, [/^z set to the manifold cell: /], 'a click');
      assert.notDeepEqual(z0, await pageZ(page));
      // the dot is z: on the plane, at the chosen cell's centre
      const [dx, dy] = (await page.getAttribute('#manifold-marks', 'data-dot')).split(',').map(Number);
      const side = await page.$eval('#manifold-marks', (c) => c.clientWidth);
      assert.ok(Math.abs(dx - (4.5 / n) * side) < 1 && Math.abs(dy - (12.5 / n) * side) < 1, `the dot is at ${dx},${dy}`);
      assert.equal(await text(page, '#manifold-where'), 'The dot is z, on this plane.');
      await settled(page);
      // back to the principal plane, 12 x 12, the default centre
      await page.selectOption('#manifold-plane', 'principal');
      await page.selectOption('#manifold-base', 'default');
      await page.selectOption('#manifold-n', '12');
      await settled(page);
      await expectPicture(page, '#manifold', 12 * 28, 12 * 28, 'the principal plane');
      // the new grid's cells from the keyboard too (a preview, ended with Escape)
      await keys(page, '#manifold-grid [tabindex="0"]', 'ArrowLeft', 'Escape');
      await page.evaluate(() => document.activeElement.blur());
      await settled(page);
    },
  },
  {
    name: 'traverse',
    root: '#traverse-card',
    async use(page) {
      const { d, order, inactive } = await activityOf('mnist');
      const traversal = (r) => new URL(r.url()).pathname.endsWith('/api/traverse');
      // 4 rows, 15 steps, +-2: the picture and its labels, the most active dimensions first
      let v = await version(page, '#traverse');
      await keys(page, '#traverse-rows', 'ArrowUp');
      assert.equal(await page.inputValue('#traverse-rows'), '4');
      await waitVersion(page, '#traverse', v, 'traversal of 4 rows');
      await settled(page);
      v = await version(page, '#traverse');
      await keys(page, '#traverse-steps', 'ArrowDown');
      await waitVersion(page, '#traverse', v, 'traversal of 15 steps');
      await settled(page);
      const from = await mark(page);
      let [req] = await Promise.all([page.waitForRequest(traversal), keys(page, '#traverse-range', 'ArrowUp')]);
      await settled(page);
      let q = new URL(req.url()).searchParams;
      assert.deepEqual([q.get('dims'), q.get('steps'), q.get('range')], [order.slice(0, 4).join(','), '15', '2']);
      await expectPicture(page, '#traverse', 15 * 28, 4 * 28, 'the traversal');
      assert.deepEqual(await page.$$eval('#traverse-labels li', (ls) => ls.map((l) => l.textContent)), order.slice(0, 4).map((i) => `z${i}`));
      await expectAnnouncements(page, from, [new RegExp(`^Traversal: 4 dimensions \\(${order.slice(0, 4).map((i) => `z${i}`).join(', ')}\\), each from \u22122 to \\+2 in 15 steps\\.$`)], 'traversal');
      // it follows z: a slider moved, and a moment later the traversal starts from there
      v = await version(page, '#traverse');
      [req] = await Promise.all([page.waitForRequest(traversal), keys(page, `#z-${order[0]}`, 'End')]);
      await waitVersion(page, '#traverse', v, 'traversal after a slider move');
      q = new URL(req.url()).searchParams;
      assert.equal(Number(q.get('z').split(',')[order[0]]), 3, 'the traversal does not start from the current z');
      await settled(page);
      // a click on a cell sets that coordinate: row 2, the first column (-2)
      await page.locator('#traverse').scrollIntoViewIfNeeded();
      const box = await page.locator('#traverse').boundingBox();
      const said = await mark(page);
      await page.mouse.click(box.x + box.width / 30, box.y + box.height * (2.5 / 4));
      assert.equal((await pageZ(page))[order[2]], -2);
      await expectAnnouncements(page, said, [new RegExp(`^z${order[2]} set to \u22122\\.00\\.$`)], 'a click on the traversal');
      await settled(page);
      // every row ("all d", the last choice): the inactive ones are marked
      assert.equal(await page.$eval('#traverse-rows', (s) => s.options[s.options.length - 1].textContent), `all ${d}`);
      await page.selectOption('#traverse-rows', String(d));
      await settled(page);
      await expectPicture(page, '#traverse', 15 * 28, d * 28, 'the traversal of every dimension');
      const marked = await page.$$eval('#traverse-labels li.inactive', (ls) => ls.map((l) => Number(l.textContent.slice(1))));
      assert.deepEqual(marked.sort((a, b) => a - b), inactive.slice().sort((a, b) => a - b));
      await page.selectOption('#traverse-rows', '8');
      await page.selectOption('#traverse-steps', '11');
      await page.selectOption('#traverse-range', '3');
      await settled(page);
    },
  },
  {
    name: 'sample',
    root: '#sample-card',
    async use(page) {
      // a class picked with the arrow keys: class-conditional samples, then the prior again
      let vc = await version(page, '#samples');
      let [req] = await Promise.all([page.waitForRequest((r) => r.url().includes('/api/sample')), keys(page, '#sample-class', 'ArrowDown')]);
      assert.equal(new URL(req.url()).searchParams.get('label'), '0');
      await waitVersion(page, '#samples', vc, 'samples of class 0');
      await expectPicture(page, '#samples', 112, 112, 'samples of class 0');
      assert.match(await text(page, '#samples-caption'), /^4 \u00d7 4 grid of class 0 \u00b7 seed /);
      assert.match(await text(page, '#sample-hint'), /class 0/);
      await settled(page);
      vc = await version(page, '#samples');
      [req] = await Promise.all([page.waitForRequest((r) => r.url().includes('/api/sample')), keys(page, '#sample-class', 'ArrowUp')]);
      assert.equal(new URL(req.url()).searchParams.get('label'), null);
      await waitVersion(page, '#samples', vc, 'samples of the prior');
      await settled(page);
      // a seed typed in, sent with Enter
      let v = await version(page, '#samples');
      await keys(page, '#seed', 'Control+A');
      await page.keyboard.type('1234');
      const from = await mark(page);
      await page.keyboard.press('Enter');
      await waitVersion(page, '#samples', v, 'sample with seed 1234');
      await expectPicture(page, '#samples', 112, 112, '4x4 samples');
      assert.match(await text(page, '#samples-caption'), /seed 1234 \u00b7 temperature 1\.0/);
      await expectAnnouncements(page, from, [/^16 samples: seed 1234, temperature 1\.0\.$/], 'sample');
      // the temperature: an arrow key changes it and samples again
      v = await version(page, '#samples');
      await keys(page, '#temperature', 'ArrowRight');
      await waitVersion(page, '#samples', v, 'sample at temperature 1.1');
      assert.equal(await text(page, '#temperature-out'), '1.1');
      assert.equal(await page.getAttribute('#temperature', 'aria-valuetext'), '1.1');
      assert.match(await text(page, '#samples-caption'), /temperature 1\.1/);
      await settled(page);
      // New seed, then Sample 16 with Space
      v = await version(page, '#samples');
      await keys(page, '#sample-new', 'Enter');
      await waitVersion(page, '#samples', v, 'sample with a new seed');
      const seed = await page.inputValue('#seed');
      assert.notEqual(seed, '1234');
      assert.match(await text(page, '#samples-caption'), new RegExp(`seed ${seed} `));
      await settled(page);
      v = await version(page, '#samples');
      await keys(page, '#sample-go', 'Space');
      await waitVersion(page, '#samples', v, 'Sample 16 with Space');
      await settled(page);
    },
  },
  {
    name: 'morph',
    root: '#morph-card',
    async use(page) {
      await keys(page, '#morph-from', 'ArrowDown');
      await keys(page, '#morph-to', 'ArrowUp');
      await keys(page, '#morph-steps', 'Control+A');
      await page.keyboard.type('12');
      await keys(page, '#morph-method', 'ArrowDown');
      assert.deepEqual(await Promise.all(['#morph-from', '#morph-to', '#morph-method'].map((s) => page.inputValue(s))), ['4', '7', 'slerp']);
      const v = await version(page, '#morph-strip');
      const from = await mark(page);
      await keys(page, '#morph-go', 'Enter');
      await waitVersion(page, '#morph-strip', v, 'morph');
      await expectPicture(page, '#morph-strip', 12 * 28, 28, 'morph strip');
      assert.match(await text(page, '#morph-caption'), /^4 \u2192 7 in 12 steps \(slerp\)$/);
      await expectAnnouncements(page, from, [/^Morph 4 \u2192 7 in 12 steps \(slerp\)\.$/], 'morph');
      // pause and play from the keyboard
      await keys(page, '#morph-play', 'Enter');
      assert.equal(await text(page, '#morph-play'), 'Play animation');
      await assertFrameStill(page, 'after Pause');
      await page.keyboard.press('Enter');
      assert.equal(await text(page, '#morph-play'), 'Pause animation');
      await assertFrameMoves(page, 'after Play');
      // back to 3 -> 8 linear in 10 steps for the states that follow
      await page.selectOption('#morph-from', '3');
      await page.selectOption('#morph-to', '8');
      await page.selectOption('#morph-method', 'linear');
      await page.fill('#morph-steps', '10');
      await keys(page, '#morph-go', 'Enter');
      await settled(page);
    },
  },
];

// The completion on show keeps the known pixels exactly as the server prepared them (ref: its
// with_input JSON for the canvas), as the page gave them (its completionInput()), and has ink in
// the hidden ones.
async function assertCompletion(page, what, ref) {
  const input = await completionInput(page);
  const shown = await canvasGrey(page, '#complete-anim');
  let worst = 0, ink = 0;
  input.known.forEach((k, i) => {
    if (k) worst = Math.max(worst, Math.abs(shown[i] - Math.round(ref.input[i] * 255)), Math.abs(shown[i] - Math.round(input.pixels[i] * 255)));
    else if (shown[i] > 64) ink++;
  });
  assert.equal(worst, 0, `${what}: the completion changed a known pixel by ${worst}`);
  assert.ok(ink >= 5, `${what}: the completion left the hidden pixels empty (${ink} lit)`);
}

// The rub-out pen's width in canvas pixels (lib/drawing.js's RUB).
const RUB_WIDTH = 34;

// The 28x28 mask (1 known, 0 hidden) of a rub-out stroke through the points (0..1 of the 280-pixel
// canvas), mapped into the model's frame by the server's `prepared`: a frame pixel is hidden when
// its centre, taken back to the canvas, lies under the stroke.
function rubbedFrame(prepared, points, width) {
  const [x0, y0] = prepared.box, [ox, oy] = prepared.offset, s = prepared.scale;
  const pts = points.map(([x, y]) => [x * 280, y * 280]);
  const segDist = (px, py, [ax, ay], [bx, by]) => {
    const dx = bx - ax, dy = by - ay;
    const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(px - ax - t * dx, py - ay - t * dy);
  };
  return Array.from({ length: 784 }, (_, i) => {
    const X = x0 + ((i % 28) + 0.5 - ox) / s, Y = y0 + (Math.floor(i / 28) + 0.5 - oy) / s;
    const d = Math.min(...pts.slice(1).map((p, k) => segDist(X, Y, pts[k], p)));
    return d <= width / 2 ? 0 : 1;
  });
}

// Two masks agree: their hidden parts overlap (intersection over union at least 0.8) and their
// centres are within half a frame pixel.
function assertMaskLinesUp(mask, expected, what) {
  const hidden = (m) => m.map((v, i) => (v ? -1 : i)).filter((i) => i >= 0);
  const a = new Set(hidden(mask)), b = new Set(hidden(expected));
  const both = [...a].filter((i) => b.has(i)).length;
  const iou = both / (a.size + b.size - both);
  const centre = (set) => [...set].reduce(([x, y], i) => [x + (i % 28) / set.size, y + Math.floor(i / 28) / set.size], [0, 0]);
  const [ca, cb] = [centre(a), centre(b)];
  const off = Math.hypot(ca[0] - cb[0], ca[1] - cb[1]);
  console.log(`    ${what}: ${a.size} hidden, ${b.size} expected, overlap ${iou.toFixed(3)}, centres ${off.toFixed(2)} px apart`);
  assert.ok(iou >= 0.8 && off <= 0.5, `${what}: ${a.size} pixels hidden, ${b.size} expected: overlap ${iou.toFixed(2)}, centres ${off.toFixed(2)} px apart`);
}

// Hovers (or clicks) the manifold's cell (r, c) of n x n at its centre.
async function cellCentre(page, r, c, n) {
  await page.locator('#manifold-grid').scrollIntoViewIfNeeded();
  const box = await page.locator('#manifold-grid').boundingBox();
  return [box.x + ((c + 0.5) / n) * box.width, box.y + ((r + 0.5) / n) * box.height];
}

async function assertFrameStill(page, what) {
  const f0 = await page.getAttribute('#morph-anim', 'data-frame');
  await page.waitForTimeout(400);
  assert.equal(await page.getAttribute('#morph-anim', 'data-frame'), f0, `the morph animation moves ${what}`);
}

async function assertFrameMoves(page, what) {
  const f0 = await page.getAttribute('#morph-anim', 'data-frame');
  await page.waitForFunction((f) => document.querySelector('#morph-anim').dataset.frame !== f, f0, { timeout: 3000 })
    .catch(() => assert.fail(`the morph animation does not advance ${what}`));
}

/* ---------- the test ---------- */

test('web frontend through nginx', async (t) => {
  const started = Date.now();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: VIEWPORTS[0],
    hasTouch: true,
    acceptDownloads: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions', '--metrics-recording-only', '--disable-dev-shm-usage',
      '--no-default-browser-check', '--disable-features=Translate,OptimizationHints,MediaRouter'],
  });
  await context.addInitScript(a11y.recorderScript);
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const line = msg.text();
    if (!allowed.some((re) => re.test(line))) consoleErrors.push(line);
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  recordDrawingCalls(page);
  // file choosers are intercepted from the start: playwright turns the interception on when the
  // first listener is added, and a listener added with the key press that opens one can be late
  page.on('filechooser', () => {});
  const cdp = await context.newCDPSession(page);
  t.after(async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
    await replica.stop();
    console.log(`browser test: ${states.length} states x ${VIEWPORTS.length} viewports checked with axe-core ${a11y.AXE_VERSION} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  await t.test('the page started with no replica answering: controls disabled, the banner said once', async () => {
    allowed = [/status of 503/];
    await killStackReplica();
    let modelCalls = 0;
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/models')) modelCalls++; });
    await page.goto(BASE + '/', { waitUntil: 'load' });
    await page.waitForSelector('#banner:not([hidden])', { timeout: 10000 });
    assert.match(await text(page, '#banner-text'), /^Cannot load the models: no replica of the model service is answering; try again in a moment\. The page tries again every 5 s\.$/);
    assert.match(await text(page, '#status'), /^Not connected/);
    const enabled = await page.$$eval('[data-needs-model]', (els) => els.filter((e) => !e.disabled).map((e) => e.id));
    assert.deepEqual(enabled, [], 'controls that need a model are enabled without one');
    assert.ok(await page.isDisabled('#draw-explore'));
    assert.ok(await page.isDisabled('#morph-play'));
    assert.equal(await page.locator('#models input').count(), 0);
    assert.equal(await page.locator('#sliders input').count(), 0);
    // drawing still works without a model; nothing is sent, nothing fails
    await mouseStroke(page, [[0.3, 0.3], [0.7, 0.7]]);
    // one retry later, the banner has been announced once
    const deadline = Date.now() + 8000;
    while (modelCalls < 2 && Date.now() < deadline) await page.waitForTimeout(100);
    assert.ok(modelCalls >= 2, 'the page did not try again');
    await settled(page);
    const said = (await a11y.liveLog(page)).filter((a) => /Cannot load the models/.test(a.text));
    assert.equal(said.length, 1, `the banner was announced ${said.length} times`);
    await a11y.assertTabOrder(page, 'no model');
    await checkState(page, 'service-down-at-start');
    await page.mouse.click(1, 1);
  });

  await t.test('the service starts: the page recovers by itself, and the latent card decodes again', async () => {
    const from = await mark(page);
    await replica.start();
    await page.waitForSelector('#banner', { state: 'hidden', timeout: 10000 });
    await page.waitForFunction(() => document.querySelectorAll('#models input').length === 4, null, { timeout: 5000 });
    assert.equal(await page.$eval('#models input:checked', (el) => el.value), 'mnist');
    await waitVersion(page, '#decoded', 0, 'first decode after recovery');
    await waitVersion(page, '#samples', 0, 'first sample after recovery');
    await waitVersion(page, '#morph-strip', 0, 'first morph after recovery');
    await waitVersion(page, '#recon', 0, 'the drawing made without a model, encoded after recovery');
    await settled(page);
    assert.match(await text(page, '#status'), /^Connected: 4 models$/);
    const disabled = await page.$$eval('[data-needs-model]', (els) => els.filter((e) => e.disabled).map((e) => e.id));
    assert.deepEqual(disabled, [], 'controls stay disabled after recovery');
    await noVisibleErrors(page);
    const v = await version(page, '#decoded');
    await keys(page, '#z-0', 'ArrowRight');
    await waitVersion(page, '#decoded', v, 'decode after a slider move, after recovery');
    await expectAnnouncements(page, from, [/^The model service is back\.$/], 'recovery');
    await checkState(page, 'service-back-at-start');
    allowed = [];
  });

  await t.test('a fresh load: the models, every picture, one live region', async () => {
    await page.goto(BASE + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelectorAll('#models input').length > 0);
    const names = await page.$$eval('#models input', (els) => els.map((e) => e.value));
    assert.deepEqual(names, ['mnist', 'fashion', 'mnist2d', 'bare']);
    assert.equal(await page.$eval('#models input:checked', (el) => el.value), 'mnist');
    await waitVersion(page, '#decoded', 0, 'first decode');
    await waitVersion(page, '#samples', 0, 'first sample');
    await waitVersion(page, '#morph-strip', 0, 'first morph');
    await waitVersion(page, '#manifold', 0, 'first manifold');
    await waitVersion(page, '#traverse', 0, 'first traversal');
    await expectPicture(page, '#decoded', 28, 28, 'decoded z = 0');
    await expectPicture(page, '#manifold', 12 * 28, 12 * 28, 'the manifold');
    await expectPicture(page, '#manifold-cell', 28, 28, 'the manifold\'s middle cell, large');
    await expectPicture(page, '#traverse', 11 * 28, 8 * 28, 'the traversal');
    // the sliders: the active dimensions first, by the variance of mu over the test set, named by
    // their visible label; the inactive ones after them, marked for the eye and for screen readers
    const { model, d, order, inactive } = await activityOf('mnist');
    assert.equal(inactive.length, d - model.diagnostics.active_units);
    assert.deepEqual(await page.$$eval('#sliders label', (ls) => ls.map((l) => [l.textContent, l.htmlFor])),
      order.map((i) => [`z${i}`, `z-${i}`]));
    const marked = await page.$$eval('#sliders .slider.inactive input', (els) => els.map((e) => [e.id, e.getAttribute('aria-describedby')]));
    assert.deepEqual(marked, inactive.map((i) => [`z-${i}`, 'inactive-note']));
    assert.match(await text(page, '#inactive-note'), /^inactive: the encoder hardly uses this dimension/);
    const tree = await page.locator('#sliders').ariaSnapshot();
    assert.ok(tree.includes(`group "Active: ${d - inactive.length} of ${d}, most used first"`), tree);
    if (inactive.length) assert.ok(tree.includes(`group "Inactive: ${inactive.length}"`), tree);
    else assert.doesNotMatch(tree, /group "Inactive/);
    // the traversal's rows are the most active dimensions
    assert.deepEqual(await page.$$eval('#traverse-labels li', (ls) => ls.map((l) => l.textContent)), order.slice(0, 8).map((i) => `z${i}`));
    assert.match(await text(page, '#status'), /^Connected: 4 models$/);
    await noVisibleErrors(page);
    await checkState(page, 'loaded');
  });

  await t.test('Tab reaches every control in document order, each with a focus ring of 3:1 that nothing clips', async () => {
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      const stops = await a11y.assertTabOrder(page, `${vp.width}x${vp.height}`);
      assert.equal(stops.filter((s) => s.startsWith('radio[model=')).length, 1, 'the model switch is more than one Tab stop');
      const first = await page.$eval('#sliders input', (el) => `#${el.id}`);
      assert.ok(stops.indexOf('#latent-skip') === stops.indexOf(first) - 1, 'the skip link is not just before the sliders');
      // the manifold's cells are one Tab stop
      assert.equal(stops.filter((s) => s.startsWith('#cell-')).length, 1, 'the manifold is more than one Tab stop');
    }
    await page.setViewportSize(VIEWPORTS[0]);
  });

  await t.test('draw a digit with the mouse: scored live, mu, logvar and the reconstruction', async () => {
    const v = await version(page, '#recon');
    const vh = await version(page, '#heat');
    const from = await mark(page);
    // a "7", drawn slowly: the top bar, then the diagonal; the score follows while the pen moves
    await page.locator('#draw').scrollIntoViewIfNeeded();
    const box = await page.locator('#draw').boundingBox();
    const at = (x, y) => [box.x + x * box.width, box.y + y * box.height];
    await page.mouse.move(...at(0.25, 0.22));
    await page.mouse.down();
    await page.mouse.move(...at(0.75, 0.22), { steps: 8 });
    await page.waitForTimeout(250);
    await page.mouse.move(...at(0.6, 0.5), { steps: 6 });
    await waitVersion(page, '#heat', vh, 'the score while drawing');
    const live = await version(page, '#heat');
    await page.mouse.move(...at(0.45, 0.85), { steps: 6 });
    await page.mouse.up();
    await waitVersion(page, '#heat', live, 'the score after the stroke');
    await waitVersion(page, '#recon', v, 'reconstruction');
    await expectPicture(page, '#recon', 28, 28, 'reconstruction');
    // what the model saw: the server's prepared input and its reconstruction, exactly as the
    // server gives them for this canvas, and what was done in words
    await expectPicture(page, '#seen', 28, 28, 'what the model saw');
    const ref = await serverView(page);
    assert.deepEqual(await canvasGrey(page, '#seen'), ref.input.map((g) => Math.round(g * 255)), 'the input shown is not the server\'s prepared input');
    assert.deepEqual(await canvasGrey(page, '#recon'), ref.pixels.map((g) => Math.round(g * 255)), 'the reconstruction shown is not the server\'s');
    assert.deepEqual([ref.prepared.normalize, ref.prepared.invert, ref.prepared.polarity], ['mnist', false, 'border']);
    assert.equal(await text(page, '#seen-info'), `The server fitted the ink (a ${ref.prepared.box[2]} \u00d7 ${ref.prepared.box[3]} box on the canvas) ` +
      'into 20 \u00d7 20 and centred it by its centre of mass in the 28 \u00d7 28 frame, as MNIST\u2019s digits were; light ink on a dark ' +
      'background (told by its corners), kept as it is.');
    assert.equal(await page.getAttribute('#seen', 'aria-describedby'), 'seen-info');
    // the score: the heat map (input | reconstruction | per-pixel BCE), the words and the meter
    await expectPicture(page, '#heat', 84, 28, 'the heat map');
    assert.equal(await page.getAttribute('#score', 'data-calibrated'), 'true');
    assert.match(await text(page, '#score-verdict'), /^(Typical: [\d.]+% of the model\u2019s test digits are more unusual|(Very u|U)nusual: more unusual than [\d.]+% of the model\u2019s test digits)\. Out-of-distribution score [\d.]+; by its likelihood alone, [\d.]+% of them are more likely\.$/);
    assert.match(await text(page, '#score-figures'), /^\u2212log p\(x\) \u2248 [\d.]+ nats \([\d.]+ bits per pixel, k = 64\)/);
    const meter = await page.$eval('#ood-meter', (el) => el.value);
    assert.ok(meter >= 0 && meter <= 100, `meter at ${meter}`);
    assert.equal(await text(page, '#score-title'), 'How digit-like is this drawing?');
    await expectAnnouncements(page, from, [/^Drawing encoded and scored: (typical|unusual|very unusual)\.$/], 'the drawing');
    assert.equal(await page.getAttribute('#chart', 'data-bars'), String((await modelInfo('mnist')).latent_dim), 'one mu bar per latent dimension');
    const chart = await picture(page, '#chart');
    assert.ok(chart.variance > 50, 'the mu/logvar chart is blank');
    assert.ok(await page.isEnabled('#draw-explore'), '"Explore this z" stays disabled');
    await noVisibleErrors(page);
    await checkState(page, 'drawn');
  });

  await t.test('while drawing, stale calls are cancelled and the newest drawing\'s score is shown', async () => {
    // /score answers slowly here, so that each live update finds the one before it still waiting
    const aborted = [];
    const onFailed = (r) => { if (r.url().includes('/api/') && /ABORTED/.test(r.failure().errorText)) aborted.push(r.url()); };
    page.on('requestfailed', onFailed);
    const slow = async (route) => {
      await new Promise((r) => setTimeout(r, 450));
      await route.continue().catch(() => {});
    };
    await page.route('**/api/score*', slow);
    await keys(page, '#draw-clear', 'Enter');
    await page.locator('#draw').scrollIntoViewIfNeeded();
    const box = await page.locator('#draw').boundingBox();
    const at = (x, y) => [box.x + x * box.width, box.y + y * box.height];
    // a "1" and a hook, slowly: about 1.5 s of pen movement
    await page.mouse.move(...at(0.5, 0.15));
    await page.mouse.down();
    for (let k = 1; k <= 12; k++) {
      await page.mouse.move(...at(0.5 - 0.01 * k, 0.15 + 0.06 * k), { steps: 3 });
      await page.waitForTimeout(110);
    }
    await page.mouse.up();
    await settled(page);
    await page.unroute('**/api/score*', slow);
    page.off('requestfailed', onFailed);
    assert.ok(aborted.length >= 2, `${aborted.length} stale calls cancelled`);
    // what is shown is the score of the drawing as it is now (the pixels of a fresh call's PNG)
    const same = await page.evaluate(async () => {
      const image = (await import('./lib/drawing.js')).drawingPNG();
      const model = document.body.dataset.model;
      const fresh = await fetch(`api/score?model=${model}&normalize=auto&invert=auto&k=64&seed=1&format=png`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ image }),
      });
      const pixels = (source) => {
        const c = document.createElement('canvas');
        c.width = 84;
        c.height = 28;
        const ctx = c.getContext('2d');
        ctx.drawImage(source, 0, 0);
        return ctx.getImageData(0, 0, 84, 28).data;
      };
      const a = pixels(await createImageBitmap(await fresh.blob()));
      const b = pixels(document.querySelector('#heat'));
      return a.every((v, i) => v === b[i]);
    });
    assert.ok(same, 'the heat map on show is not the current drawing\'s');
    await noVisibleErrors(page);
  });

  await t.test('a drawing small in a corner is prepared as the same drawing large and centred', async () => {
    const since = await page.evaluate(() => performance.now());
    const seven = [[0.25, 0.22], [0.75, 0.22], [0.45, 0.85]];
    const zero = [[0.5, 0.15], [0.72, 0.35], [0.7, 0.7], [0.5, 0.88], [0.3, 0.7], [0.28, 0.35], [0.5, 0.15]];
    const drawn = async (points, what) => {
      await keys(page, '#draw-clear', 'Enter');
      const from = drawingCalls.length;
      const v = await version(page, '#seen');
      await mouseStroke(page, points);
      await waitVersion(page, '#seen', v, what);
      const mu = await pageMu(page, what);
      return { mu, calls: drawingCalls.slice(from), view: await serverView(page) };
    };
    const big = await drawn(seven, 'the 7, large and centred');
    // the same strokes at half the size, in the top left corner (the pen keeps its width, so the
    // strokes are relatively twice as thick: the one difference preparation cannot undo)
    const small = await drawn(seven.map(([x, y]) => [0.03 + 0.5 * (x - 0.25), 0.03 + 0.5 * (y - 0.22)]), 'the 7, small in a corner');
    // what the page's own normalisation used to stand in for: the server without it
    const plain = (await postDrawing(page, 'encode', {})).mu;
    const plainInput = (await postDrawing(page, 'reconstruct', { with_input: '1', format: 'json' })).input[0];
    const other = await drawn(zero, 'a 0');
    // every call for the small 7 sent the whole canvas, to be prepared by the server
    assert.deepEqual([...new Set(small.calls.map((c) => c.path))].sort(), ['encode', 'reconstruct', 'score']);
    for (const c of small.calls) {
      assert.deepEqual([c.params.normalize, c.params.invert], ['auto', 'auto'], `${c.path}: ${JSON.stringify(c.params)}`);
      assert.deepEqual(pngSize(c.body.image), [280, 280], `${c.path}: the image sent is not the whole canvas`);
    }
    // the server found the small 7 in the corner, and put its centre of mass in the middle of the frame
    const [bx, by, bw, bh] = small.view.prepared.box;
    assert.ok(bx < 40 && by < 40 && bw < 160 && bh < 160, `the small 7's box is ${small.view.prepared.box}`);
    const mass = small.view.input.reduce((a, g) => a + g, 0);
    const cx = small.view.input.reduce((a, g, i) => a + g * (i % 28), 0) / mass;
    const cy = small.view.input.reduce((a, g, i) => a + g * Math.floor(i / 28), 0) / mass;
    assert.ok(Math.abs(cx - 14) < 1 && Math.abs(cy - 14) < 1, `the small 7's centre of mass is at (${cx.toFixed(2)}, ${cy.toFixed(2)})`);
    // both fitted into 20 x 20 (the longer side of the ink's box, through the server's scale)
    for (const [v, what] of [[big.view, 'large'], [small.view, 'small']]) {
      const side = Math.max(v.prepared.box[2], v.prepared.box[3]) * v.prepared.scale;
      assert.ok(Math.abs(side - 20) <= 1, `the ${what} 7's box is ${side.toFixed(2)} frame pixels long`);
    }
    // the same picture for the model, whatever the model: the small 7's prepared input is more like
    // the large one's (cosine) than a 0's is, and than the small 7 as the whole canvas averaged
    const cos = (a, b) => a.reduce((acc, v, i) => acc + v * b[i], 0) / Math.sqrt(a.reduce((acc, v) => acc + v * v, 0) * b.reduce((acc, v) => acc + v * v, 0));
    const same = cos(small.view.input, big.view.input), apart = cos(other.view.input, big.view.input);
    const unprepared = cos(plainInput, big.view.input);
    console.log(`    prepared input like the large 7's (cosine): the small 7 ${same.toFixed(2)}, a 0 ${apart.toFixed(2)}, ` +
      `the small 7 unprepared ${unprepared.toFixed(2)}; mu from the large 7's: the small 7 ${dist(small.mu, big.mu).toFixed(2)}, ` +
      `a 0 ${dist(other.mu, big.mu).toFixed(2)}, the small 7 unprepared ${dist(plain, big.mu).toFixed(2)}`);
    assert.ok(same > apart, `the small 7's prepared input is ${same.toFixed(2)} like the large one's, a 0's ${apart.toFixed(2)}`);
    assert.ok(same > unprepared, `prepared, the small 7 is ${same.toFixed(2)} like the large one; unprepared ${unprepared.toFixed(2)}`);
    // how long the page's calls for these three drawings took, as the browser saw them (Resource Timing)
    const times = await page.evaluate((t0) => performance.getEntriesByType('resource')
      .filter((e) => e.startTime >= t0 && /\/api\/(encode|reconstruct|score)\?/.test(e.name)).map((e) => [new URL(e.name).pathname.split('/').pop() +
        (e.name.includes('format=png') ? ' png' : ''), e.duration]), since);
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const perCall = {};
    for (const [k, ms] of times) (perCall[k] = perCall[k] || []).push(ms);
    console.log(`    call times (median ms, these drawings): ${Object.entries(perCall).map(([k, xs]) => `${k} ${median(xs).toFixed(1)} (${xs.length})`).join(', ')}`);
    await noVisibleErrors(page);
  });

  await t.test('nothing the model counts as ink: "nothing drawn yet", calmly, not an error', async () => {
    allowed = [/status of 422/];
    await keys(page, '#draw-clear', 'Enter');
    let from = await mark(page);
    // a line along the very top edge: a frame or a scanner's border, for the server, not ink
    const [resp] = await Promise.all([page.waitForResponse((r) => r.url().includes('/api/encode')),
      mouseStroke(page, [[0.1, 0.01], [0.9, 0.01]])]);
    assert.equal(resp.status(), 422);
    assert.equal((await resp.json()).error.type, 'no_ink');
    await settled(page);
    await expectAnnouncements(page, from, [/^Drawing: no ink found, nothing to encode\.$/], 'a line along the edge');
    const calm = async (what) => {
      assert.match(await text(page, '#seen-info'), /^Nothing drawn yet, as far as the model can tell: it finds no ink on the canvas/, what);
      for (const sel of ['#seen', '#recon', '#heat']) assert.ok(await page.isHidden(sel), `${what}: ${sel} is shown`);
      assert.equal(await page.getAttribute('#chart', 'data-bars'), '0', what);
      assert.ok(await page.isDisabled('#draw-explore'), what);
      assert.equal(await text(page, '#complete-known-caption'), 'Nothing drawn yet', what);
      assert.ok(await page.isDisabled('#complete-go'), `${what}: Complete is enabled`);
      await noVisibleErrors(page);
    };
    await calm('a line along the edge');
    await checkState(page, 'no-ink');
    // a blank picture, uploaded: the same
    const file = path.join(os.tmpdir(), `vae-blank-${process.pid}.png`);
    fs.writeFileSync(file, pngGrey(56, 56, Buffer.alloc(56 * 56, 250)));
    from = await mark(page);
    await page.setInputFiles('#upload', file);
    await settled(page);
    fs.rmSync(file);
    await expectAnnouncements(page, from, [/^Uploaded image vae-blank-\d+\.png: no ink found, nothing to encode\.$/], 'a blank upload');
    await calm('a blank upload');
    // and drawing again is a drawing again
    await keys(page, '#draw-clear', 'Enter');
    const v = await version(page, '#seen');
    await mouseStroke(page, [[0.5, 0.2], [0.5, 0.8]]);
    await waitVersion(page, '#seen', v, 'a stroke after no ink');
    await settled(page);
    assert.match(await text(page, '#seen-info'), /^The server fitted the ink /);
    allowed = [];
  });

  await t.test('a picture dark on light: the server inverts it, and the pen draws dark on it', async () => {
    const file = paperDigit(path.join(os.tmpdir(), `vae-paper-${process.pid}.png`));
    let v = await version(page, '#seen');
    await page.setInputFiles('#upload', file);
    await waitVersion(page, '#seen', v, 'the paper digit');
    await settled(page);
    // the canvas shows the picture as it came; the server tells it is dark on light
    const canvas = await picture(page, '#draw');
    assert.ok(canvas.mean > 190, `the picture was changed on the canvas (mean ${canvas.mean.toFixed(0)})`);
    const paper = await serverView(page);
    assert.deepEqual([paper.prepared.invert, paper.prepared.polarity], [true, 'border']);
    assert.match(await text(page, '#seen-info'), /; dark ink on a light background \(told by its corners\), inverted\.$/);
    assert.deepEqual(await canvasGrey(page, '#seen'), paper.input.map((g) => Math.round(g * 255)));
    const muPaper = await pageMu(page, 'the paper digit');
    // the pen follows: dark ink on the light picture (a foot under the 1), and the server still
    // takes the whole as dark on light
    v = await version(page, '#seen');
    await mouseStroke(page, [[0.3, 0.85], [0.7, 0.85]]);
    await waitVersion(page, '#seen', v, 'a stroke on the paper digit');
    await settled(page);
    const under = await page.$eval('#draw', (c) => c.getContext('2d').getImageData(140, 238, 1, 1).data[0]);
    assert.ok(under < 60, `the pen drew ${under} on the light picture`);
    const footed = await serverView(page);
    assert.equal(footed.prepared.invert, true);
    assert.ok(footed.prepared.box[3] > paper.prepared.box[3], 'the foot is not part of the ink');
    // the same digit light on dark: the same prepared input
    const n = 56;
    const negative = Buffer.alloc(n * n, 10);
    for (let y = 10; y < 46; y++) for (let x = 25; x < 31; x++) negative[y * n + x] = 235;
    fs.writeFileSync(file, pngGrey(n, n, negative));
    v = await version(page, '#seen');
    await page.setInputFiles('#upload', file);
    await waitVersion(page, '#seen', v, 'the digit light on dark');
    fs.rmSync(file);
    const light = await serverView(page);
    assert.deepEqual([light.prepared.invert, light.prepared.polarity], [false, 'border']);
    assertClose(light.input, paper.input, 0.02, 'the prepared input of the two polarities');
    // (mu follows; how far apart depends on the model, so it is only logged)
    const muLight = await pageMu(page, 'the digit light on dark');
    console.log(`    mu of the two polarities: ${dist(muLight, muPaper).toFixed(3)} apart`);
    await noVisibleErrors(page);
  });

  await t.test('draw with touch', async () => {
    const before = await picture(page, '#recon');
    await page.click('#draw-clear');
    const v = await version(page, '#recon');
    // a "0" drawn with a finger
    await touchStroke(page, cdp, [[0.5, 0.15], [0.72, 0.35], [0.7, 0.7], [0.5, 0.88], [0.3, 0.7],
      [0.28, 0.35], [0.5, 0.15]]);
    await waitVersion(page, '#recon', v, 'reconstruction after a touch stroke');
    const after = await expectPicture(page, '#recon', 28, 28, 'reconstruction of the touch drawing');
    assert.notEqual(after.hash, before.hash, 'the touch drawing gave the same reconstruction');
  });

  for (const panel of PANELS) {
    await t.test(`keyboard only: ${panel.name}`, async () => {
      await panel.use(page);
      await settled(page);
      await a11y.assertKeyboardCoverage(page, panel.root, panel.name);
      await noVisibleErrors(page);
      await checkState(page, `panel-${panel.name}`);
    });
  }

  await t.test('a model with d = 2: the 2-D pad on the manifold', async () => {
    assert.equal((await modelInfo('mnist2d')).latent_dim, 2, 'mnist2d is not the 2-D model');
    const v = await version(page, '#decoded');
    const vm = await version(page, '#manifold');
    let [req] = await Promise.all([page.waitForRequest((r) => r.url().includes('/api/manifold?')), page.click('#models input[value="mnist2d"]')]);
    await waitVersion(page, '#decoded', v, 'decode for the 2-D model');
    await waitVersion(page, '#manifold', vm, 'the 2-D manifold');
    await settled(page);
    // the paper's figure: no plane to choose, the server's default grid of the two coordinates
    assert.equal(new URL(req.url()).searchParams.get('dims'), null);
    await expectPicture(page, '#manifold', 12 * 28, 12 * 28, 'the 2-D manifold');
    assert.match(await text(page, '#latent-hint'), /drag on the manifold/);
    assert.match(await text(page, '#manifold-caption'), /^12 \u00d7 12: z0 across, z1 up, around the origin$/);
    await expectPicture(page, '#traverse', 11 * 28, 2 * 28, 'the 2-D traversal');
    const grid = await apiGet('manifold?model=mnist2d&n=12&format=json');
    // pointing at a cell's centre previews exactly that cell's z (the normal quantiles of the grid)
    await page.mouse.move(...(await cellCentre(page, 2, 9, 12)));
    await page.waitForFunction(() => document.querySelector('#manifold-cell').dataset.cell === '2,9');
    assertClose(await pageZ(page), grid.z[2 * 12 + 9], 0.006, 'the pointer at a cell centre');
    await page.mouse.move(1, 1);
    assertClose(await pageZ(page), [0, 0], 0, 'leaving the manifold');
    // a drag moves z continuously; the dot follows the pointer
    const before = await picture(page, '#decoded');
    const box = await page.locator('#manifold-grid').boundingBox();
    const v2 = await version(page, '#decoded');
    const from = await mark(page);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.15, { steps: 10 });
    await page.mouse.up();
    await waitVersion(page, '#decoded', v2, 'decode after dragging on the pad');
    await settled(page);
    // z = the normal quantiles of where the pointer is: 0.9 across, 0.85 up
    assertClose(await pageZ(page), [1.28, 1.04], 0.02, 'the dragged z');
    assert.deepEqual([await page.inputValue('#z-0'), await page.inputValue('#z-1')], ['1.3', '1.05'], 'the sliders');
    const [dx, dy] = (await page.getAttribute('#manifold-marks', 'data-dot')).split(',').map(Number);
    assert.ok(Math.abs(dx - box.width * 0.9) < 2 && Math.abs(dy - box.height * 0.15) < 2, `the dot is at ${dx},${dy}`);
    await expectAnnouncements(page, from, [/^z set to \(1\.28, 1\.04\) on the manifold\.$/], 'the drag');
    const after = await expectPicture(page, '#decoded', 28, 28, 'decoded from the pad');
    assert.notEqual(after.hash, before.hash, 'dragging on the pad did not change the decoded image');
    // the sliders move the dot too
    await keys(page, '#z-0', 'Home');
    const [hx] = (await page.getAttribute('#manifold-marks', 'data-dot')).split(',').map(Number);
    assert.ok(hx < box.width * 0.01, `z0 = -3 puts the dot at x = ${hx}`);
    await settled(page);
    await noVisibleErrors(page);
    await checkState(page, 'mnist2d-pad');
    await page.click('#models input[value="mnist"]');
    await settled(page);
  });

  await t.test('a model without the trainer\'s statistics: every panel says what is missing, none fails', async () => {
    const v = await version(page, '#heat');
    await page.click('#models input[value="bare"]');
    await waitVersion(page, '#heat', v, 'the score of the drawing under the model without statistics');
    await settled(page);
    // no diagnostics: the sliders in index order, none marked
    assert.deepEqual(await page.$$eval('#sliders label', (ls) => ls.slice(0, 3).map((l) => l.textContent)), ['z0', 'z1', 'z2']);
    assert.equal(await page.locator('#sliders .inactive').count(), 0);
    assert.match(await text(page, '#latent-order'), /no diagnostics/);
    // no score tables: the likelihood without a percentile, and no meter
    assert.equal(await page.getAttribute('#score', 'data-calibrated'), 'false');
    assert.match(await text(page, '#score-verdict'), /^This model has no score tables/);
    assert.ok(await page.isHidden('#ood-meter'));
    await expectPicture(page, '#heat', 84, 28, 'the heat map without score tables');
    // no principal plane: a pair of dimensions; no class statistics: no class picker, no morph
    assert.deepEqual(await page.$$eval('#manifold-plane option', (os) => os.slice(0, 2).map((o) => o.value)), ['0,1', '2,3']);
    assert.deepEqual(await page.$$eval('#manifold-base option', (os) => os.map((o) => o.value)), ['default']);
    assert.match(await text(page, '#manifold-note'), /no principal plane/);
    await expectPicture(page, '#manifold', 12 * 28, 12 * 28, 'the manifold of z0 and z1');
    assert.deepEqual(await page.$$eval('#traverse-labels li', (ls) => ls.map((l) => l.textContent)), [...Array(8).keys()].map((i) => `z${i}`));
    await expectPicture(page, '#traverse', 11 * 28, 8 * 28, 'the traversal without diagnostics');
    assert.deepEqual(await page.$$eval('#sample-class option', (os) => os.map((o) => o.value)), ['']);
    assert.ok(await page.isVisible('#sample-class-note'));
    assert.ok(await page.isVisible('#morph-note'));
    assert.ok(await page.isDisabled('#morph-go'));
    await noVisibleErrors(page);
    await checkState(page, 'no-statistics');
    await page.click('#models input[value="mnist"]');
    await settled(page);
  });

  await t.test('API errors are shown and announced, and cleared', async () => {
    allowed = [/status of 422/];
    const from = await mark(page);
    await page.fill('#seed', 'abc');
    await page.click('#sample-go');
    await page.waitForSelector('#sample-error:not([hidden])', { timeout: 5000 });
    assert.match(await text(page, '#sample-error'), /seed must be an integer/);
    await page.fill('#morph-steps', '99');
    await page.click('#morph-go');
    await page.waitForSelector('#morph-error:not([hidden])', { timeout: 5000 });
    assert.match(await text(page, '#morph-error'), /steps must be/);
    await page.selectOption('#complete-hide', 'bottom');
    await page.fill('#complete-steps', '5000');
    await page.click('#complete-go');
    await page.waitForSelector('#complete-error:not([hidden])', { timeout: 5000 });
    assert.match(await text(page, '#complete-error'), /steps must be an integer from 1 to 1000/);
    const said = (await a11y.announcementsSince(page, from, 1500)).map((a) => a.text).join(' ');
    assert.match(said, /^Sample 16: error: seed must be an integer.* Morph: error: steps must be.* Complete: error: steps must be/, 'the errors were not announced');
    await checkState(page, 'errors');
    // corrected inputs clear the errors
    await page.fill('#seed', '7');
    await page.click('#sample-go');
    await page.waitForSelector('#sample-error', { state: 'hidden', timeout: 5000 });
    await page.fill('#morph-steps', '10');
    await page.click('#morph-go');
    await page.waitForSelector('#morph-error', { state: 'hidden', timeout: 5000 });
    await page.fill('#complete-steps', '50');
    await page.click('#complete-go');
    await page.waitForSelector('#complete-error', { state: 'hidden', timeout: 5000 });
    await page.selectOption('#complete-hide', '');
    await settled(page);
    allowed = [];
  });

  await t.test('a phone: one slider a row, readable chart labels, no sideways scrolling', async () => {
    await page.setViewportSize(VIEWPORTS[1]);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const rows = await page.$$eval('#sliders input', (els) => els.map((e) => e.getBoundingClientRect()).map((r) => [Math.round(r.left), Math.round(r.width)]));
    assert.equal(new Set(rows.map(([left]) => left)).size, 1, 'the sliders are not in one column');
    assert.ok(rows[0][1] >= 240, `a slider is ${rows[0][1]} px wide at 390 px`);
    const chart = await page.$eval('#chart', (c) => ({ css: c.clientWidth, px: c.width, ratio: devicePixelRatio, font: Number(c.dataset.fontPx) }));
    assert.ok(Math.abs(chart.px - chart.css * chart.ratio) <= 1, `the chart is drawn at ${chart.px} px for ${chart.css} CSS px: its labels are scaled`);
    assert.ok(chart.font >= 11, `the chart's labels are ${chart.font} px`);
    for (const width of [390, 320]) {
      await page.setViewportSize({ width, height: 844 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at ${width} px`);
    }
    await page.setViewportSize(VIEWPORTS[0]);
  });

  await t.test('prefers-reduced-motion: the morph animation stands still until Play', async () => {
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await page.waitForFunction(() => document.querySelector('#morph-play').textContent === 'Play animation', null, { timeout: 2000 })
      .catch(() => assert.fail('the setting did not stop the animation'));
    await assertFrameStill(page, 'with reduced motion');
    await page.reload({ waitUntil: 'load' });
    await page.waitForFunction(() => Number(document.querySelector('#morph-strip').dataset.version || 0) > 0);
    await settled(page);
    assert.equal(await text(page, '#morph-play'), 'Play animation');
    assert.equal(await page.getAttribute('#morph-anim', 'data-frame'), '4', 'a still morph shows its middle image');
    await assertFrameStill(page, 'after a load with reduced motion');
    await keys(page, '#morph-play', 'Enter');
    await assertFrameMoves(page, 'after Play with reduced motion');
    // the completion's chain: its end at once; Replay plays it
    await keys(page, '#test-image-go', 'Enter');
    await page.selectOption('#complete-hide', 'right');
    await settled(page);
    let before = await runs(page);
    await keys(page, '#complete-go', 'Enter');
    let frames = await chainPlayed(page, before, 'with reduced motion');
    assert.deepEqual(frames, [10], `with reduced motion the chain showed frames ${frames}`);
    before = await runs(page);
    await keys(page, '#complete-replay', 'Enter');
    frames = await chainPlayed(page, before, 'Replay with reduced motion');
    assert.ok(frames.length >= 3, `Replay showed frames ${frames}`);
    await page.selectOption('#complete-hide', '');
    await page.emulateMedia({ reducedMotion: 'no-preference' });
    await keys(page, '#test-image-go', 'Enter');
    await settled(page);
  });

  await t.test('forced colours (a high-contrast theme): the chosen model still stands out', async () => {
    await page.emulateMedia({ forcedColors: 'active' });
    // each segment's background as painted: its own, or its ancestors' where it is transparent
    const looks = await page.$$eval('#models .segment span', (els) => els.map((e) => {
      for (let a = e; a; a = a.parentElement) {
        const c = getComputedStyle(a).backgroundColor;
        const alpha = c.startsWith('rgba') ? Number(c.split(',')[3].replace(')', '')) : 1;
        if (alpha > 0) return `${c}${e.previousElementSibling.checked ? ' (chosen)' : ''}`;
      }
      return 'none';
    }));
    const chosen = looks.find((c) => c.endsWith('(chosen)')).replace(' (chosen)', '');
    assert.equal(looks.filter((c) => c.startsWith(chosen)).length, 1, `segments ${looks.join(', ')}: the chosen one looks like the others`);
    await page.emulateMedia({ forcedColors: 'none' });
  });

  await t.test('the service goes down: the banner once, a true footer, errors in the cards, Dismiss', async () => {
    allowed = [/status of 503/];
    const from = await mark(page);
    await replica.stop();
    await keys(page, '#sample-new', 'Enter');
    await page.waitForSelector('#sample-error:not([hidden])', { timeout: 10000 });
    assert.match(await text(page, '#sample-error'), /no replica of the model service is answering/);
    await page.waitForSelector('#banner:not([hidden])', { timeout: 5000 });
    assert.match(await text(page, '#banner-text'), /^The model service stopped answering: no replica/);
    assert.match(await text(page, '#status'), /^Not connected/);
    // the latent card fails, and its busy state is cleared
    await keys(page, '#z-0', 'ArrowRight');
    await page.waitForSelector('#latent-error:not([hidden])', { timeout: 5000 });
    await keys(page, '#morph-go', 'Enter');
    await page.waitForSelector('#morph-error:not([hidden])', { timeout: 5000 });
    await settled(page);
    await expectAnnouncements(page, from, [/^The model service stopped answering/], 'the outage');
    await checkState(page, 'service-down');
    // Dismiss from the keyboard: the focus goes to the start of the content, the banner stays away
    await keys(page, '#banner-close', 'Enter');
    assert.ok(await page.isHidden('#banner'));
    assert.equal(await focusedId(page), 'draw-title', 'the focus after Dismiss');
    await a11y.assertKeyboardCoverage(page, '#banner', 'banner');
  });

  await t.test('the service comes back: every card works again without a reload', async () => {
    const from = await mark(page);
    await replica.start();
    await page.waitForFunction(() => document.querySelectorAll('.error:not([hidden])').length === 0, null, { timeout: 10000 })
      .catch(async () => assert.fail(`errors still shown after recovery: ${await visibleErrors(page)}`));
    await settled(page);
    assert.match(await text(page, '#status'), /^Connected: 4 models$/);
    assert.ok(await page.isHidden('#banner'));
    const v = await version(page, '#decoded');
    await keys(page, '#z-1', 'ArrowRight');
    await waitVersion(page, '#decoded', v, 'decode after recovery');
    const v2 = await version(page, '#samples');
    await keys(page, '#sample-go', 'Enter');
    await waitVersion(page, '#samples', v2, 'sample after recovery');
    await settled(page);
    await noVisibleErrors(page);
    const said = (await a11y.announcementsSince(page, from, 1200)).map((a) => a.text).join(' ');
    assert.equal(said.split('The model service is back.').length - 1, 1, `announced: ${said}`);
    await checkState(page, 'service-back');
    allowed = [];
  });

  await t.test('the footer\'s OpenAPI link, from the keyboard', async () => {
    await page.focus('.foot a');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 5000 }), page.keyboard.press('Enter')]);
    assert.match(download.url(), /\/api\/openapi\.yaml$/);
    const body = fs.readFileSync(await download.path(), 'utf8');
    assert.match(body, /^openapi: 3\./m);
    await a11y.assertKeyboardCoverage(page, '.foot', 'footer');
  });

  await t.test('every call from the drawing sent the whole canvas, for the server to prepare', () => {
    const of = (p) => drawingCalls.filter((c) => c.path === p);
    for (const p of ['encode', 'reconstruct', 'score']) {
      assert.ok(of(p).length > 10, `${of(p).length} calls of /${p}`);
      for (const c of of(p)) {
        assert.deepEqual([c.params.normalize, c.params.invert], ['auto', 'auto'], `/${p}?${new URLSearchParams(c.params)}`);
        assert.equal(c.body.pixels, undefined);
        assert.deepEqual(pngSize(c.body.image), [280, 280], `/${p}: not the whole canvas`);
      }
    }
    assert.ok(of('reconstruct').every((c) => c.params.with_input === '1' && c.params.format === 'json'), 'a /reconstruct without with_input=1&format=json');
    assert.ok(of('score').some((c) => c.params.format === 'png'), 'no heat map asked for');
    // /complete too, with what is hidden mapped into the prepared frame (a half, or a mask)
    assert.ok(of('complete').length >= 4, `${of('complete').length} calls of /complete`);
    for (const c of of('complete')) {
      assert.deepEqual([c.params.normalize, c.params.invert], ['auto', 'auto'], `/complete?${new URLSearchParams(c.params)}`);
      assert.equal(c.body.pixels, undefined);
      assert.deepEqual(pngSize(c.body.image), [280, 280], '/complete: not the whole canvas');
      assert.ok(c.body.keep || c.body.mask.length === 784, '/complete without keep or mask');
    }
    assert.equal(of('traverse').length, 0, 'the traversal is not made from the drawing');
    const counts = ['encode', 'reconstruct', 'score', 'complete'].map((p) => `${p} ${of(p).length}`).join(', ');
    console.log(`    calls from the drawing: ${counts}`);
  });

  await t.test('no console errors', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
