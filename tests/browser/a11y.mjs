// Accessibility checks for the browser test, page-independent: axe-core (pinned in
// package-lock.json, injected into the page through the DevTools protocol, so the page's CSP does
// not have to allow it), the Tab order, the focus ring of every Tab stop, keyboard coverage, and
// what the live regions said. Each check fails with a message that names the elements.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const AXE_VERSION = require('axe-core/package.json').version;
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// What can take the focus, as the browser decides it; filtered further in the page (enabled,
// rendered, tabIndex >= 0).
const FOCUSABLE = 'a[href], button, input, select, textarea, summary, [tabindex], [contenteditable="true"]';

// Run before the page's own scripts (context.addInitScript): records every change of a live
// region's text (window.__liveLog: [{id, text}]) and every element that got a key press
// (window.__keyed), for announcementsSince() and assertKeyboardCoverage().
export function recorderScript() {
  window.__liveLog = [];
  window.__keyed = new Set();
  const LIVE = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"], output';
  new MutationObserver((records) => {
    const seen = new Set();
    for (const r of records) {
      const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      const region = node && node.closest(LIVE);
      if (!region || seen.has(region)) continue;
      seen.add(region);
      const text = region.textContent.trim();
      if (text) window.__liveLog.push({ id: region.id || region.tagName, text });
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
  document.addEventListener('keydown', (e) => window.__keyed.add(e.target), true);
}

export const liveLog = (page) => page.evaluate(() => window.__liveLog.slice());

// Everything the live regions said after the first `from` entries (announcements arrive after a
// short coalescing delay: wait gives them that time).
export async function announcementsSince(page, from, wait = 1500) {
  if (wait) await page.waitForTimeout(wait);
  return (await liveLog(page)).slice(from);
}

// The page's live regions: exactly one, whatever state the page is in.
export async function assertOneLiveRegion(page, where) {
  const regions = await page.$$eval(
    '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"], [role="marquee"], [role="timer"], output',
    (els) => els.map((e) => e.id || e.outerHTML.slice(0, 60)));
  assert.equal(regions.length, 1, `${where}: ${regions.length} live regions (${regions.join(', ')})`);
}

// axe-core's every rule (WCAG 2.0, 2.1 and 2.2 A and AA, and its best practices); any violation
// fails, with the rule, its impact and the elements.
export async function assertNoAxeViolations(page, where) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const lines = result.violations.map((v) => `  ${v.id} (${v.impact}): ${v.help}\n` +
    v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\n/g, ' ')}`).join('\n'));
  assert.equal(result.violations.length, 0, `${where}: axe-core ${AXE_VERSION} found violations:\n${lines.join('\n')}`);
  return result;
}

// The Tab stops the page should have, in document order: every enabled, rendered element that
// takes the focus with tabIndex >= 0, a group of radio buttons counting once (its checked one).
async function expectedTabStops(page) {
  return page.evaluate((selector) => {
    const stops = [];
    const groups = new Set();
    for (const el of document.querySelectorAll(selector)) {
      if (el.disabled || el.tabIndex < 0 || el.closest('[inert], fieldset:disabled')) continue;
      if (el.matches('input[type="hidden"]') || !el.checkVisibility({ visibilityProperty: true })) continue;
      if (el.closest('details:not([open])') && !el.matches('details > summary')) continue;
      if (el.matches('input[type="radio"]')) {
        if (groups.has(el.name)) continue;
        groups.add(el.name);
        const group = [...document.querySelectorAll(`input[type="radio"][name="${el.name}"]`)];
        stops.push(window.__stopKey(group.find((r) => r.checked) || group[0]));
        continue;
      }
      stops.push(window.__stopKey(el));
    }
    return stops;
  }, FOCUSABLE);
}

async function installHelpers(page) {
  await page.evaluate(() => {
    window.__stopKey = (el) => {
      if (!el || el === document.body) return null;
      if (el.id) return `#${el.id}`;
      if (el.matches('input[type="radio"]')) return `radio[${el.name}=${el.value}]`;
      const parent = el.closest('[id]');
      return `${el.tagName.toLowerCase()}${el.textContent ? `"${el.textContent.trim().slice(0, 20)}"` : ''} in #${parent ? parent.id : '?'}`;
    };
    // WCAG relative luminance and contrast of two "rgb(...)" colours
    const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const contrast = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const background = (el) => {
      for (let a = el; a; a = a.parentElement) {
        const c = getComputedStyle(a).backgroundColor;
        const parts = rgb(c);
        if (parts.length === 3 || (parts.length === 4 && parts[3] > 0.99)) return c;
      }
      return 'rgb(255, 255, 255)';
    };
    // The focused element's ring: its own outline, or (a visually hidden native input) that of
    // the element drawn for it, its next sibling or its label. Returns a problem, or null.
    window.__ringProblem = () => {
      const el = document.activeElement;
      const candidates = [el, el.nextElementSibling, el.closest('label')].filter(Boolean);
      const ring = candidates.find((c) => {
        const s = getComputedStyle(c);
        return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 && Number(s.opacity) > 0;
      });
      if (!ring) return 'no focus ring';
      const s = getComputedStyle(ring);
      const width = parseFloat(s.outlineWidth), offset = parseFloat(s.outlineOffset) || 0;
      if (width < 2) return `focus ring ${width}px wide`;
      const behind = background(ring.parentElement);
      const ratio = contrast(s.outlineColor, behind);
      if (ratio < 3) return `focus ring ${s.outlineColor} on ${behind}: ${ratio.toFixed(2)}:1`;
      // no ancestor that clips its content may cut the ring off
      const r = ring.getBoundingClientRect();
      const out = offset + width;
      const box = { left: r.left - out, top: r.top - out, right: r.right + out, bottom: r.bottom + out };
      for (let a = ring.parentElement; a && a !== document.documentElement; a = a.parentElement) {
        const st = getComputedStyle(a);
        if (st.overflowX === 'visible' && st.overflowY === 'visible' && st.clipPath === 'none') continue;
        const c = a.getBoundingClientRect();
        const [bl, bt] = [c.left + a.clientLeft, c.top + a.clientTop];
        if (box.left < bl - 0.5 || box.top < bt - 0.5 || box.right > bl + a.clientWidth + 0.5 || box.bottom > bt + a.clientHeight + 0.5) {
          return `focus ring clipped by ${window.__stopKey(a) || a.className}`;
        }
      }
      return null;
    };
  });
}

