// What the browser tests and the benchmark read of a player: state, not pixels. Bundled only into
// dist/player.test.js (PLAYER_TEST_API); the bundle users get has none of it.

/** A pane's state for tests. */
export function paneTestApi(pane) {
  return {
    get tip() { return pane.tip.style.display === 'none' ? null : pane.tip.textContent; },
    /** Each sample's palette index under the colouring drawn now (what its colour encodes). */
    colourIndices: () => Array.from(pane.valueA.subarray(0, pane.n)),
    /** The tooltip of sample i at the step drawn, as hovering it shows it. */
    tipOf: (i) => { pane.hover(i); return pane.tip.textContent; },
    get tipPicture() { return pane.tip.querySelector('canvas.pxl-thumb')?.toDataURL() ?? null; },
    get drawnStep() { return pane.drawn >= 0 ? pane.h.steps[pane.drawn] : null; },
    get nPoints() { return pane.n; },
    get cachedIndexes() { return pane.indexes.size; },
    get title() { return pane.title.textContent; },
    cameraView: () => Array.from(pane.scatter.get('cameraView')),
    get rotation() { return pane.rotation.slice(); },
    get dims() { return pane.dims; },
    /** Screen positions (CSS px) of proxy j's trajectory vertices as drawn, or null when hidden. */
    trail: (j) => {
      const node = pane.trails.querySelector(`.pxl-trail-done[data-proxy="${j}"]`);
      return node ? node.getAttribute('points').split(' ').map((xy) => xy.split(',').map(Number)) : null;
    },
    canvas: () => pane.canvas,
    /** The mode marks as drawn: screen position (CSS px), covered, and the far end of the mode's link. */
    modeMarks: () => {
      const lines = Array.from(pane.trails.querySelectorAll('.pxl-link'));
      return Array.from(pane.trails.querySelectorAll('.pxl-mark')).map((node, i) => ({
        covered: node.dataset.covered === '1', text: node.textContent,
        centre: [+lines[i].getAttribute('x1'), +lines[i].getAttribute('y1')],
        proxy: [+lines[i].getAttribute('x2'), +lines[i].getAttribute('y2')],
      }));
    },
    /** CSS-pixel positions of the proxies' markers, as drawn now (flat proxy index c·K + k). */
    proxyPositions: () => Array.from({ length: pane.p }, (_, j) => pane.scatter.getScreenPosition(pane.n + pane.p + j)),
    /** CSS-pixel positions (relative to the canvas) of the first `count` samples, as drawn now. */
    screenPositions: (count) => Array.from({ length: Math.min(count ?? pane.n, pane.n) },
      (_, i) => pane.scatter.getScreenPosition(i)),
  };
}

/** The player's state for tests; timings (ms) are filled in by the player as it draws. */
export function playerTestApi(player) {
  const lead = (name) => (...args) => player.lead.api[name](...args);
  return {
    get step() { return player.h.steps[player.target]; },
    get drawnStep() { return player.lead?.api.drawnStep ?? null; },
    get colour() { return player.colour.value; },
    get drawCount() { return player.drawCount; },
    get playing() { return player.timer !== null; },
    get selection() { return player.selection.slice(); },
    get nPoints() { return player.lead?.n; },
    get cachedIndexes() { return player.lead.api.cachedIndexes; },
    get panes() { return player.panes.length; },
    get pointSize() { return Array.from(player.lead.scatter.get('pointSize')); },
    pane: (i) => player.panes[i]?.api ?? null,
    /** Add a second pane and take it away again, `times` times (what a linked view and its end do). */
    paneCycles: (times) => {
      const { decoded, view } = player.loaded;
      const id = player.id;
      for (let i = 0; i < times; i++) {
        player.load(`${id}+cycle${i}`, [decoded[0], decoded[0]], view);
        player.load(id, decoded, view);
      }
    },
    trail: lead('trail'),
    canvas: lead('canvas'),
    screenPositions: lead('screenPositions'),
    redrawMs: null,
    transitionEndMs: null,
    firstDrawMs: null,
    payloadBytes: null,
  };
}
