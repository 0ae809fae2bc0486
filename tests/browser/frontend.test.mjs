// make browser-test: Debian's Chromium, headless and driven by playwright-core, uses the web
// frontend the way a person would, through nginx (FRONTEND_URL, set by tests/scaleout/stack.py):
// draws with the mouse and with touch, reads mu and the reconstruction, moves a slider, samples 16,
// morphs 3 -> 8, switches to fashion, and provokes errors that must be shown on the page. Every
// picture is checked (natural size, not blank); any console error fails the test, except the
// resource errors of the steps that provoke an API error on purpose. Screenshots go to ARTIFACTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.FRONTEND_URL;
const ARTIFACTS = process.env.ARTIFACTS || 'build/browser-artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const REPLICA_PIDS = (process.env.REPLICA_PIDS || '').split(/\s+/).filter(Boolean).map(Number);

assert.ok(BASE, 'FRONTEND_URL is not set (run through tests/browser/run.sh)');
fs.mkdirSync(ARTIFACTS, { recursive: true });

// console errors allowed at a given moment (the API errors the test provokes on purpose)
let allowed = [];
const consoleErrors = [];

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

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

// Waits until the page has no API call under way (its body's data-busy is 0).
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

async function noVisibleErrors(page) {
  const shown = await page.$$eval('.error:not([hidden]), #banner:not([hidden])', (els) => els.map((e) => e.textContent));
  assert.deepEqual(shown, [], 'errors shown on the page');
}