// Walks the page with Tab from its top: every expected Tab stop must be reached, in document
// order, each with a focus ring of at least 2 px and 3:1 that nothing clips. Returns the stops.
export async function assertTabOrder(page, where) {
  await installHelpers(page);
  const expected = await expectedTabStops(page);
  // start the sequential focus navigation at the top of the page
  await page.evaluate(() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); });
  await page.mouse.click(1, 1);
  const reached = [];
  const problems = [];
  for (let i = 0; i < expected.length + 10; i++) {
    await page.keyboard.press('Tab');
    const [key, ring] = await page.evaluate(() => [window.__stopKey(document.activeElement), document.activeElement === document.body ? null : window.__ringProblem()]);
    if (key === null || key === reached[0]) break;
    reached.push(key);
    if (ring) problems.push(`${key}: ${ring}`);
  }
  const missing = expected.filter((k) => !reached.includes(k));
  assert.deepEqual(missing, [], `${where}: Tab never reaches ${missing.join(', ')}`);
  assert.deepEqual(reached, expected, `${where}: the Tab order is not the document order`);
  assert.deepEqual(problems, [], `${where}: focus rings:\n  ${problems.join('\n  ')}`);
  return reached;
}

// Every enabled, rendered control inside `selector` got at least one key press since the page
// loaded (the panel's keyboard steps operated all of them).
export async function assertKeyboardCoverage(page, selector, where) {
  const untouched = await page.evaluate(([sel, focusable]) => {
    const root = document.querySelector(sel);
    return [...root.querySelectorAll(focusable)]
      .filter((el) => !el.disabled && el.tabIndex >= 0 && el.checkVisibility() && !window.__keyed.has(el))
      .filter((el) => !(el.matches('input[type="radio"]') && [...window.__keyed].some((k) => k.name === el.name)))
      .map((el) => el.id || el.outerHTML.slice(0, 80));
  }, [selector, FOCUSABLE]);
  assert.deepEqual(untouched, [], `${where}: controls never operated from the keyboard`);
}
