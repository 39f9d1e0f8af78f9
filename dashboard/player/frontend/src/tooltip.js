// The hover tooltip: what a sample or a proxy is, in words, and a sample's thumbnail.
import { OUTCOME, hasProxies, outcome } from './colours.js';
import { el } from './dom.js';
import { gradValue } from './payload.js';

/**
 * The name of class `c`.
 * @param {import('./wire-types.js').Header} header
 * @param {number} c
 */
export const className = (header, c) => header.class_names?.[c] ?? `class ${c}`;

/**
 * The tooltip's text for point i of a pane at step index s: a sample (i < N) or a proxy's halo or core (N + j,
 * N + P + j).
 * @param {import('./payload.js').Decoded} payload
 * @param {number} i
 * @param {number} s
 */
export function tipText(payload, i, s) {
  const { header: h, arrays: a } = payload;
  const n = h.n_points;
  if (i >= n) {
    const j = (i - n) % h.n_proxies;
    return `proxy of ${className(h, a.proxy_class[j])}, sub-proxy ${a.proxy_k[j]}`;
  }
  const label = a.labels[i];
  const mode = a.modes[i] >= 0 ? `mode ${a.modes[i]}` : 'mode unknown';
  const value = gradValue(a.grad_norm[s * n + i], h.grad_log_bounds[s], h.grad_levels);
  const grad = Number.isNaN(value) ? '–' : value.toPrecision(4);
  const lines = [`sample ${i} · ${className(h, label)} · ${mode}`,
    `row ${a.index[i]} of the ${a.split[i] ? 'test' : 'train'} split · ‖∂L/∂f‖ ${grad}`];
  const neighbour = outcome(payload, 'nn_outcome', s, i);
  if (neighbour !== OUTCOME.unknown) {
    lines.push(`nearest neighbour: ${neighbour === OUTCOME.right ? 'same class ✓' : 'another class ✗'}`);
  }
  if (a.nearest_proxy && hasProxies(payload, s)) { // most similar proxy in the embedding space (a projection can move the marker)
    const j = a.nearest_proxy[s * n + i];
    const own = a.proxy_class[j] === label ? 'own class' : 'another class';
    lines.push(`nearest proxy: ${className(h, a.proxy_class[j])} #${a.proxy_k[j]} (${own})`);
  }
  return lines.join('\n');
}

/**
 * Sample i's thumbnail (image data) on a small canvas, enlarged with crisp pixels; null when the payload has none.
 * @param {import('./payload.js').Decoded} payload
 * @param {number} i
 * @returns {HTMLCanvasElement | null}
 */
export function thumbnail({ header, arrays }, i) {
  if (!arrays.images || !header.arrays.images) return null;
  const [, height, width, channels] = header.arrays.images.shape;
  const size = height * width * channels;
  const pixels = arrays.images.subarray(i * size, (i + 1) * size);
  const canvas = el('canvas', { className: 'pxl-thumb', width, height });
  const image = new ImageData(width, height);
  for (let q = 0; q < height * width; q++) {
    for (let ch = 0; ch < 3; ch++) image.data[4 * q + ch] = pixels[q * channels + (channels === 3 ? ch : 0)];
    image.data[4 * q + 3] = 255;
  }
  canvas.getContext('2d')?.putImageData(image, 0, 0);
  const scale = Math.max(1, Math.round(64 / Math.max(width, height)));
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  return canvas;
}

/**
 * Show `tip` with `text` (and `picture`) beside screen point (sx, sy) of `stage`, flipped to its left / above it where
 * it would leave the stage.
 * @param {HTMLElement} tip
 * @param {HTMLElement} stage
 * @param {string} text
 * @param {HTMLCanvasElement | null} picture
 * @param {number} sx
 * @param {number} sy
 */
export function showTip(tip, stage, text, picture, sx, sy) {
  tip.replaceChildren(...(picture ? [picture] : []), el('span', { textContent: text }));
  tip.style.display = 'block';
  const { offsetWidth: w, offsetHeight: th } = tip;
  const { clientWidth: W, clientHeight: H } = stage;
  tip.style.left = `${Math.max(0, sx + 12 + w > W ? sx - 12 - w : sx + 12)}px`;
  tip.style.top = `${Math.max(0, sy + 12 + th > H ? sy - 12 - th : sy + 12)}px`;
}