// A stroke with the mouse through canvas-relative points (0..1).
async function mouseStroke(page, points) {
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

test('web frontend through nginx', async (t) => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    hasTouch: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions', '--metrics-recording-only', '--disable-dev-shm-usage',
      '--no-default-browser-check', '--disable-features=Translate,OptimizationHints,MediaRouter'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (!allowed.some((re) => re.test(text))) consoleErrors.push(text);
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  const cdp = await context.newCDPSession(page);
  t.after(async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  });

  await t.test('the page loads and lists the models from /v1/models', async () => {
    await page.goto(BASE + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelectorAll('#models button').length > 0);
    const names = await page.$$eval('#models button', (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(names, ['mnist', 'fashion', 'latent2']);
    assert.ok(await page.isHidden('#pad2d'), 'the 2-D pad shows for a 32-dimensional model');
    assert.equal(await page.getAttribute('#models button[data-model="mnist"]', 'aria-checked'), 'true');
    await waitVersion(page, '#decoded', 0, 'first decode');
    await waitVersion(page, '#samples', 0, 'first sample');
    await waitVersion(page, '#morph-strip', 0, 'first morph');
    await expectPicture(page, '#decoded', 28, 28, 'decoded z = 0');
    await noVisibleErrors(page);
    await shot(page, '01-loaded');
  });

  await t.test('draw a digit with the mouse: mu, logvar and the reconstruction', async () => {
    const v = await version(page, '#recon');
    // a "7": the top bar, then the diagonal
    await mouseStroke(page, [[0.25, 0.22], [0.75, 0.22], [0.45, 0.85]]);
    await waitVersion(page, '#recon', v, 'reconstruction');
    await expectPicture(page, '#recon', 28, 28, 'reconstruction');
    assert.equal(await page.getAttribute('#chart', 'data-bars'), '32', 'one mu bar per latent dimension');
    const chart = await picture(page, '#chart');
    assert.ok(chart.variance > 50, 'the mu/logvar chart is blank');
    assert.ok(await page.isEnabled('#draw-explore'), '"Explore this z" stays disabled');
    await noVisibleErrors(page);
    await shot(page, '02-drawn');
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
    await shot(page, '03-touch');
  });

  await t.test('move a slider: the decoded image changes', async () => {
    const before = await picture(page, '#decoded');
    const v = await version(page, '#decoded');
    const slider = page.locator('#sliders input[data-index="0"]');
    await slider.focus();
    await page.keyboard.press('End');
    await waitVersion(page, '#decoded', v, 'decode after the slider moved');
    assert.equal(await slider.inputValue(), '3');
    // more moves; the page coalesces them, the last one wins
    const v2 = await version(page, '#decoded');
    await page.locator('#sliders input[data-index="1"]').focus();
    for (let i = 0; i < 30; i++) await page.keyboard.press('ArrowLeft');
    await waitVersion(page, '#decoded', v2, 'decode after the second slider moved');
    await settled(page);
    const after = await expectPicture(page, '#decoded', 28, 28, 'decoded after moving sliders');
    assert.notEqual(after.hash, before.hash, 'moving sliders did not change the decoded image');
    // the drawing's mu into the sliders
    const v3 = await version(page, '#decoded');
    await page.click('#draw-explore');
    await waitVersion(page, '#decoded', v3, 'decode of the drawing\'s mu');
    assert.notEqual(await slider.inputValue(), '3', '"Explore this z" did not set the sliders');
    await noVisibleErrors(page);
    await shot(page, '04-slider');
  });

  await t.test('sample 16 with a seed', async () => {
    await page.fill('#seed', '1234');
    const v = await version(page, '#samples');
    await page.click('#sample-go');
    await waitVersion(page, '#samples', v, 'sample');
    await expectPicture(page, '#samples', 112, 112, '4x4 samples');
    assert.match(await page.textContent('#samples-caption'), /seed 1234/);
    await noVisibleErrors(page);
    await shot(page, '05-sample');
  });

  await t.test('morph 3 -> 8: strip and animation', async () => {
    assert.equal(await page.inputValue('#morph-from'), '3');
    assert.equal(await page.inputValue('#morph-to'), '8');
    await page.fill('#morph-steps', '12');
    const v = await version(page, '#morph-strip');
    await page.click('#morph-go');
    await waitVersion(page, '#morph-strip', v, 'morph');
    await expectPicture(page, '#morph-strip', 12 * 28, 28, 'morph strip');
    await expectPicture(page, '#morph-anim', 28, 28, 'morph animation frame');
    const f0 = await page.getAttribute('#morph-anim', 'data-frame');
    await page.waitForFunction((f) => document.querySelector('#morph-anim').dataset.frame !== f, f0,
      { timeout: 3000 }).catch(() => assert.fail('the morph animation does not advance'));
    assert.match(await page.textContent('#morph-caption'), /3 \u2192 8 in 12 steps/);
    await noVisibleErrors(page);
    await shot(page, '06-morph');
  });

  await t.test('API errors are shown to the user', async () => {
    allowed = [/status of 422/];
    await page.fill('#seed', 'abc');
    await page.click('#sample-go');
    await page.waitForSelector('#sample-error:not([hidden])', { timeout: 5000 });
    assert.match(await page.textContent('#sample-error'), /seed must be an integer/);
    await page.fill('#morph-steps', '99');
    await page.click('#morph-go');
    await page.waitForSelector('#morph-error:not([hidden])', { timeout: 5000 });
    assert.match(await page.textContent('#morph-error'), /steps must be/);
    await shot(page, '07-api-errors');
    // corrected inputs clear the errors
    await page.fill('#seed', '7');
    await page.click('#sample-go');
    await page.waitForSelector('#sample-error', { state: 'hidden', timeout: 5000 });
    await page.fill('#morph-steps', '10');
    await page.click('#morph-go');
    await page.waitForSelector('#morph-error', { state: 'hidden', timeout: 5000 });
    allowed = [];
  });

  await t.test('switch to fashion', async () => {
    const versions = await Promise.all(['#recon', '#decoded', '#samples', '#morph-strip'].map((s) => version(page, s)));
    const before = await picture(page, '#samples');
    await page.click('#models button[data-model="fashion"]');
    assert.equal(await page.getAttribute('#models button[data-model="fashion"]', 'aria-checked'), 'true');
    await Promise.all(['#recon', '#decoded', '#samples', '#morph-strip'].map((s, i) => waitVersion(page, s, versions[i], `fashion ${s}`)));
    await expectPicture(page, '#recon', 28, 28, 'fashion reconstruction');
    await expectPicture(page, '#decoded', 28, 28, 'fashion decode');
    const after = await expectPicture(page, '#samples', 112, 112, 'fashion samples');
    assert.notEqual(after.hash, before.hash, 'the samples did not change with the model');
    await expectPicture(page, '#morph-strip', 10 * 28, 28, 'fashion morph');
    assert.match(await page.textContent('#morph-from option:checked'), /Dress/);
    assert.match(await page.textContent('#model-info'), /fashion/);
    await settled(page);
    await noVisibleErrors(page);
    await shot(page, '08-fashion');
  });

  await t.test('a model with d = 2: the 2-D pad', async () => {
    const v = await version(page, '#decoded');
    await page.click('#models button[data-model="latent2"]');
    await waitVersion(page, '#decoded', v, 'decode for the 2-D model');
    await page.waitForSelector('#pad2d', { state: 'visible' });
    assert.equal(await page.locator('#sliders input').count(), 2);
    const before = await picture(page, '#decoded');
    const box = await page.locator('#pad2d').boundingBox();
    const v2 = await version(page, '#decoded');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.15, { steps: 10 });
    await page.mouse.up();
    await waitVersion(page, '#decoded', v2, 'decode after dragging on the pad');
    await settled(page);
    const z = await page.$$eval('#sliders input', (els) => els.map((e) => Number(e.value)));
    assert.ok(z[0] > 2 && z[1] > 1.5, `the pad set z = ${z}`);
    const after = await expectPicture(page, '#decoded', 28, 28, 'decoded from the pad');
    assert.notEqual(after.hash, before.hash, 'dragging on the pad did not change the decoded image');
    await expectPicture(page, '#pad2d', 240, 240, 'the pad');
    await noVisibleErrors(page);
    await shot(page, '09-latent2-pad');
  });

  await t.test('the service down: the page says so', { skip: REPLICA_PIDS.length === 0 }, async () => {
    allowed = [/status of 503/];
    for (const pid of REPLICA_PIDS) process.kill(pid, 'SIGKILL');
    await page.click('#sample-new');
    await page.waitForSelector('#sample-error:not([hidden])', { timeout: 10000 });
    assert.match(await page.textContent('#sample-error'), /no replica of the model service is answering/);
    // a fresh load still gets the page from nginx, and a banner about the API
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('#banner:not([hidden])', { timeout: 10000 });
    assert.match(await page.textContent('#banner-text'), /Cannot load the models: no replica/);
    await shot(page, '10-service-down');
  });

  await t.test('no console errors', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
