// The linked group's shared state as pure functions: one step control for every pane (each shows its last step at
// or before the lead's), autoplay's next step, the colourings and drags the panes offer, and one selection of sample
// ids for all panes.

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16];
export const STEP_MS = 700; // one step per 0.7 s at 1x
export const SMOOTH_MS = 150; // play faster than one step per this and steps jump: a transition would not be seen
export const SETTLE_MS = 600; // the view is reported to Python this long after the step (or camera) stopped moving
export const CLICK_AFTER_LASSO_MS = 300; // a click this soon after a lasso ends is the lasso's own closing click

export const COLOUR_NAMES = /** @type {Record<string, string>} */ ({
  label: 'class', mode: 'ground-truth mode', split: 'split', grad_norm: 'gradient norm ‖∂L/∂f(x)‖',
  nn_outcome: 'retrieval: nearest neighbour', proxy_outcome: 'retrieval: most similar proxy',
});

/**
 * The index of the last of `steps` at or before `step` (0 when none is).
 * @param {readonly number[]} steps
 * @param {number} step
 */
export function indexFor(steps, step) {
  let best = 0;
  for (let i = 0; i < steps.length; i++) if (steps[i] <= step) best = i;
  return best;
}

/**
 * `index` kept within a run of `count` steps.
 * @param {number} index
 * @param {number} count
 */
export const clampStep = (index, count) => Math.max(0, Math.min(index, count - 1));

/**
 * Each pane's step index when the lead pane shows step index `target`: the lead that one, every other pane its last
 * step at or before the lead's step.
 * @param {readonly number[]} leadSteps
 * @param {number} target
 * @param {readonly (readonly number[])[]} paneSteps each pane's steps, the lead's first
 */
export const paneIndexes = (leadSteps, target, paneSteps) =>
  paneSteps.map((steps, i) => (i === 0 ? target : indexFor(steps, leadSteps[target])));

/**
 * The step index a payload opens at: the view's step when the run has it, else the last.
 * @param {readonly number[]} steps
 * @param {number | null | undefined} step
 */
export function openingIndex(steps, step) {
  const wanted = step == null ? -1 : steps.indexOf(step);
  return wanted >= 0 ? wanted : steps.length - 1;
}

/**
 * Autoplay's next step index after `target` of `count`: wraps to 0 when looping, null (stop) when not.
 * @param {number} target
 * @param {number} count
 * @param {boolean} loop
 * @returns {number | null}
 */
export function nextStep(target, count, loop) {
  const next = target + 1;
  if (next < count) return next;
  return loop ? 0 : null;
}

/**
 * The transition (ms) of an autoplay step to `next` when a step lasts `period` ms: none on the wrap to the first step
 * or when steps come too fast to see one.
 * @param {number} next
 * @param {number} period
 */
export const playTransitionMs = (next, period) => (next === 0 || period < SMOOTH_MS ? 0 : period * 0.85);

/**
 * The step label: the step, its place in the run, and whether a pane has no proxies stored at it.
 * @param {readonly number[]} steps
 * @param {number} target
 * @param {boolean} proxiesMissing
 */
export const stepLabel = (steps, target, proxiesMissing) => `step ${steps[target]} (${target + 1}/${steps.length})`
  + (proxiesMissing ? ' · no proxies stored at this step' : '');

/**
 * The colourings the panes offer, in menu order.
 * @param {{modes: boolean, grad: boolean, neighbours: boolean, nearestProxy: boolean}} has
 */
export const colourings = (has) => ['label', ...(has.modes ? ['mode'] : []), 'split', ...(has.grad ? ['grad_norm'] : []),
  ...(has.neighbours ? ['nn_outcome'] : []), ...(has.nearestProxy ? ['proxy_outcome'] : [])];

/**
 * What a drag can do, [value, menu text], the default first: rotate when a pane is 3-D.
 * @param {boolean} solid
 * @returns {[string, string][]}
 */
export const drags = (solid) => [...(solid ? /** @type {[string, string][]} */ ([['orbit', 'rotate']]) : []),
  ['lasso', 'lasso-select'], ['box', 'box-select'], ['panZoom', 'pan']];

/**
 * The sample ids among a pane's selected points (its proxies' markers follow the samples), sorted.
 * @param {readonly number[]} points
 * @param {number} pointCount
 */
export const sampleIds = (points, pointCount) => points.filter((i) => i < pointCount).sort((a, b) => a - b);

/**
 * The ids of `ids` a pane of `pointCount` samples has.
 * @param {readonly number[]} ids
 * @param {number} pointCount
 */
export const idsInPane = (ids, pointCount) => ids.filter((i) => i < pointCount);

/**
 * Whether two id lists are the same.
 * @param {readonly number[]} a
 * @param {readonly number[]} b
 */
export const sameIds = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Whether a selection of `selectedCount` points is the closing click of a lasso that ended `sinceLassoEnd` ms ago
 * (a lasso closed where it began also reads as a click on the nearest point) while `heldCount` ids are selected: then
 * the lasso's selection stays.
 * @param {number} selectedCount
 * @param {number} heldCount
 * @param {number} sinceLassoEnd
 */
export const isLassoClosingClick = (selectedCount, heldCount, sinceLassoEnd) =>
  selectedCount === 1 && heldCount > 1 && sinceLassoEnd < CLICK_AFTER_LASSO_MS;
