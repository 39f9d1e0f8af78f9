// What the browser tests and the benchmark read of a player: state, not pixels. Bundled only into
// dist/player.test.js (PLAYER_TEST_API); the bundle users get has none of it.

/**
 * A pane's state for tests.
 * @param {import('./pane.js').Pane} pane
 */
export function paneTestApi(pane) {
  return {
    get tip() { return pane.tip.style.display === 'none' ? null : pane.tip.textContent; },
    /** Each sample's palette index under the colouring drawn now (what its colour encodes). */
    colourIndices: () => Array.from(pane.valueA.subarray(0, pane.pointCount)),
    /** The tooltip of sample i at the step drawn, as hovering it shows it. @param {number} i */
    tipOf: (i) => { pane.hover(i); return pane.tip.textContent; },
    get tipPicture() {
      return /** @type {HTMLCanvasElement | null} */ (pane.tip.querySelector('canvas.pxl-thumb'))?.toDataURL() ?? null;
    },
    get drawnStep() { return pane.drawnIndex >= 0 ? pane.header.steps[pane.drawnIndex] : null; },
    get nPoints() { return pane.pointCount; },
    get cachedIndexes() { return pane.indexes.size; },
    get title() { return pane.title.textContent; },
    cameraView: () => Array.from(pane.scatter.get('cameraView')),
    /** The points regl-scatterplot highlights as selected. */
    selectedPoints: () => Array.from(pane.scatter.get('selectedPoints')),
    /** The camera now: target, distance and rotation (unrounded). */
    camera: () => pane.cameraState(true),
    get rotation() { return pane.rotation.slice(); },
    get dims() { return pane.dims; },
    /** Screen positions (CSS px) of proxy j's trajectory vertices as drawn, or null when hidden. @param {number} j */
    trail: (j) => {
      const node = pane.trails.querySelector(`.pxl-trail-done[data-proxy="${j}"]`);
      return node ? (node.getAttribute('points') ?? '').split(' ').map((xy) => xy.split(',').map(Number)) : null;
    },
    canvas: () => pane.canvas,
    /** The mode marks as drawn: screen position (CSS px), covered, and the far end of the mode's link. */
    modeMarks: () => {
      const lines = Array.from(pane.trails.querySelectorAll('.pxl-link'));
      const at = (/** @type {Element} */ node, /** @type {string} */ name) => +(node.getAttribute(name) ?? NaN);
      return Array.from(pane.trails.querySelectorAll('.pxl-mark')).map((node, i) => ({
        covered: /** @type {SVGElement} */ (node).dataset.covered === '1', text: node.textContent,
        centre: [at(lines[i], 'x1'), at(lines[i], 'y1')],
        proxy: [at(lines[i], 'x2'), at(lines[i], 'y2')],
      }));
    },
    /** CSS-pixel positions of the proxies' markers, as drawn now (flat proxy index c·K + k). */
    proxyPositions: () => Array.from({ length: pane.proxyCount },
      (_, j) => pane.scatter.getScreenPosition(pane.pointCount + pane.proxyCount + j)),
    /** CSS-pixel positions (relative to the canvas) of the first `count` samples, as drawn now. @param {number} [count] */
    screenPositions: (count) => Array.from({ length: Math.min(count ?? pane.pointCount, pane.pointCount) },
      (_, i) => pane.scatter.getScreenPosition(i)),
  };
}

/** @typedef {ReturnType<typeof paneTestApi>} PaneTestApi */

/**
 * The player's state for tests; timings (ms) are filled in by the player as it draws.
 * @param {import('./player.js').Player} player
 */
export function playerTestApi(player) {
  /** @returns {PaneTestApi} */
  const leadApi = () => /** @type {PaneTestApi} */ (player.lead.api);
  return {
    get step() { return player.steps[player.targetIndex]; },
    get drawnStep() { return player.lead?.api?.drawnStep ?? null; },
    get colour() { return player.controls.colour.value; },
    get drawCount() { return player.drawCount; },
    get playing() { return player.timer !== null; },
    get selection() { return player.selection.slice(); },
    get nPoints() { return player.lead?.pointCount; },
    get cachedIndexes() { return leadApi().cachedIndexes; },
    get panes() { return player.panes.length; },
    get pointSize() { return Array.from(/** @type {number[]} */ (player.lead.scatter.get('pointSize'))); },
    /** @param {number} i */
    pane: (i) => player.panes[i]?.api ?? null,
    /** Add a second pane and take it away again, `times` times (what a linked view and its end do). @param {number} times */
    paneCycles: (times) => {
      const { decoded, view } = /** @type {NonNullable<typeof player.loaded>} */ (player.loaded);
      const id = /** @type {string} */ (player.id);
      for (let i = 0; i < times; i++) {
        player.load(`${id}+cycle${i}`, [decoded[0], decoded[0]], view);
        player.load(id, decoded, view);
      }
    },
    /** The same payloads loaded anew with `view` over the view they came with (what a fresh page with it shows). @param {object} view */
    loadView: (view) => {
      const { decoded, view: was } = /** @type {NonNullable<typeof player.loaded>} */ (player.loaded);
      player.load(/** @type {string} */ (player.id), decoded, { ...was, ...view });
    },
    /** The last report of each kind the player sent Python (setStateValue). */
    reports: /** @type {{view: import('./wire-types.js').ViewReport | null, selection: import('./wire-types.js').SelectionReport | null}} */ ({
      view: null, selection: null,
    }),
    /** @param {number} j */
    trail: (j) => leadApi().trail(j),
    canvas: () => leadApi().canvas(),
    /** @param {number} [count] */
    screenPositions: (count) => leadApi().screenPositions(count),
    /** @type {number | null} */
    redrawMs: null,
    /** @type {number | null} */
    transitionEndMs: null,
    /** @type {number | null} */
    firstDrawMs: null,
    /** @type {number | null} */
    payloadBytes: null,
  };
}
