// The embedding player (a Streamlit components-v2 module): decodes the run payload once (see
// dashboard/player/payload.py for the format), then steps, plays and recolours it in the browser with
// regl-scatterplot. Python hears back only a lasso ("selection") and, once the step stops moving, the view.
import createScatterplot, { createRenderer } from 'regl-scatterplot';
import { GRAD, decode, gradColour, gradValue, unpack } from './payload.js';
import { paneTestApi, playerTestApi } from './test-api.js';

/* global PLAYER_TEST_API */ // esbuild --define: false in dist/player.js (users), true in dist/player.test.js

const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16];
const STEP_MS = 700; // one step per 0.7 s at 1×
const SMOOTH_MS = 150; // play faster than one step per this and steps jump: a transition would not be seen
const INDEX_CACHE_BYTES = 64 * 2 ** 20; // spatial indexes (lasso, hover) kept per step for the next loop
const SETTLE_MS = 600; // the view is reported to Python this long after the step stopped moving
const COLOUR_NAMES = {
  label: 'class', mode: 'ground-truth mode', split: 'split', grad_norm: 'gradient norm ‖∂L/∂f(x)‖',
  nn_outcome: 'retrieval: nearest neighbour', proxy_outcome: 'retrieval: most similar proxy',
};
// retrieval outcomes, as palette indices (payload palettes nn_outcome / proxy_outcome)
const OUTCOME = { right: 0, wrong: 1, unknown: 2 };
const DEPTH_BINS = 8; // 3-D: samples drawn in 8 depth layers, the far ones fainter
const ORBIT_RAD_PER_PX = 0.01;
const OBLIQUE = [0.6, 0.45]; // 3-D opens turned (yaw, pitch in rad), so that depth reads at once
// after the depth layers: halo, core; +2 when behind the centre; absent: a step without proxies (drawn at size 0)
const PROXY = { halo: 0, core: 1, far: 2, absent: 4 };
const HALO = '#000000';
const SVG = 'http://www.w3.org/2000/svg';
// what a drag does: regl-scatterplot's mouse mode and lasso shape
const DRAG = {
  orbit: { mouseMode: 'panZoom', lassoType: 'freeform' }, // 3-D: the drag rotates (ours), the wheel zooms
  lasso: { mouseMode: 'lasso', lassoType: 'freeform' },
  box: { mouseMode: 'lasso', lassoType: 'rectangle' },
  panZoom: { mouseMode: 'panZoom', lassoType: 'freeform' },
};
const CSS = `
.pxl-player { font: 14px "Source Sans Pro", sans-serif; color: #262730; }
.pxl-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; margin: 0 0 6px; }
.pxl-bar button { font: inherit; padding: 2px 10px; border: 1px solid #bbb; border-radius: 6px; background: #fff; cursor: pointer; }
.pxl-bar select { font: inherit; }
.pxl-step { flex: 1 1 220px; min-width: 160px; }
.pxl-step-label { min-width: 130px; font-variant-numeric: tabular-nums; }
.pxl-row { display: flex; gap: 8px; }
.pxl-stage { position: relative; flex: 1 1 0; min-width: 0; border: 1px solid #e6e6e6; border-radius: 6px; overflow: hidden; }
.pxl-stage canvas { display: block; width: 100%; height: 100%; }
.pxl-trails { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
.pxl-title { position: absolute; left: 10px; top: 6px; font-weight: 600; pointer-events: none; }
.pxl-tip { position: absolute; display: none; pointer-events: none; background: rgba(255,255,255,.95); font-size: 0.85em;
  border: 1px solid #999; border-radius: 4px; padding: 3px 6px; white-space: pre; }
.pxl-thumb { display: block; margin-bottom: 3px; image-rendering: pixelated; border: 1px solid #ddd; }
.pxl-legend { display: flex; flex-wrap: wrap; gap: 2px 12px; margin-top: 4px; font-size: 0.85em; }
.pxl-chip { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; vertical-align: middle; }
.pxl-ramp { display: inline-block; width: 140px; height: 10px; vertical-align: middle; margin: 0 4px; }
.pxl-play-only .pxl-opt { display: none; }
.pxl-mark { font-weight: 700; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }
`;

/** Three significant digits, in exponent form when the plain one would be long (3.26e-6, not 0.00000326). */
function shortNumber(v) {
  return v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(2) : v.toPrecision(3);
}

function el(tag, attrs = {}, parent = null) {
  const node = document.createElement(tag);
  Object.assign(node, attrs);
  if (parent) parent.appendChild(node);
  return node;
}

/** Rx(pitch) · Ry(yaw), row-major: a turn by `yaw` about the screen's vertical axis, then `pitch` about its
 * horizontal one. */
function turnMatrix(yaw, pitch) {
  const [cy, sy, cp, sp] = [Math.cos(yaw), Math.sin(yaw), Math.cos(pitch), Math.sin(pitch)];
  return [cy, 0, sy, sp * sy, cp, -sp * cy, -cp * sy, sp, cp * cy];
}

/** 3×3 matrices, row-major: a · b. */
function multiply(a, b) {
  const out = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[3 * r + c] += a[3 * r + k] * b[3 * k + c];
  return out;
}

