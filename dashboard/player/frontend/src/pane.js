// One pane: a run's payload on its own canvas (regl-scatterplot), with its SVG overlay and tooltip. Several panes
// share the controls, the step, the camera and the selection (the player links them).
import createScatterplot, { createRenderer } from 'regl-scatterplot';
import { IDENTITY, ORBIT_RAD_PER_PX, fitDistance, modelFit, obliqueRotation, orbit, place, toScreen } from './camera.js';
import { fillColours, hasProxies, palette } from './colours.js';
import { el, svg } from './dom.js';
import { vertexPairs } from './geometry.js';
import { indexFor } from './linked.js';
import { modeLinks, sphereOutline, trajectories } from './overlay.js';
import { paneTestApi } from './test-api.js';
import { showTip, thumbnail, tipText } from './tooltip.js';

/* global PLAYER_TEST_API */ // esbuild --define: false in dist/player.js (users), true in dist/player.test.js

const INDEX_CACHE_BYTES = 64 * 2 ** 20; // spatial indexes (lasso, hover) kept per step for the next loop
const DEPTH_BINS = 8; // 3-D: samples drawn in 8 depth layers, the far ones fainter
// after the depth layers: halo, core; +2 when behind the centre; absent: a step without proxies (drawn at size 0)
const PROXY = { halo: 0, core: 1, far: 2, absent: 4 };

/** @typedef {import('./player.js').Player} Player */

