// The mu / log sigma^2 bar chart: drawn on a canvas at its CSS size (sharp and readable at any
// width, redrawn when the canvas is resized), with its values in text as well: a one-line summary
// (the canvas's aria-describedby) and a table.
import { fixed2 } from './ui.js';

const FONT_PX = 12;

export function createChart(canvas, summary, tbody) {
  let data = { d: 0, mu: null, logvar: null };
  const redraw = () => draw(canvas, data);
  new ResizeObserver(redraw).observe(canvas);
  return {
    // d: the latent dimension (axis ticks); mu, logvar: arrays of d numbers, or null for no values
    show(d, mu, logvar) {
      data = { d, mu, logvar };
      redraw();
      describe(summary, tbody, mu, logvar);
    },
  };
}

function draw(canvas, { d, mu, logvar }) {
  const ratio = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  if (!W || !H) return;
  canvas.width = Math.round(W * ratio);
  canvas.height = Math.round(H * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  ctx.clearRect(0, 0, W, H);
  ctx.font = `${FONT_PX}px system-ui, "DejaVu Sans", sans-serif`;
  const left = 40, right = 6, bottom = 20;
  const gap = 12, plot = H - 8 - bottom - gap;
  const panels = [
    { label: '\u03bc', values: mu, colour: colour('--accent'), top: 8, height: Math.round(plot * 0.53) },
    { label: 'log\u03c3\u00b2', values: logvar, colour: colour('--accent-2'), height: 0 },
  ];
  panels[1].top = panels[0].top + panels[0].height + gap;
  panels[1].height = plot - panels[0].height;
  const slot = d ? (W - left - right) / d : 0;
  for (const p of panels) {
    const max = p.values ? Math.max(1, ...p.values.map((v) => Math.abs(v))) : 1;
    const limit = Math.ceil(max);
    const mid = p.top + p.height / 2;
    const scale = (p.height / 2) / limit;
    ctx.fillStyle = colour('--muted');
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(`+${limit}`, left - 6, p.top + FONT_PX / 2);
    ctx.fillText('0', left - 6, mid);
    ctx.fillText(`\u2212${limit}`, left - 6, p.top + p.height - FONT_PX / 2);
    ctx.save();
    ctx.translate(FONT_PX / 2 + 1, mid);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.fillText(p.label, 0, 0);
    ctx.restore();
    ctx.strokeStyle = colour('--line');
    ctx.lineWidth = 1;
    ctx.strokeRect(left + 0.5, p.top + 0.5, W - left - right - 1, p.height - 1);
    ctx.beginPath();
    ctx.moveTo(left, Math.round(mid) + 0.5);
    ctx.lineTo(W - right, Math.round(mid) + 0.5);
    ctx.stroke();
    if (!p.values) continue;
    ctx.fillStyle = p.colour;
    p.values.forEach((v, i) => {
      const x = left + i * slot + slot * 0.15;
      const h = v * scale;
      ctx.fillRect(x, h >= 0 ? mid - h : mid, slot * 0.7, Math.max(1, Math.abs(h)));
    });
  }
  // a tick label every few dimensions, as many as fit
  ctx.fillStyle = colour('--muted');
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  const every = [1, 2, 4, 8, 16, 32, 64].find((k) => k * slot >= FONT_PX * 2.2) || d;
  for (let i = 0; i < d; i += every) ctx.fillText(String(i), left + (i + 0.5) * slot, H - 2);
  if (!mu) {
    ctx.textBaseline = 'middle';
    ctx.fillText('draw, or encode an image, to see its latent Gaussian', left + (W - left - right) / 2, panels[0].top + panels[0].height / 2 - FONT_PX);
  }
  canvas.dataset.bars = mu ? String(mu.length) : '0';
  canvas.dataset.fontPx = String(FONT_PX);
}

// two decimals with a real minus sign, for text
const signed = (v) => fixed2(v).replace('-', '\u2212');

// Where an array has its smallest and largest values: "from -1.20 (z3) to 0.80 (z7)".
function range(values) {
  let lo = 0, hi = 0;
  values.forEach((v, i) => {
    if (v < values[lo]) lo = i;
    if (v > values[hi]) hi = i;
  });
  return `from ${signed(values[lo])} (z${lo}) to ${signed(values[hi])} (z${hi})`;
}

function describe(summary, tbody, mu, logvar) {
  if (!mu) {
    summary.textContent = 'Nothing encoded yet.';
    tbody.replaceChildren();
    return;
  }
  const used = logvar.filter((v) => v < -1).length;
  summary.textContent = `\u03bc ${range(mu)}; log \u03c3\u00b2 ${range(logvar)}; ` +
    `${used} of ${mu.length} dimensions have log \u03c3\u00b2 below \u22121.`;
  tbody.replaceChildren(...mu.map((m, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = `z${i}`;
    tr.append(th);
    for (const v of [m, logvar[i]]) {
      const td = document.createElement('td');
      td.textContent = signed(v);
      tr.append(td);
    }
    return tr;
  }));
}
