// The page's one live region (#announcer, polite). Messages that arrive close together are
// coalesced into one announcement (repeats dropped), and announcements are at least GAP_MS apart,
// so that a burst of updates is read once instead of queueing up. The body's data-announcing is 1
// while a message waits (for tests).
const WAIT_MS = 300;
const GAP_MS = 1000;

let pending = [];
let timer = 0;
let lastAt = -Infinity;

export function announce(message) {
  if (!message || pending.includes(message)) return;
  pending.push(message);
  if (timer) return;
  document.body.dataset.announcing = '1';
  const delay = Math.max(WAIT_MS, lastAt + GAP_MS - performance.now());
  timer = setTimeout(flush, delay);
}

function flush() {
  timer = 0;
  const region = document.getElementById('announcer');
  const text = pending.join(' ');
  pending = [];
  lastAt = performance.now();
  // emptied first, so that the same text twice in a row is read twice
  region.textContent = '';
  setTimeout(() => {
    region.textContent = text;
    if (!timer) document.body.dataset.announcing = '0';
  }, 50);
}