export class Pane {
  /**
   * @param {Player} player
   * @param {HTMLElement} parent
   */
  constructor(player, parent) {
    this.player = player;
    this.stage = el('div', { className: 'pxl-stage' }, parent);
    this.canvas = el('canvas', {}, this.stage);
    this.trails = svg('svg', { class: 'pxl-trails' });
    this.stage.appendChild(this.trails);
    this.title = el('div', { className: 'pxl-title' }, this.stage);
    this.tip = el('div', { className: 'pxl-tip' }, this.stage);
    // A renderer of the pane's own size: regl-scatterplot's default one is as large as the window, and every
    // frame clears, gamma-corrects and copies all of it (in software WebGL, most of a frame's time)
    this.renderer = createRenderer({ canvas: document.createElement('canvas') });
    this.renderer.resize(600, 400);
    this.scatter = createScatterplot({
      renderer: this.renderer, canvas: this.canvas, width: 600, height: 400, backgroundColor: '#ffffff', ...player.controls.drag,
      colorBy: 'valueA', sizeBy: 'valueB', opacity: 0.9, opacityInactiveMax: 0.2, pointColorActive: '#111111',
      pointOutlineWidth: 1, pointSizeSelected: 1, lassoColor: '#333333', deselectOnDblClick: true,
      deselectOnEscape: true,
    });
    /** @type {import('./payload.js').Decoded | null} */
    this.payload = null;
    this.drawing = false;
    this.drawnIndex = -1; // the step index drawn (-1: none yet)
    this.wantedIndex = 0; // the step index to draw
    this.version = 0; // bumped when the same step must be drawn again (new colours, a rotation)
    this.drawnVersion = -1;
    this.fitted = false;
    /** @type {number | null} */
    this.lassoEndAt = null;
    this.scatter.subscribe('view', ({ view }) => {
      this.drawOverlay();
      player.followCamera(this, view);
      player.reportSoon(); // the camera moved: Python hears it once it settles
    });
    // A 2-D lasso or box is the player's (selectionPolygon): regl-scatterplot's own selection while it draws one
    // is ignored, and the lasso's polygon selects when it ends. 3-D panes keep regl-scatterplot's selection.
    this.lassoing = false;
    this.scatter.subscribe('lassoStart', () => { this.lassoing = this.dims === 2; });
    this.scatter.subscribe('lassoEnd', ({ coordinates }) => {
      this.lassoEndAt = performance.now();
      if (!this.lassoing) return;
      this.lassoing = false;
      player.lassoed(this, vertexPairs(coordinates));
    });
    this.scatter.subscribe('select', ({ points }) => { if (!this.lassoing) player.selected(this, points); });
    this.scatter.subscribe('deselect', () => { if (!this.lassoing) player.selected(this, []); });
    this.scatter.subscribe('pointOver', (i) => this.hover(i));
    this.scatter.subscribe('pointOut', () => { this.tip.style.display = 'none'; });
    this.scatter.subscribe('draw', () => player.drewFrame(this));
    this.scatter.subscribe('transitionEnd', () => player.transitionEnded(this));
    /** @type {number[]} */
    this.rotation = IDENTITY.slice();
    /** @type {[number, number] | null} */
    this.orbitDrag = null;
    // window listeners end with the pane (destroy aborts them): a destroyed pane and its arrays stay unreachable
    this.listeners = new AbortController();
    const { signal } = this.listeners;
    this.stage.addEventListener('mousedown', (e) => this.orbitStart(e), { capture: true, signal });
    window.addEventListener('mousemove', (e) => this.orbitMove(e), { signal });
    window.addEventListener('mouseup', () => { this.orbitDrag = null; }, { signal });
    this.api = PLAYER_TEST_API ? paneTestApi(this) : null; // only in the test bundle (dist/player.test.js)
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.stage);
    // empty until a payload is loaded
    this.pointCount = 0;
    this.proxyCount = 0;
    this.modeCount = 0; // modes joined to their proxies
    this.dims = 2;
    this.depthBins = 1;
    /** @type {import('./camera.js').ModelFit} */
    this.fit = { offset: [0, 0], scale: [1, 1], sphereCentre: null, sphereRadius: 1 };
    /** @type {Map<number, ArrayBuffer>} step index -> regl-scatterplot's spatial index of that step */
    this.indexes = new Map();
    this.indexBytes = 0;
    this.x = new Float32Array(0);
    this.y = new Float32Array(0);
    this.depth = new Float32Array(0);
    this.valueA = new Float32Array(0);
    this.valueB = new Float32Array(0);
    /** @type {[number, number, number, number][]} */
    this.rows = [];
  }

  /** The loaded payload's header (a pane is used once loaded). */
  get header() { return /** @type {import('./payload.js').Decoded} */ (this.payload).header; }

  /** The loaded payload's arrays. */
  get arrays() { return /** @type {import('./payload.js').Decoded} */ (this.payload).arrays; }

  resize() {
    const { width, height } = this.stage.getBoundingClientRect();
    if (width > 0 && height > 0) {
      this.renderer.resize(width, height);
      this.scatter.set({ width, height });
      if (!this.fitted) this.fitCamera();
    }
    this.drawOverlay();
  }

  /** Zoom out so that the whole [-1, 1] square shows in a pane narrower than it is tall (regl-scatterplot fits
   * the height); done once per payload and on "Reset view", never over a zoom of the user's. */
  fitCamera() {
    const { width, height } = this.stage.getBoundingClientRect();
    if (!(width > 0 && height > 0)) return;
    this.fitted = true;
    this.scatter.set({ cameraDistance: fitDistance(width, height) });
  }

  /**
   * The camera now: regl-scatterplot's target and distance, and the rotation when `turned`.
   * @param {boolean} turned
   * @returns {import('./camera.js').CameraState}
   */
  cameraState(turned) {
    const [x, y] = this.scatter.get('cameraTarget');
    return { target: [x, y], distance: this.scatter.get('cameraDistance'), rotation: turned ? this.rotation.slice() : null };
  }

  /**
   * Start at `state` instead of fitting the camera (a view from Python: a shared link); a 2-D pane takes no rotation.
   * @param {import('./camera.js').CameraState} state
   */
  setCamera({ target, distance, rotation }) {
    this.fitted = true;
    this.scatter.set({ cameraTarget: target, cameraDistance: distance });
    if (rotation && this.dims === 3) this.setRotation(rotation.slice());
  }

  /** @param {import('./payload.js').Decoded} payload */
  load(payload) {
    const { header, arrays } = payload;
    this.payload = payload;
    this.indexes = new Map();
    this.indexBytes = 0;
    const n = header.n_points;
    const p = header.n_proxies;
    this.pointCount = n;
    this.proxyCount = p;
    this.dims = header.dims || 2;
    // valueB: samples' depth layer 0..bins-1, then a proxy's halo and core, each near (in front) or far (behind)
    this.depthBins = this.dims === 3 ? DEPTH_BINS : 1;
    this.fit = modelFit(header, arrays);
    const total = n + 2 * p; // samples, then each proxy twice: a black halo under a class-coloured core
    this.x = new Float32Array(total);
    this.y = new Float32Array(total);
    this.depth = new Float32Array(total);
    this.valueA = new Float32Array(total);
    this.valueB = new Float32Array(total);
    this.valueB.fill(this.depthBins + PROXY.halo, n, n + p);
    this.valueB.fill(this.depthBins + PROXY.core, n + p);
    // the rows regl-scatterplot draws, [x, y, valueA, valueB] per point, allocated once per payload and refilled
    // in place each step (handing it typed arrays makes it allocate n small arrays per draw)
    this.rows = Array.from({ length: total }, () => [0, 0, 0, 0]);
    if (this.dims === 3) this.rotation = obliqueRotation();
    else this.scatter.set({ pointOrder: null }); // a 2-D payload after a 3-D one: the input order again
    this.title.textContent = header.title || '';
    this.modeCount = arrays.mode_centres && header.arrays.mode_centres ? header.arrays.mode_centres.shape[1] : 0;
    this.drawnIndex = -1;
    this.fitted = false;
    this.fitCamera();
  }

  /**
   * Model coordinates [x, y, depth] of the point whose codes start at `at` in `codes` (rotated in 3-D).
   * @param {ArrayLike<number>} codes
   * @param {number} at
   */
  place(codes, at) { return place(codes, at, this.fit, this.rotation, this.dims); }

  /**
   * 3-D, drag to rotate ("drag to: rotate"): taken before regl-scatterplot sees the press.
   * @param {MouseEvent} event
   */
  orbitStart(event) {
    this.lassoing = false; // a new press: a lasso that never ended is over
    if (this.dims !== 3 || this.player.controls.mouse.value !== 'orbit' || event.button !== 0) return;
    event.stopPropagation();
    event.preventDefault();
    this.orbitDrag = [event.clientX, event.clientY];
  }

  /** @param {MouseEvent} event */
  orbitMove(event) {
    if (!this.orbitDrag) return;
    const [x0, y0] = this.orbitDrag;
    this.orbitDrag = [event.clientX, event.clientY];
    this.player.rotate(this, (event.clientX - x0) * ORBIT_RAD_PER_PX, (event.clientY - y0) * ORBIT_RAD_PER_PX);
  }

  /**
   * Turn by `yaw` about the screen's vertical axis and `pitch` about its horizontal one, then redraw.
   * @param {number} yaw
   * @param {number} pitch
   */
  turn(yaw, pitch) {
    this.setRotation(orbit(this.rotation, yaw, pitch));
  }

  /** @param {number[]} rotation */
  setRotation(rotation) {
    this.rotation = rotation;
    this.indexes.clear(); // the spatial indexes hold screen positions of another rotation
    this.indexBytes = 0;
    this.version += 1;
    this.drawOverlay();
  }

  /**
   * This pane's step index for the player's step: the last of its steps at or before that step.
   * @param {number} step
   */
  indexFor(step) { return indexFor(this.header.steps, step); }

  /**
   * Whether step index `s` has proxies.
   * @param {number} s
   */
  hasProxies(s) { return hasProxies(/** @type {import('./payload.js').Decoded} */ (this.payload), s); }

  /**
   * Marker sizes and opacities: the samples' depth layers, then the proxies' halo and core (hidden: size 0).
   * @param {boolean} shown whether proxies are shown
   * @param {boolean} [redraw]
   */
  applySizes(shown, redraw = true) {
    const { point, proxy } = this.player.sizes; // presenter mode: at least these (CSS px)
    const n = this.pointCount;
    const bins = this.depthBins;
    const base = Math.max(point || 0, n > 50000 ? 2 : n > 10000 ? 3 : 5);
    const core = proxy || 13;
    const layers = Array.from({ length: bins }, (_, b) => (bins > 1 ? 0.25 + (0.7 * b) / (bins - 1) : 0.9));
    this.scatter.set({
      pointSize: [...Array(bins).fill(base), ...[core + 6, core, core + 6, core].map((size) => (shown ? size : 0)), 0, 0],
      // 3-D: far layers and far proxies fainter; hidden proxies are transparent (a size 0 still leaves a speck)
      opacityBy: 'valueB', opacity: [...layers, ...(shown ? [1, 1, 0.35, 0.35] : [0, 0, 0, 0]), 0, 0],
    });
    if (redraw) this.scatter.redraw?.();
  }

  /**
   * Positions, depth layers and colours of every marker at step index `s`.
   * @param {number} s
   * @param {string} colouring
   */
  fill(s, colouring) {
    const { pointCount: n, proxyCount: p, arrays: a, dims: D, depthBins: bins } = this;
    const pts = a.points.subarray(s * n * D, (s + 1) * n * D);
    if (D === 2) { // the hot loop of autoplay at 100k points: no rotation, no depth
      const [ox, oy] = this.fit.offset;
      const [sx, sy] = this.fit.scale;
      for (let i = 0; i < n; i++) {
        this.x[i] = ox + pts[2 * i] * sx;
        this.y[i] = oy + pts[2 * i + 1] * sy;
      }
    } else {
      for (let i = 0; i < n; i++) {
        [this.x[i], this.y[i], this.depth[i]] = this.place(pts, 3 * i);
        this.valueB[i] = Math.min(bins - 1, Math.max(0, Math.floor(((this.depth[i] + 1) / 2) * bins)));
      }
    }
    const prx = a.proxies.subarray(s * p * D, (s + 1) * p * D);
    const present = this.hasProxies(s);
    for (let j = 0; j < p; j++) {
      const [px, py, pz] = this.place(prx, D * j);
      this.x[n + j] = this.x[n + p + j] = px;
      this.y[n + j] = this.y[n + p + j] = py;
      const behind = !present ? PROXY.absent : pz < 0 ? PROXY.far : 0;
      this.valueB[n + j] = bins + PROXY.halo + behind;
      this.valueB[n + p + j] = bins + PROXY.core + behind;
    }
    if (D === 3) { // far samples first, near ones over them, proxies on top
      const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => this.depth[i] - this.depth[j]);
      for (let j = n; j < n + 2 * p; j++) order.push(j);
      this.scatter.set({ pointOrder: order });
    }
    fillColours(this.valueA, /** @type {import('./payload.js').Decoded} */ (this.payload), s, colouring);
  }

  /**
   * Draw step index `wantedIndex`; regl-scatterplot refuses a draw while one runs, so later requests wait for it.
   * @param {number} transitionMs
   * @param {string} colouring
   * @param {number[]} selection
   */
  flush(transitionMs, colouring, selection) {
    if (this.drawing || (this.drawnIndex === this.wantedIndex && this.drawnVersion === this.version)) return;
    const step = this.wantedIndex;
    const version = this.version;
    const transition = this.drawnIndex >= 0 && transitionMs > 0;
    this.fill(step, colouring);
    this.scatter.set({ pointColor: palette(this.header, colouring) });
    this.drawing = true;
    const { rows, x, y, valueA, valueB } = this;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      row[0] = x[i];
      row[1] = y[i];
      row[2] = valueA[i];
      row[3] = valueB[i];
    }
    this.scatter.draw(rows, {
      transition, transitionDuration: transitionMs, zDataType: 'categorical', wDataType: 'categorical',
      preventFilterReset: true, select: selection.filter((i) => i < this.pointCount), spatialIndex: this.indexes.get(step),
    }).then(() => {
      this.drawnIndex = step;
      this.drawnVersion = version;
      if (version === this.version) this.keepIndex(step);
    }).catch((e) => console.error('player draw failed', e)).finally(() => {
      this.drawing = false;
      this.player.flushPane(this);
    });
  }

  /**
   * Keep the spatial index regl-scatterplot built for step index `step`: the next time (a loop) it is not rebuilt.
   * @param {number} step
   */
  keepIndex(step) {
    if (this.indexes.has(step)) return;
    const index = this.scatter.get('spatialIndex');
    if (!(index instanceof ArrayBuffer) || this.indexBytes + index.byteLength > INDEX_CACHE_BYTES) return;
    this.indexes.set(step, index);
    this.indexBytes += index.byteLength;
  }

  /**
   * Model coordinates -> CSS pixels on the canvas, as regl-scatterplot draws (projection . view . model).
   * @param {number} x
   * @param {number} y
   */
  toScreen(x, y) {
    const { width, height } = this.stage.getBoundingClientRect();
    return toScreen(this.scatter.get('cameraView'), width, height, x, y);
  }

  /** Code units of this pane's payload per CSS pixel on screen, along the finer of its two axes. */
  codesPerPixel() {
    const view = this.scatter.get('cameraView');
    const { height } = this.stage.getBoundingClientRect();
    const pixelsPerModel = ((Math.hypot(view[0], view[1]) || 1) * (height || 1)) / 2;
    const perAxis = this.fit.scale.slice(0, 2).filter((k) => k > 0).map((k) => 1 / (pixelsPerModel * k));
    return perAxis.length ? Math.min(...perAxis) : 1;
  }

  /** The SVG drawn over the canvas: a sphere's outline, proxy trajectories, mode -> proxy links. */
  drawOverlay() {
    const { width, height } = this.stage.getBoundingClientRect();
    if (!(width > 0 && height > 0) || !this.payload) { // detached or not laid out yet (a scene change): nothing to place; resize redraws
      this.trails.replaceChildren();
      return;
    }
    const { controls, sizes } = this.player;
    const nodes = [...sphereOutline(this), ...(controls.trails.checked ? trajectories(this) : []),
      ...(controls.links.checked && controls.proxies.checked ? modeLinks(this, (sizes.font ?? 0) >= 18) : [])];
    this.trails.replaceChildren(...nodes);
  }

  /**
   * Show the tooltip of point i (a sample, or a proxy's marker) at the step shown.
   * @param {number} i
   */
  hover(i) {
    const payload = /** @type {import('./payload.js').Decoded} */ (this.payload);
    const text = tipText(payload, i, this.wantedIndex);
    const picture = i < this.pointCount ? thumbnail(payload, i) : null;
    const [sx, sy] = this.scatter.getScreenPosition(i) || [0, 0];
    showTip(this.tip, this.stage, text, picture, sx, sy);
  }

  destroy() {
    this.listeners.abort();
    this.resizer.disconnect();
    this.scatter.destroy();
    this.renderer.destroy(); // ours: regl-scatterplot destroys only a renderer it made
    this.stage.remove();
  }
}
