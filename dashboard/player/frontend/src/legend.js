// The legend under the panes: what the colours, the marks and the drags mean.
import { el } from './dom.js';
import { className } from './tooltip.js';

/**
 * Three significant digits, in exponent form when the plain one would be long (3.26e-6, not 0.00000326).
 * @param {number} v
 */
export function shortNumber(v) {
  return v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(2) : v.toPrecision(3);
}

/**
 * A colour chip and its name.
 * @param {string} colour
 * @param {string} name
 */
function chip(colour, name) {
  const item = el('span');
  const dot = el('span', { className: 'pxl-chip' }, item);
  dot.style.background = colour;
  item.append(name);
  return item;
}

/**
 * @typedef {object} LegendState
 * @property {import('./wire-types.js').Header} header the lead pane's
 * @property {string} colouring
 * @property {number} target the lead pane's step index
 * @property {number} paneCount
 * @property {boolean} proxies whether proxies are shown and some pane has them
 * @property {boolean} links whether mode links are shown and some pane has them
 * @property {boolean} solid whether some pane is 3-D
 */

/**
 * The legend's items.
 * @param {LegendState} state
 * @returns {HTMLElement[]}
 */
export function legendItems({ header: h, colouring, target, paneCount, proxies, links, solid }) {
  const pal = h.palettes[colouring] || [];
  const items = [];
  if (colouring === 'grad_norm') { // a log scale of the step shown: its range is said, and changes with the step
    const bounds = h.grad_log_bounds[target];
    const ramp = el('span', { className: 'pxl-ramp' });
    ramp.style.background = `linear-gradient(to right, ${pal.slice(0, -1).filter((_, i) => i % 32 === 0).join(',')})`;
    const lo = bounds ? shortNumber(10 ** bounds[0]) : '0';
    const hi = bounds ? shortNumber(10 ** bounds[1]) : '0';
    const item = el('span', { textContent: `‖∂L/∂f(x)‖ at step ${h.steps[target]}, log scale: ${lo} ` });
    item.append(ramp, ` ${hi}${paneCount > 1 ? ' (left pane)' : ''}; grey = not computed (test points)`);
    items.push(item);
  } else if (colouring === 'nn_outcome' || colouring === 'proxy_outcome') {
    const what = colouring === 'nn_outcome' ? 'nearest neighbour (its split)' : 'most similar proxy';
    [`${what}: same class ✓`, `${what}: another class ✗`, 'not computed'].forEach((name, c) => items.push(chip(pal[c], name)));
  } else {
    const names = colouring === 'label' ? pal.map((_, c) => className(h, c))
      : colouring === 'split' ? ['train', 'test'] : pal.map((_, m) => (m ? `mode shade ${m}` : 'mode unknown'));
    const shown = colouring === 'mode' ? [] : names.slice(0, 40);
    shown.forEach((name, c) => items.push(chip(pal[c], name)));
    if (colouring === 'mode') items.push(el('span', { textContent: 'each mode wears a shade of its class colour' }));
  }
  if (proxies) items.push(el('span', { textContent: '● large ringed dots = proxies (class colour)' }));
  if (links) {
    items.push(el('span', { textContent: '— each mode centre joined to its closest own-class proxy: ✓ covered (its nearest proxy is of its class), ✗ not' }));
  }
  if (solid) items.push(el('span', { textContent: '3-D: drag to rotate, wheel to zoom; fainter = farther away' }));
  if (paneCount > 1) items.push(el('span', { textContent: 'one step, one camera, one selection for all panes' }));
  return items;
}