/** One scatter: a run's payload on its own canvas (several panes share the controls, the step and the camera). */
class Pane {
  constructor(player, parent) {
    this.player = player;
    this.stage = el('div', { className: 'pxl-stage' }, parent);
    this.canvas = el('canvas', {}, this.stage);
    this.trails = document.createElementNS(SVG, 'svg');
    this.trails.setAttribute('class', 'pxl-trails');
    this.stage.appendChild(this.trails);
    this.title = el('div', { className: 'pxl-title' }, this.stage);
    this.tip = el('div', { className: 'pxl-tip' }, this.stage);
    // A renderer of the pane's own size: regl-scatterplot's default one is as large as the window, and every
    // frame clears, gamma-corrects and copies all of it (in software WebGL, most of a frame's time)
    this.renderer = createRenderer({ canvas: document.createElement('canvas') });
    this.renderer.resize(600, 400);
    this.scatter = createScatterplot({
      renderer: this.renderer, canvas: this.canvas, width: 600, height: 400, backgroundColor: '#ffffff', ...(DRAG[player.mouse.value] || DRAG.lasso),
      colorBy: 'valueA', sizeBy: 'valueB', opacity: 0.9, opacityInactiveMax: 0.2, pointColorActive: '#111111',
      pointOutlineWidth: 1, pointSizeSelected: 1, lassoColor: '#333333', deselectOnDblClick: true,
      deselectOnEscape: true,
    });
    this.drawing = false;
    this.drawn = -1;
    this.want = 0;
    this.version = 0; // bumped when the same step must be drawn again (new colours, a rotation)
    this.drawnVersion = -1;
    this.scatter.subscribe('view', ({ view }) => {
      this.drawOverlay();
      player.followCamera(this, view);
    });
    this.scatter.subscribe('lassoEnd', () => { this.lassoEndAt = performance.now(); });
    this.scatter.subscribe('select', ({ points }) => player.selected(this, points));
    this.scatter.subscribe('deselect', () => player.selected(this, []));
    this.scatter.subscribe('pointOver', (i) => this.hover(i));
    this.scatter.subscribe('pointOut', () => { this.tip.style.display = 'none'; });
    this.scatter.subscribe('draw', () => player.drewFrame(this));
    this.scatter.subscribe('transitionEnd', () => player.transitionEnded(this));
    this.rotation = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    this.orbitDrag = null;
    // window listeners end with the pane (destroy aborts them): a destroyed pane and its arrays stay unreachable
    this.listeners = new AbortController();
    const { signal } = this.listeners;
    this.stage.addEventListener('mousedown', (e) => this.orbitStart(e), { capture: true, signal });
    window.addEventListener('mousemove', (e) => this.orbitMove(e), { signal });
    window.addEventListener('mouseup', () => { this.orbitDrag = null; }, { signal });
    if (PLAYER_TEST_API) this.api = paneTestApi(this); // only in the test bundle (dist/player.test.js)
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.stage);
  }

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
    this.scatter.set({ cameraDistance: Math.max(1, height / width) });
  }

  load(header, arrays) {
    this.h = header;
    this.a = arrays;
    this.indexes = new Map(); // step index → regl-scatterplot's spatial index of that step (an ArrayBuffer)
    this.indexBytes = 0;
    const n = header.n_points;
    const p = header.n_proxies;
    this.n = n;
    this.p = p;
    this.dims = header.dims || 2;
    // valueB: samples' depth layer 0..bins-1, then a proxy's halo and core, each near (in front) or far (behind)
    this.bins = this.dims === 3 ? DEPTH_BINS : 1;
    // code → centred model coordinate per axis: offset + code * scale. One scale for all axes, so distances keep
    // their proportions: 2-D fills the square view; 3-D fits the farthest point at any rotation
    const L = header.coord_levels;
    const mids = header.bounds.map(([lo, hi]) => (lo + hi) / 2);
    let fit = 1.9 / (Math.max(...header.bounds.map(([lo, hi]) => hi - lo)) || 1);
    if (this.dims === 3) fit = 0.95 / (this.radius(header, arrays, mids) || 1);
    this.scale = header.bounds.map(([lo, hi]) => ((hi - lo) / L) * fit);
    this.offset = header.bounds.map(([lo], a) => (lo - mids[a]) * fit);
    [this.ox, this.oy] = this.offset;
    [this.sx, this.sy] = this.scale;
    this.sphereCentre = header.sphere ? mids.map((m) => -m * fit) : null; // the unit sphere, in model coordinates
    this.sphereRadius = fit;
    const total = n + 2 * p; // samples, then each proxy twice: a black halo under a class-coloured core
    this.x = new Float32Array(total);
    this.y = new Float32Array(total);
    this.depth = new Float32Array(total);
    this.valueA = new Float32Array(total);
    this.valueB = new Float32Array(total);
    this.valueB.fill(this.bins + PROXY.halo, n, n + p);
    this.valueB.fill(this.bins + PROXY.core, n + p);
    // the rows regl-scatterplot draws, [x, y, valueA, valueB] per point, allocated once per payload and refilled
    // in place each step (handing it typed arrays makes it allocate n small arrays per draw)
    this.rows = Array.from({ length: total }, () => [0, 0, 0, 0]);
    if (this.dims === 3) this.rotation = turnMatrix(...OBLIQUE);
    else this.scatter.set({ pointOrder: null }); // a 2-D payload after a 3-D one: the input order again
    this.title.textContent = header.title || '';
    this.m = arrays.mode_centres ? header.arrays.mode_centres.shape[1] : 0; // modes joined to their proxies
    this.drawn = -1;
    this.fitted = false;
    this.fitCamera();
  }

  /** Largest distance of any point or proxy, at any step, from the centre of the bounds (data units). */
  radius(header, arrays, mids) {
    const L = header.coord_levels;
    const unit = header.bounds.map(([lo, hi]) => (hi - lo) / L);
    let far = 0;
    for (const codes of [arrays.points, arrays.proxies]) {
      for (let i = 0; i < codes.length; i += 3) {
        let r2 = 0;
        for (let a = 0; a < 3; a++) {
          const v = header.bounds[a][0] + codes[i + a] * unit[a] - mids[a];
          r2 += v * v;
        }
        if (r2 > far) far = r2;
      }
    }
    return Math.sqrt(far);
  }

  /** Model coordinates [x, y, depth] of the point whose codes start at `at` in `codes` (rotated in 3-D). */
  place(codes, at) {
    const { offset: o, scale: k } = this;
    const vx = o[0] + codes[at] * k[0];
    const vy = o[1] + codes[at + 1] * k[1];
    if (this.dims === 2) return [vx, vy, 0];
    const vz = o[2] + codes[at + 2] * k[2];
    const R = this.rotation;
    return [R[0] * vx + R[1] * vy + R[2] * vz, R[3] * vx + R[4] * vy + R[5] * vz, R[6] * vx + R[7] * vy + R[8] * vz];
  }

  /** 3-D, drag to rotate ("drag to: rotate"): taken before regl-scatterplot sees the press. */
  orbitStart(event) {
    if (this.dims !== 3 || this.player.mouse.value !== 'orbit' || event.button !== 0) return;
    event.stopPropagation();
    event.preventDefault();
    this.orbitDrag = [event.clientX, event.clientY];
  }

  orbitMove(event) {
    if (!this.orbitDrag) return;
    const [x0, y0] = this.orbitDrag;
    this.orbitDrag = [event.clientX, event.clientY];
    this.player.rotate(this, (event.clientX - x0) * ORBIT_RAD_PER_PX, (event.clientY - y0) * ORBIT_RAD_PER_PX);
  }

  /** Turn by `yaw` about the screen's vertical axis and `pitch` about its horizontal one, then redraw. */
  turn(yaw, pitch) {
    this.setRotation(multiply(turnMatrix(yaw, pitch), this.rotation));
  }

  setRotation(rotation) {
    this.rotation = rotation;
    this.indexes.clear(); // the spatial indexes hold screen positions of another rotation
    this.indexBytes = 0;
    this.version += 1;
    this.drawOverlay();
  }

  /** This pane's step index for the player's step: the last of its steps at or before that step. */
  indexFor(step) {
    const steps = this.h.steps;
    let best = 0;
    for (let i = 0; i < steps.length; i++) if (steps[i] <= step) best = i;
    return best;
  }

  applySizes(shown, redraw = true) {
    const { point, proxy } = this.player.sizes; // presenter mode: at least these (CSS px)
    const base = Math.max(point || 0, this.n > 50000 ? 2 : this.n > 10000 ? 3 : 5);
    const core = proxy || 13;
    const layers = Array.from({ length: this.bins }, (_, b) => (this.bins > 1 ? 0.25 + (0.7 * b) / (this.bins - 1) : 0.9));
    this.scatter.set({
      pointSize: [...Array(this.bins).fill(base), ...[core + 6, core, core + 6, core].map((size) => (shown ? size : 0)), 0, 0],
      // 3-D: far layers and far proxies fainter; hidden proxies are transparent (a size 0 still leaves a speck)
      opacityBy: 'valueB', opacity: [...layers, ...(shown ? [1, 1, 0.35, 0.35] : [0, 0, 0, 0]), 0, 0],
    });
    if (redraw) this.scatter.redraw?.();
  }

  palette(colouring) {
    const own = this.h.palettes[colouring] || ['#888888'];
    return [...own, ...this.h.palettes.label, HALO];
  }

  fill(stepIndex, colouring) {
    const { n, p, a, dims: D } = this;
    const pts = a.points.subarray(stepIndex * n * D, (stepIndex + 1) * n * D);
    if (D === 2) { // the hot loop of autoplay at 100k points: no rotation, no depth
      for (let i = 0; i < n; i++) {
        this.x[i] = this.ox + pts[2 * i] * this.sx;
        this.y[i] = this.oy + pts[2 * i + 1] * this.sy;
      }
    } else {
      for (let i = 0; i < n; i++) {
        [this.x[i], this.y[i], this.depth[i]] = this.place(pts, 3 * i);
        this.valueB[i] = Math.min(this.bins - 1, Math.max(0, Math.floor(((this.depth[i] + 1) / 2) * this.bins)));
      }
    }
    const prx = a.proxies.subarray(stepIndex * p * D, (stepIndex + 1) * p * D);
    const present = this.hasProxies(stepIndex);
    for (let j = 0; j < p; j++) {
      const [px, py, pz] = this.place(prx, D * j);
      this.x[n + j] = this.x[n + p + j] = px;
      this.y[n + j] = this.y[n + p + j] = py;
      const behind = !present ? PROXY.absent : pz < 0 ? PROXY.far : 0;
      this.valueB[n + j] = this.bins + PROXY.halo + behind;
      this.valueB[n + p + j] = this.bins + PROXY.core + behind;
    }
    if (D === 3) { // far samples first, near ones over them, proxies on top
      const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => this.depth[i] - this.depth[j]);
      for (let j = n; j < n + 2 * p; j++) order.push(j);
      this.scatter.set({ pointOrder: order });
    }
    const own = (this.h.palettes[colouring] || ['#888888']).length;
    if (colouring === 'grad_norm') {
      const codes = a.grad_norm.subarray(stepIndex * n, (stepIndex + 1) * n);
      for (let i = 0; i < n; i++) this.valueA[i] = gradColour(codes[i], this.h.grad_levels);
    } else if (colouring === 'nn_outcome' || colouring === 'proxy_outcome') {
      for (let i = 0; i < n; i++) this.valueA[i] = this.outcome(colouring, stepIndex, i);
    } else {
      const perSample = { label: a.labels, mode: a.mode_colour, split: a.split }[colouring] || a.labels;
      for (let i = 0; i < n; i++) this.valueA[i] = perSample[i];
    }
    const halo = own + this.h.palettes.label.length;
    for (let j = 0; j < p; j++) {
      this.valueA[n + j] = halo;
      this.valueA[n + p + j] = own + a.proxy_class[j];
    }
  }

  /** Draw step index `want`; regl-scatterplot refuses a draw while one runs, so later requests wait for it. */
  flush(transitionMs, colouring, selection) {
    if (this.drawing || (this.drawn === this.want && this.drawnVersion === this.version)) return;
    const step = this.want;
    const version = this.version;
    const transition = this.drawn >= 0 && transitionMs > 0;
    this.fill(step, colouring);
    this.scatter.set({ pointColor: this.palette(colouring) });
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
      preventFilterReset: true, select: selection.filter((i) => i < this.n), spatialIndex: this.indexes.get(step),
    }).then(() => {
      this.drawn = step;
      this.drawnVersion = version;
      if (version === this.version) this.keepIndex(step);
    }).catch((e) => console.error('player draw failed', e)).finally(() => {
      this.drawing = false;
      this.player.flushPane(this);
    });
  }

  /** Keep the spatial index regl-scatterplot built for `step`: the next time (a loop) it is not rebuilt. */
  keepIndex(step) {
    if (this.indexes.has(step)) return;
    const index = this.scatter.get('spatialIndex');
    if (!(index instanceof ArrayBuffer) || this.indexBytes + index.byteLength > INDEX_CACHE_BYTES) return;
    this.indexes.set(step, index);
    this.indexBytes += index.byteLength;
  }

  /** Data coordinates → CSS pixels on the canvas, as regl-scatterplot draws (projection · view · model). */
  toScreen(x, y) {
    const v = this.scatter.get('cameraView');
    const { width, height } = this.stage.getBoundingClientRect();
    const cx = (v[0] * x + v[4] * y + v[12]) / (width / height);
    const cy = v[1] * x + v[5] * y + v[13];
    return [(width * (cx + 1)) / 2, height * (0.5 - cy / 2)];
  }

  /** The SVG drawn over the canvas: a sphere's outline, proxy trajectories, mode → proxy links. */
  drawOverlay() {
    const { width, height } = this.stage.getBoundingClientRect();
    if (!(width > 0 && height > 0)) { // detached or not laid out yet (a scene change): nothing to place; resize redraws
      this.trails.replaceChildren();
      return;
    }
    const nodes = [...this.outline(), ...this.trajectories(), ...this.links()];
    this.trails.replaceChildren(...nodes);
  }

  /** Each mode's centre joined to its assigned sub-proxy at the shown step, marked ✓ (covered: its nearest proxy
   * is of its class) or ✗ — by symbol, not by colour alone. */
  links() {
    const { m, p, a } = this;
    if (!this.h || !m || !p || !this.player.linksBox.checked || !this.player.proxies.checked) return [];
    const D = this.dims;
    const s = Math.min(this.want, this.h.steps.length - 1);
    if (!this.hasProxies(s)) return [];
    const big = this.player.sizes.font >= 18;
    const lines = [];
    const marks = [];
    for (let i = 0; i < m; i++) {
      const [cx, cy, cz] = this.place(a.mode_centres, (s * m + i) * D);
      const j = a.mode_proxy[s * m + i];
      const [px, py] = this.place(a.proxies, (s * p + j) * D);
      const covered = a.mode_covered[s * m + i] === 1;
      const [x0, y0] = this.toScreen(cx, cy);
      const [x1, y1] = this.toScreen(px, py);
      const faint = D === 3 && cz < 0 ? 0.35 : 1; // behind the centre of a rotated view
      const line = document.createElementNS(SVG, 'line');
      for (const [k, v] of Object.entries({ x1: x0, y1: y0, x2: x1, y2: y1, stroke: '#222222', 'stroke-width': big ? 3 : 2,
        'stroke-opacity': 0.8 * faint, class: 'pxl-link' })) line.setAttribute(k, v);
      lines.push(line);
      const dot = document.createElementNS(SVG, 'circle');
      const colour = this.h.palettes.label[a.proxy_class[j]] || '#888888';
      for (const [k, v] of Object.entries({ cx: x0, cy: y0, r: big ? 8 : 5, fill: colour, stroke: '#000000',
        'stroke-width': 2, opacity: faint })) dot.setAttribute(k, v);
      const mark = document.createElementNS(SVG, 'text');
      for (const [k, v] of Object.entries({ x: x0, y: y0 - (big ? 12 : 8), 'text-anchor': 'middle', opacity: faint,
        fill: covered ? '#0a7d28' : '#c8102e', 'font-size': big ? 28 : 18, class: 'pxl-mark' })) mark.setAttribute(k, v);
      mark.textContent = covered ? '✓' : '✗';
      mark.dataset.covered = covered ? '1' : '0';
      mark.dataset.mode = i;
      marks.push(dot, mark);
    }
    return [...lines, ...marks]; // marks over every line
  }

  /** Each proxy's path over all steps: solid up to the shown step, faint after it; a ring marks step 0. */
  trajectories() {
    const { p, a } = this;
    const nodes = [];
    if (!this.h || !p || !this.player.trailsBox.checked) return nodes;
    const S = this.h.steps.length;
    const kept = Array.from({ length: S }, (_, s) => s).filter((s) => this.hasProxies(s)); // steps with proxies
    if (!kept.length) return nodes;
    const done = kept.filter((s) => s <= this.want).length; // vertices up to the shown step
    for (let j = 0; j < p; j++) {
      const path = kept.map((s) => this.toScreen(...this.place(a.proxies, (s * p + j) * this.dims)));
      const colour = this.h.palettes.label[a.proxy_class[j]] || '#888888';
      const line = (from, to, attrs) => {
        const node = document.createElementNS(SVG, 'polyline');
        node.setAttribute('points', path.slice(from, to).map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
        node.setAttribute('fill', 'none');
        node.setAttribute('stroke', colour);
        for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
        node.dataset.proxy = j;
        return node;
      };
      nodes.push(line(0, done, { 'stroke-width': 2, 'stroke-opacity': 0.85, class: 'pxl-trail-done' }));
      if (done < kept.length) {
        nodes.push(line(Math.max(0, done - 1), kept.length, { 'stroke-width': 1.5, 'stroke-opacity': 0.35, 'stroke-dasharray': '4 3',
          class: 'pxl-trail-ahead' }));
      }
      const start = document.createElementNS(SVG, 'circle');
      start.setAttribute('cx', path[0][0].toFixed(1));
      start.setAttribute('cy', path[0][1].toFixed(1));
      start.setAttribute('r', 4);
      start.setAttribute('fill', '#ffffff');
      start.setAttribute('stroke', colour);
      start.setAttribute('stroke-width', 1.5);
      nodes.push(start);
    }
    return nodes;
  }

  className(c) { return this.h.class_names?.[c] ?? `class ${c}`; }

  /** Whether step index `s` has proxies (a run may store them at some steps only; older payloads: always). */
  hasProxies(s) { return this.p > 0 && (!this.a.proxy_steps || this.a.proxy_steps[s] === 1); }

  /** A native sphere (d = 3): its outline and equator, faint, so the 3-D view reads as a ball. */
  outline() {
    if (!this.h || !this.sphereCentre) return [];
    const R = this.rotation;
    const [cx, cy, cz] = this.sphereCentre;
    const centre = [R[0] * cx + R[1] * cy + R[2] * cz, R[3] * cx + R[4] * cy + R[5] * cz];
    const [sx, sy] = this.toScreen(...centre);
    const edge = this.toScreen(centre[0] + this.sphereRadius, centre[1]);
    const ring = document.createElementNS(SVG, 'circle');
    for (const [k, v] of Object.entries({ cx: sx, cy: sy, r: Math.abs(edge[0] - sx), fill: 'none', stroke: '#bbbbbb',
      'stroke-width': 1, class: 'pxl-sphere' })) ring.setAttribute(k, v);
    const equator = document.createElementNS(SVG, 'polyline');
    const pts = [];
    for (let t = 0; t <= 64; t++) { // the circle z = 0 of the data, rotated
      const [ex, ey] = [Math.cos((2 * Math.PI * t) / 64) * this.sphereRadius, Math.sin((2 * Math.PI * t) / 64) * this.sphereRadius];
      pts.push(this.toScreen(centre[0] + R[0] * ex + R[1] * ey, centre[1] + R[3] * ex + R[4] * ey));
    }
    equator.setAttribute('points', pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
    for (const [k, v] of Object.entries({ fill: 'none', stroke: '#dddddd', 'stroke-width': 1 })) equator.setAttribute(k, v);
    return [ring, equator];
  }

  /** Retrieval outcome of sample i at step index s (OUTCOME): its nearest neighbour's class (computed in Python,
   * exact, within its split) or its most similar proxy's class, against its own. */
  outcome(colouring, s, i) {
    const { n, a } = this;
    if (colouring === 'nn_outcome') {
      const same = a.neighbour_same_class ? a.neighbour_same_class[s * n + i] : 255;
      return same === 1 ? OUTCOME.right : same === 0 ? OUTCOME.wrong : OUTCOME.unknown;
    }
    if (!a.nearest_proxy || !this.hasProxies(s)) return OUTCOME.unknown;
    return a.proxy_class[a.nearest_proxy[s * n + i]] === a.labels[i] ? OUTCOME.right : OUTCOME.wrong;
  }

  hover(i) {
    const { n, p, a, h } = this;
    let text;
    let picture = null;
    if (i < n) {
      const label = a.labels[i];
      const mode = a.modes[i] >= 0 ? `mode ${a.modes[i]}` : 'mode unknown';
      const value = gradValue(a.grad_norm[this.want * n + i], h.grad_log_bounds[this.want], h.grad_levels);
      const grad = Number.isNaN(value) ? '–' : value.toPrecision(4);
      const lines = [`sample ${i} · ${this.className(label)} · ${mode}`,
        `row ${a.index[i]} of the ${a.split[i] ? 'test' : 'train'} split · ‖∂L/∂f‖ ${grad}`];
      const neighbour = this.outcome('nn_outcome', this.want, i);
      if (neighbour !== OUTCOME.unknown) {
        lines.push(`nearest neighbour: ${neighbour === OUTCOME.right ? 'same class ✓' : 'another class ✗'}`);
      }
      if (a.nearest_proxy && this.hasProxies(this.want)) { // most similar proxy in the embedding space (a projection can move the marker)
        const j = a.nearest_proxy[this.want * n + i];
        const own = a.proxy_class[j] === label ? 'own class' : 'another class';
        lines.push(`nearest proxy: ${this.className(a.proxy_class[j])} #${a.proxy_k[j]} (${own})`);
      }
      text = lines.join('\n');
      if (a.images) picture = this.thumbnail(i);
    } else {
      const j = (i - n) % p;
      text = `proxy of ${this.className(a.proxy_class[j])}, sub-proxy ${a.proxy_k[j]}`;
    }
    const [sx, sy] = this.scatter.getScreenPosition(i) || [0, 0];
    this.tip.replaceChildren(...(picture ? [picture] : []), el('span', { textContent: text }));
    this.tip.style.display = 'block';
    // beside the point, flipped to its left / above it where it would leave the canvas
    const { offsetWidth: w, offsetHeight: th } = this.tip;
    const { clientWidth: W, clientHeight: H } = this.stage;
    this.tip.style.left = `${Math.max(0, sx + 12 + w > W ? sx - 12 - w : sx + 12)}px`;
    this.tip.style.top = `${Math.max(0, sy + 12 + th > H ? sy - 12 - th : sy + 12)}px`;
  }

  /** Sample i's thumbnail (image data) on a small canvas, enlarged with crisp pixels. */
  thumbnail(i) {
    const [, height, width, channels] = this.h.arrays.images.shape;
    const size = height * width * channels;
    const pixels = this.a.images.subarray(i * size, (i + 1) * size);
    const canvas = el('canvas', { className: 'pxl-thumb', width, height });
    const image = new ImageData(width, height);
    for (let q = 0; q < height * width; q++) {
      for (let ch = 0; ch < 3; ch++) image.data[4 * q + ch] = pixels[q * channels + (channels === 3 ? ch : 0)];
      image.data[4 * q + 3] = 255;
    }
    canvas.getContext('2d').putImageData(image, 0, 0);
    const scale = Math.max(1, Math.round(64 / Math.max(width, height)));
    canvas.style.width = `${width * scale}px`;
    canvas.style.height = `${height * scale}px`;
    return canvas;
  }

  destroy() {
    this.listeners.abort();
    this.resizer.disconnect();
    this.scatter.destroy();
    this.renderer.destroy(); // ours: regl-scatterplot destroys only a renderer it made
    this.stage.remove();
  }
}

class Player {
  constructor(parent) {
    this.root = el('div', { className: 'pxl-player' }, parent);
    el('style', { textContent: CSS }, this.root);
    const bar = el('div', { className: 'pxl-bar' }, this.root);
    this.play = el('button', { className: 'pxl-play', textContent: '▶ Play', title: 'Play / pause' }, bar);
    this.slider = el('input', { className: 'pxl-step', type: 'range', min: 0, step: 1 }, bar);
    this.slider.setAttribute('aria-label', 'training step');
    this.stepLabel = el('span', { className: 'pxl-step-label' }, bar);
    this.speed = this.select(bar, 'pxl-speed', 'speed', SPEEDS.map((s) => [String(s), `${s}×`]));
    this.speed.value = '1';
    const loopLabel = el('label', { className: 'pxl-opt' }, bar);
    this.loop = el('input', { className: 'pxl-loop', type: 'checkbox', checked: true }, loopLabel);
    loopLabel.append(' loop');
    this.colour = this.select(bar, 'pxl-colour', 'colour by', []);
    this.colour.parentElement.classList.add('pxl-opt');
    const proxyLabel = el('label', { className: 'pxl-opt' }, bar);
    this.proxies = el('input', { className: 'pxl-proxies', type: 'checkbox', checked: true }, proxyLabel);
    proxyLabel.append(' proxies');
    const trailLabel = el('label', { className: 'pxl-opt', title: "each proxy's path over all steps (solid up to this step)" }, bar);
    this.trailsBox = el('input', { className: 'pxl-trails-box', type: 'checkbox' }, trailLabel);
    trailLabel.append(' trajectories');
    const linkLabel = el('label', { className: 'pxl-opt', title: 'each mode joined to its closest own-class sub-proxy; ✓ covered, ✗ not' }, bar);
    this.linksBox = el('input', { className: 'pxl-links-box', type: 'checkbox', checked: true }, linkLabel);
    linkLabel.append(' mode → proxy');
    this.mouse = this.select(bar, 'pxl-mouse', 'drag to', []);
    this.mouse.parentElement.classList.add('pxl-opt');
    this.reset = el('button', { className: 'pxl-reset pxl-opt', textContent: 'Reset view' }, bar);
    this.sizes = { font: null, point: null, proxy: null };
    this.row = el('div', { className: 'pxl-row' }, this.root);
    this.legend = el('div', { className: 'pxl-legend' }, this.root);
    this.panes = [];
    if (PLAYER_TEST_API) { // the test bundle only: the browser tests and the benchmark read state, not pixels
      this.api = playerTestApi(this);
      this.root.playerApi = this.api;
    }
    this.target = 0;
    this.drawCount = 0;
    this.timer = null;
    this.settle = null;
    this.selection = [];
    this.selectionSeq = 0;
    this.wire();
  }

  select(parent, className, label, options) {
    const wrap = el('label', { textContent: `${label} ` }, parent);
    const node = el('select', { className }, wrap);
    for (const [value, text] of options) el('option', { value, textContent: text }, node);
    return node;
  }

  get lead() { return this.panes[0]; }

  wire() {
    this.play.addEventListener('click', () => (this.timer ? this.pause() : this.start()));
    this.slider.addEventListener('input', () => { this.pause(false); this.goTo(+this.slider.value, 250); });
    this.speed.addEventListener('change', () => { if (this.timer) { this.pause(false); this.start(); } });
    this.colour.addEventListener('change', () => { this.redraw(); this.reportSoon(); });
    this.proxies.addEventListener('change', () => {
      this.applySizes();
      this.legendFor();
      this.panes.forEach((pane) => pane.drawOverlay());
      this.reportSoon();
    });
    this.linksBox.addEventListener('change', () => {
      this.panes.forEach((pane) => pane.drawOverlay());
      this.legendFor();
      this.reportSoon();
    });
    this.trailsBox.addEventListener('change', () => { this.panes.forEach((pane) => pane.drawOverlay()); this.reportSoon(); });
    this.mouse.addEventListener('change', () => this.panes.forEach((pane) => pane.scatter.set(DRAG[this.mouse.value])));
    this.reset.addEventListener('click', () => {
      this.transitionMs = 0;
      for (const pane of this.panes) {
        pane.scatter.reset();
        pane.fitCamera();
        if (pane.dims === 3) pane.setRotation(turnMatrix(...OBLIQUE));
        this.flushPane(pane);
      }
    });
  }

  /** 3-D: one rotation for all panes, redrawn at once (no transition). */
  rotate(source, yaw, pitch) {
    source.turn(yaw, pitch);
    this.transitionMs = 0;
    this.requestedAt = performance.now();
    for (const pane of this.panes) {
      if (pane !== source && pane.dims === 3) pane.setRotation(source.rotation.slice());
      this.flushPane(pane);
    }
  }

  /** One camera: a pan or zoom in one pane moves the others the same way (their events muted: no echo). */
  followCamera(source, view) {
    for (const pane of this.panes) {
      if (pane === source || !pane.h) continue;
      pane.scatter.view(Float32Array.from(view), { preventEvent: true }); // a copy: the camera keeps the array
      pane.drawOverlay();
    }
  }

  // timings for the browser test and the benchmark, on the lead pane: data → first frame, request → first frame
  // at the new step, → end of the transition
  drewFrame(pane) {
    if (pane !== this.lead) return;
    this.drawCount += 1;
    if (this.firstFrom != null) {
      if (this.api) this.api.firstDrawMs = performance.now() - this.firstFrom;
      this.firstFrom = null;
    }
    if (this.frameFrom != null) {
      if (this.api) this.api.redrawMs = performance.now() - this.frameFrom;
      this.frameFrom = null;
    }
  }

  transitionEnded(pane) {
    if (this.api && pane === this.lead && this.settleFrom != null) this.api.transitionEndMs = performance.now() - this.settleFrom;
  }

  /** A payload from Python: new runs (rebuild) or the same ones again after a rerun (keep the browser's view). */
  receive(bytes, setStateValue) {
    this.setStateValue = setStateValue;
    const receivedAt = performance.now();
    const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (this.api) this.api.payloadBytes = u8.byteLength;
    const decoded = unpack(u8).map(decode);
    const view = decoded[0].header.view || {};
    const id = decoded.map((d) => d.header.id).join('+');
    this.row.style.height = `${view.height || 560}px`;
    if (id !== this.id) {
      this.firstFrom = receivedAt;
      this.load(id, decoded, view);
    } else if ((view.selected_rev ?? 0) !== this.pySelectedRev) { // Python changed the selection (cleared, a link)
      this.pySelectedRev = view.selected_rev ?? 0;
      this.selection = (view.selected || []).slice();
      for (const pane of this.panes) pane.scatter.select(this.selection.filter((i) => i < pane.n), { preventEvent: true });
    }
  }

  load(id, decoded, view) {
    this.pause(false);
    this.id = id;
    this.loaded = { decoded, view };
    while (this.panes.length > decoded.length) this.panes.pop().destroy();
    for (const pane of this.panes) pane.stage.remove();
    while (this.panes.length < decoded.length) this.panes.push(new Pane(this, this.row));
    for (const pane of this.panes) this.row.appendChild(pane.stage); // in order, whichever existed before
    decoded.forEach(({ header, arrays }, i) => this.panes[i].load(header, arrays));
    const h = this.lead.h;
    this.h = h;
    const some = (test) => this.panes.some((pane) => test(pane.a));
    const hasModes = some((a) => a.modes.some((m) => m >= 0));
    const hasGrad = some((a) => a.grad_norm.some((g) => g !== GRAD.missing));
    const hasNeighbours = some((a) => a.neighbour_same_class?.some((v) => v !== 255));
    const hasNearestProxy = some((a) => a.nearest_proxy);
    const colourings = ['label', ...(hasModes ? ['mode'] : []), 'split', ...(hasGrad ? ['grad_norm'] : []),
      ...(hasNeighbours ? ['nn_outcome'] : []), ...(hasNearestProxy ? ['proxy_outcome'] : [])];
    this.colour.replaceChildren(...colourings.map((c) => el('option', { value: c, textContent: COLOUR_NAMES[c] })));
    this.colour.value = colourings.includes(view.colour) ? view.colour : 'label';
    const p = Math.max(...this.panes.map((pane) => pane.p));
    const solid = this.panes.some((pane) => pane.dims === 3);
    const drags = [...(solid ? [['orbit', 'rotate']] : []), ['lasso', 'lasso-select'], ['box', 'box-select'], ['panZoom', 'pan']];
    this.mouse.replaceChildren(...drags.map(([value, text]) => el('option', { value, textContent: text })));
    this.mouse.value = drags[0][0];
    this.panes.forEach((pane) => pane.scatter.set(DRAG[this.mouse.value]));
    this.proxies.checked = view.proxies !== false;
    this.proxies.parentElement.style.display = p ? '' : 'none';
    this.trailsBox.checked = Boolean(view.trajectories) && p > 0;
    this.trailsBox.parentElement.style.display = p && h.steps.length > 1 ? '' : 'none';
    const linked = this.panes.some((pane) => pane.m > 0);
    this.linksBox.checked = view.links !== false && linked;
    this.linksBox.parentElement.style.display = linked ? '' : 'none';
    this.sizes = { font: view.font_px || null, point: view.point_px || null, proxy: view.proxy_px || null };
    this.root.style.fontSize = this.sizes.font ? `${this.sizes.font}px` : '';
    this.root.classList.toggle('pxl-play-only', view.controls === 'play');
    this.slider.max = h.steps.length - 1;
    const wanted = h.steps.indexOf(view.step);
    this.target = wanted >= 0 ? wanted : h.steps.length - 1;
    this.pySelectedRev = view.selected_rev ?? 0;
    this.selection = (view.selected || []).slice();
    this.applySizes(false);
    this.goTo(this.target, 0);
  }

  applySizes(redraw = true) {
    for (const pane of this.panes) pane.applySizes(this.proxies.checked, redraw);
  }

  goTo(stepIndex, transitionMs) {
    this.target = Math.max(0, Math.min(stepIndex, this.h.steps.length - 1));
    this.slider.value = this.target;
    const steps = this.h.steps;
    this.requestedAt = performance.now();
    this.transitionMs = transitionMs;
    for (const pane of this.panes) {
      pane.want = pane === this.lead ? this.target : pane.indexFor(steps[this.target]);
      this.flushPane(pane);
      pane.drawOverlay();
    }
    // a run that stored proxies at some steps only says so where they are missing (they are not carried over)
    const missing = this.panes.some((pane) => pane.p > 0 && !pane.hasProxies(pane.want));
    this.stepLabel.textContent = `step ${steps[this.target]} (${this.target + 1}/${steps.length})`
      + (missing ? ' · no proxies stored at this step' : '');
    if (!this.timer) this.reportSoon();
  }

  redraw() {
    this.requestedAt = performance.now();
    this.transitionMs = 0;
    for (const pane of this.panes) {
      pane.version += 1; // same step, new colours
      this.flushPane(pane);
    }
    this.legendFor();
  }

  flushPane(pane) {
    if (pane === this.lead && !pane.drawing && (pane.drawn !== pane.want || pane.drawnVersion !== pane.version)) {
      this.frameFrom = this.settleFrom = this.requestedAt;
    }
    pane.flush(this.transitionMs, this.colour.value, this.selection);
    const gradStep = this.colour.value === 'grad_norm' && this.legendStep !== this.target; // its range is the step's
    if (this.legendColouring !== this.colour.value || gradStep) this.legendFor();
  }

  start() {
    if (!this.loop.checked && this.target >= this.h.steps.length - 1) this.goTo(0, 0);
    const period = STEP_MS / +this.speed.value;
    this.play.textContent = '‖ Pause'; // (the pause sign U+23F8 is not in the font Streamlit serves)
    this.timer = setInterval(() => {
      let next = this.target + 1;
      if (next >= this.h.steps.length) {
        if (!this.loop.checked) { this.pause(); return; }
        next = 0;
      }
      this.goTo(next, next === 0 || period < SMOOTH_MS ? 0 : period * 0.85);
    }, period);
  }

  pause(report = true) {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = '▶ Play';
    if (report && this.h) this.reportSoon(0);
  }

  /** Tell Python the view once it has stopped changing (each report reruns the page's fragment). */
  reportSoon(delay = SETTLE_MS) {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => {
      if (this.timer || !this.setStateValue) return;
      this.setStateValue('view', {
        step: this.h.steps[this.target], colour: this.colour.value, proxies: this.proxies.checked,
        trajectories: this.trailsBox.checked,
      });
    }, delay);
  }

  /** A lasso in one pane selects the same sample ids in every pane (linked brushing) and goes to Python. */
  selected(source, points) {
    if (points.length === 1 && this.selection.length > 1 && performance.now() - (source.lassoEndAt ?? -Infinity) < 300) {
      // a lasso closed where it began also reads as a click on the nearest point: keep the lasso's selection
      source.scatter.select(this.selection.filter((i) => i < source.n), { preventEvent: true });
      return;
    }
    const ids = points.filter((i) => i < source.n).sort((a, b) => a - b);
    if (JSON.stringify(ids) === JSON.stringify(this.selection)) return;
    this.selection = ids;
    for (const pane of this.panes) {
      if (pane !== source) pane.scatter.select(ids.filter((i) => i < pane.n), { preventEvent: true });
    }
    this.selectionSeq += 1;
    this.setStateValue?.('selection', { ids, seq: `${this.id}:${this.selectionSeq}`, step: this.h.steps[this.target] });
  }

  legendFor() {
    const colouring = this.colour.value;
    this.legendColouring = colouring;
    this.legendStep = this.target;
    const h = this.lead.h;
    const pal = h.palettes[colouring] || [];
    const items = [];
    if (colouring === 'grad_norm') { // a log scale of the step shown: its range is said, and changes with the step
      const bounds = h.grad_log_bounds[this.target];
      const ramp = el('span', { className: 'pxl-ramp' });
      ramp.style.background = `linear-gradient(to right, ${pal.slice(0, -1).filter((_, i) => i % 32 === 0).join(',')})`;
      const lo = bounds ? shortNumber(10 ** bounds[0]) : '0';
      const hi = bounds ? shortNumber(10 ** bounds[1]) : '0';
      const item = el('span', { textContent: `‖∂L/∂f(x)‖ at step ${h.steps[this.target]}, log scale: ${lo} ` });
      item.append(ramp, ` ${hi}${this.panes.length > 1 ? ' (left pane)' : ''}; grey = not computed (test points)`);
      items.push(item);
    } else if (colouring === 'nn_outcome' || colouring === 'proxy_outcome') {
      const what = colouring === 'nn_outcome' ? 'nearest neighbour (its split)' : 'most similar proxy';
      [`${what}: same class ✓`, `${what}: another class ✗`, 'not computed'].forEach((name, c) => {
        const item = el('span');
        const chip = el('span', { className: 'pxl-chip' }, item);
        chip.style.background = pal[c];
        item.append(name);
        items.push(item);
      });
    } else {
      const names = colouring === 'label' ? pal.map((_, c) => h.class_names?.[c] ?? `class ${c}`)
        : colouring === 'split' ? ['train', 'test'] : pal.map((_, m) => (m ? `mode shade ${m}` : 'mode unknown'));
      const shown = colouring === 'mode' ? [] : names.slice(0, 40);
      shown.forEach((name, c) => {
        const item = el('span');
        const chip = el('span', { className: 'pxl-chip' }, item);
        chip.style.background = pal[c];
        item.append(name);
        items.push(item);
      });
      if (colouring === 'mode') items.push(el('span', { textContent: 'each mode wears a shade of its class colour' }));
    }
    if (this.proxies.checked && this.panes.some((pane) => pane.p)) items.push(el('span', { textContent: '● large ringed dots = proxies (class colour)' }));
    if (this.linksBox.checked && this.panes.some((pane) => pane.m)) {
      items.push(el('span', { textContent: '— each mode centre joined to its closest own-class proxy: ✓ covered (its nearest proxy is of its class), ✗ not' }));
    }
    if (this.panes.some((pane) => pane.dims === 3)) {
      items.push(el('span', { textContent: '3-D: drag to rotate, wheel to zoom; fainter = farther away' }));
    }
    if (this.panes.length > 1) items.push(el('span', { textContent: 'one step, one camera, one selection for all panes' }));
    this.legend.replaceChildren(...items);
  }

  destroy() {
    this.pause(false);
    clearTimeout(this.settle);
    for (const pane of this.panes) pane.destroy();
    this.root.remove();
  }
}

const players = new WeakMap();

export default function mount({ data, parentElement, setStateValue }) {
  let player = players.get(parentElement);
  if (!player) {
    player = new Player(parentElement);
    players.set(parentElement, player);
  }
  if (data) player.receive(data, setStateValue);
  // Streamlit also calls a cleanup when a rerun races a pending mount; only a host that left the page is gone
  return () => setTimeout(() => {
    if (parentElement.isConnected !== false && parentElement.host?.isConnected !== false) return;
    player.destroy();
    players.delete(parentElement);
  }, 0);
}
