// What a sample's colour encodes: its palette index under each colouring, from the payload's arrays.
import { gradColour } from './payload.js';

/** retrieval outcomes, as palette indices (payload palettes nn_outcome / proxy_outcome) */
export const OUTCOME = Object.freeze({ right: 0, wrong: 1, unknown: 2 });
export const HALO = '#000000';

/**
 * Whether step index `s` has proxies (a run may store them at some steps only; older payloads: always).
 * @param {import('./payload.js').Decoded} payload
 * @param {number} s
 */
export const hasProxies = ({ header, arrays }, s) => header.n_proxies > 0 && (!arrays.proxy_steps || arrays.proxy_steps[s] === 1);

/**
 * Retrieval outcome of sample i at step index s (OUTCOME): its nearest neighbour's class (computed in Python, exact,
 * within its split) or its most similar proxy's class, against its own.
 * @param {import('./payload.js').Decoded} payload
 * @param {string} colouring 'nn_outcome' or 'proxy_outcome'
 * @param {number} s
 * @param {number} i
 */
export function outcome(payload, colouring, s, i) {
  const { header: { n_points: n }, arrays: a } = payload;
  if (colouring === 'nn_outcome') {
    const same = a.neighbour_same_class ? a.neighbour_same_class[s * n + i] : 255;
    return same === 1 ? OUTCOME.right : same === 0 ? OUTCOME.wrong : OUTCOME.unknown;
  }
  if (!a.nearest_proxy || !hasProxies(payload, s)) return OUTCOME.unknown;
  return a.proxy_class[a.nearest_proxy[s * n + i]] === a.labels[i] ? OUTCOME.right : OUTCOME.wrong;
}

/**
 * The colours a pane draws with under `colouring`: the colouring's own, then the class colours (proxy cores), then
 * the proxies' halo.
 * @param {import('./wire-types.js').Header} header
 * @param {string} colouring
 */
export function palette(header, colouring) {
  const own = header.palettes[colouring] || ['#888888'];
  return [...own, ...header.palettes.label, HALO];
}

/**
 * Each sample's palette index under `colouring` at step index `s`, into `out` (its first n entries), then each
 * proxy's halo and core (n + j, n + P + j) into the class colours after the colouring's own.
 * @param {Float32Array} out
 * @param {import('./payload.js').Decoded} payload
 * @param {number} s
 * @param {string} colouring
 */
export function fillColours(out, payload, s, colouring) {
  const { header: h, arrays: a } = payload;
  const n = h.n_points;
  const p = h.n_proxies;
  const own = (h.palettes[colouring] || ['#888888']).length;
  if (colouring === 'grad_norm') {
    const codes = a.grad_norm.subarray(s * n, (s + 1) * n);
    for (let i = 0; i < n; i++) out[i] = gradColour(codes[i], h.grad_levels);
  } else if (colouring === 'nn_outcome' || colouring === 'proxy_outcome') {
    for (let i = 0; i < n; i++) out[i] = outcome(payload, colouring, s, i);
  } else {
    /** @type {Record<string, ArrayLike<number>>} */
    const perColouring = { label: a.labels, mode: a.mode_colour, split: a.split };
    const perSample = perColouring[colouring] || a.labels;
    for (let i = 0; i < n; i++) out[i] = perSample[i];
  }
  const halo = own + h.palettes.label.length;
  for (let j = 0; j < p; j++) {
    out[n + j] = halo;
    out[n + p + j] = own + a.proxy_class[j];
  }
}
