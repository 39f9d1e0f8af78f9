// The control bar over the panes: play, step, speed, loop, colouring, the proxies' toggles, what a drag does and
// "Reset view". It holds the inputs; the player wires them.
import { el } from './dom.js';
import { COLOUR_NAMES, SPEEDS, colourings, drags } from './linked.js';
import { GRAD } from './payload.js';

/** what a drag does: regl-scatterplot's mouse mode and lasso shape */
export const DRAG = /** @type {Record<string, {mouseMode: 'panZoom' | 'lasso', lassoType: 'freeform' | 'rectangle'}>} */ ({
  orbit: { mouseMode: 'panZoom', lassoType: 'freeform' }, // 3-D: the drag rotates (ours), the wheel zooms
  lasso: { mouseMode: 'lasso', lassoType: 'freeform' },
  box: { mouseMode: 'lasso', lassoType: 'rectangle' },
  panZoom: { mouseMode: 'panZoom', lassoType: 'freeform' },
});

/**
 * A labelled <select> of `options` ([value, text]).
 * @param {HTMLElement} parent
 * @param {string} className
 * @param {string} label
 * @param {[string, string][]} options
 */
function select(parent, className, label, options) {
  const wrap = el('label', { textContent: `${label} ` }, parent);
  const node = el('select', { className }, wrap);
  setOptions(node, options);
  return node;
}

/**
 * Replace the options of `node` with `options` ([value, text]).
 * @param {HTMLSelectElement} node
 * @param {[string, string][]} options
 */
export function setOptions(node, options) {
  node.replaceChildren(...options.map(([value, text]) => el('option', { value, textContent: text })));
}

/**
 * A labelled checkbox (an option that the play-only controls hide).
 * @param {HTMLElement} parent
 * @param {string} className
 * @param {string} text
 * @param {boolean} checked
 * @param {string} [title]
 */
function checkbox(parent, className, text, checked, title) {
  const label = el('label', { className: 'pxl-opt', ...(title ? { title } : {}) }, parent);
  const box = el('input', { className, type: 'checkbox', checked }, label);
  label.append(` ${text}`);
  return box;
}

export class Controls {
  /** @param {HTMLElement} root */
  constructor(root) {
    const bar = el('div', { className: 'pxl-bar' }, root);
    this.play = el('button', { className: 'pxl-play', textContent: '▶ Play', title: 'Play / pause' }, bar);
    this.slider = el('input', { className: 'pxl-step', type: 'range', min: '0', step: '1' }, bar);
    this.slider.setAttribute('aria-label', 'training step');
    this.stepLabel = el('span', { className: 'pxl-step-label' }, bar);
    this.speed = select(bar, 'pxl-speed', 'speed', SPEEDS.map((s) => [String(s), `${s}×`]));
    this.speed.value = '1';
    this.loop = checkbox(bar, 'pxl-loop', 'loop', true);
    this.colour = select(bar, 'pxl-colour', 'colour by', []);
    this.colour.parentElement?.classList.add('pxl-opt');
    this.proxies = checkbox(bar, 'pxl-proxies', 'proxies', true);
    this.trails = checkbox(bar, 'pxl-trails-box', 'trajectories', false, "each proxy's path over all steps (solid up to this step)");
    this.links = checkbox(bar, 'pxl-links-box', 'mode → proxy', true, 'each mode joined to its closest own-class sub-proxy; ✓ covered, ✗ not');
    this.mouse = select(bar, 'pxl-mouse', 'drag to', []);
    this.mouse.parentElement?.classList.add('pxl-opt');
    this.reset = el('button', { className: 'pxl-reset pxl-opt', textContent: 'Reset view' }, bar);
  }

  /**
   * Offer what the loaded panes have (colourings, drags, the proxies' toggles) and set it as the view says.
   * @param {import('./pane.js').Pane[]} panes
   * @param {Partial<import('./wire-types.js').View>} view
   */
  configure(panes, view) {
    /** @param {(a: import('./wire-types.js').Arrays) => unknown} test */
    const some = (test) => panes.some((pane) => test(pane.arrays));
    const offered = colourings({
      modes: some((a) => a.modes.some((m) => m >= 0)),
      grad: some((a) => a.grad_norm.some((g) => g !== GRAD.missing)),
      neighbours: some((a) => a.neighbour_same_class?.some((v) => v !== 255)),
      nearestProxy: some((a) => a.nearest_proxy),
    });
    setOptions(this.colour, offered.map((name) => [name, COLOUR_NAMES[name]]));
    this.colour.value = view.colour && offered.includes(view.colour) ? view.colour : 'label';
    const p = Math.max(...panes.map((pane) => pane.proxyCount));
    const dragOptions = drags(panes.some((pane) => pane.dims === 3));
    setOptions(this.mouse, dragOptions);
    this.mouse.value = dragOptions[0][0];
    const steps = panes[0].header.steps.length;
    this.proxies.checked = view.proxies !== false;
    Controls.show(this.proxies, p > 0);
    this.trails.checked = Boolean(view.trajectories) && p > 0;
    Controls.show(this.trails, p > 0 && steps > 1);
    const linked = panes.some((pane) => pane.modeCount > 0);
    this.links.checked = view.links !== false && linked;
    Controls.show(this.links, linked);
    this.slider.max = String(steps - 1);
  }

  /** The drag mode chosen now, as regl-scatterplot's options. */
  get drag() { return DRAG[this.mouse.value] || DRAG.lasso; }

  /**
   * Show or hide the label around `input`.
   * @param {HTMLElement} input
   * @param {boolean} shown
   */
  static show(input, shown) {
    if (input.parentElement) input.parentElement.style.display = shown ? '' : 'none';
  }
}
