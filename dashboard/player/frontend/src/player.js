// The embedding player (a Streamlit components-v2 module): decodes the run payload once (see
// dashboard/player/payload.py and wire.json for the format), then steps, plays and recolours it in the browser with
// regl-scatterplot. Python hears back only a lasso ("selection") and, once the step stops moving, the view.
import { cameraReport, cameraState, obliqueRotation } from './camera.js';
import { Controls } from './controls.js';
import { samplesInside, selectionPolygon } from './geometry.js';
import { CSS, el } from './dom.js';
import { legendItems } from './legend.js';
import {
  SETTLE_MS, STEP_MS, clampStep, idsInPane, isLassoClosingClick, nextStep, openingIndex, paneIndexes, playTransitionMs,
  sameIds, sampleIds, stepLabel,
} from './linked.js';
import { Pane } from './pane.js';
import { decode, unpack } from './payload.js';
import { playerTestApi } from './test-api.js';

/* global PLAYER_TEST_API */ // esbuild --define: false in dist/player.js (users), true in dist/player.test.js

/** @typedef {import('./payload.js').Decoded} Decoded */
/** @typedef {Partial<import('./wire-types.js').View>} View */
/** @typedef {(key: string, value: unknown) => void} SetStateValue */

export class Player {
  /** @param {HTMLElement} parent */
  constructor(parent) {
    this.root = el('div', { className: 'pxl-player' }, parent);
    el('style', { textContent: CSS }, this.root);
    this.controls = new Controls(this.root);
    /** @type {{font: number | null, point: number | null, proxy: number | null}} presenter mode's sizes (CSS px) */
    this.sizes = { font: null, point: null, proxy: null };
    this.row = el('div', { className: 'pxl-row' }, this.root);
    this.legend = el('div', { className: 'pxl-legend' }, this.root);
    /** @type {Pane[]} */
    this.panes = [];
    /** @type {ReturnType<typeof playerTestApi> | null} */
    this.api = null;
    if (PLAYER_TEST_API) { // the test bundle only: the browser tests and the benchmark read state, not pixels
      this.api = playerTestApi(this);
      /** @type {any} */ (this.root).playerApi = this.api;
    }
    /** @type {number[]} the lead pane's steps */
    this.steps = [];
    this.targetIndex = 0; // the lead pane's step index, where the slider is
    this.drawCount = 0;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.timer = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.settleTimer = undefined;
    /** @type {number[]} the selected sample ids, sorted, one selection for all panes */
    this.selection = [];
    /** @type {string} the shape of the last selection reported (JSON; "null" for a click) */
    this.selectionShape = 'null';
    this.selectionSeq = 0;
    this.pySelectedRev = 0;
    /** @type {string | null} the loaded payloads' ids */
    this.id = null;
    /** @type {{decoded: Decoded[], view: View} | null} */
    this.loaded = null;
    /** @type {SetStateValue | null} */
    this.setStateValue = null;
    this.transitionMs = 0;
    this.requestedAt = 0;
    // timings for the browser test and the benchmark (see drewFrame)
    /** @type {number | null} */
    this.firstFrom = null;
    /** @type {number | null} */
    this.frameFrom = null;
    /** @type {number | null} */
    this.settleFrom = null;
    /** @type {string | null} the last view report sent (JSON): the same view is not sent again */
    this.lastViewReport = null;
    /** @type {string | null} */
    this.legendColouring = null;
    this.legendStep = -1;
    this.wire();
  }

  get lead() { return this.panes[0]; }

  wire() {
    const c = this.controls;
    c.play.addEventListener('click', () => (this.timer ? this.pause() : this.start()));
    c.slider.addEventListener('input', () => { this.pause(false); this.goTo(+c.slider.value, 250); });
    c.speed.addEventListener('change', () => { if (this.timer) { this.pause(false); this.start(); } });
    c.colour.addEventListener('change', () => { this.redraw(); this.reportSoon(); });
    c.proxies.addEventListener('change', () => {
      this.applySizes();
      this.legendFor();
      this.panes.forEach((pane) => pane.drawOverlay());
      this.reportSoon();
    });
    c.links.addEventListener('change', () => {
      this.panes.forEach((pane) => pane.drawOverlay());
      this.legendFor();
      this.reportSoon();
    });
    c.trails.addEventListener('change', () => { this.panes.forEach((pane) => pane.drawOverlay()); this.reportSoon(); });
    c.mouse.addEventListener('change', () => this.panes.forEach((pane) => pane.scatter.set(c.drag)));
    c.reset.addEventListener('click', () => {
      this.transitionMs = 0;
      for (const pane of this.panes) {
        pane.scatter.reset();
        pane.fitCamera();
        if (pane.dims === 3) pane.setRotation(obliqueRotation());
        this.flushPane(pane);
      }
    });
  }

  /**
   * 3-D: one rotation for all panes, redrawn at once (no transition).
   * @param {Pane} source
   * @param {number} yaw
   * @param {number} pitch
   */
  rotate(source, yaw, pitch) {
    source.turn(yaw, pitch);
    this.transitionMs = 0;
    this.requestedAt = performance.now();
    for (const pane of this.panes) {
      if (pane !== source && pane.dims === 3) pane.setRotation(source.rotation.slice());
      this.flushPane(pane);
    }
    this.reportSoon();
  }

  /**
   * One camera: a pan or zoom in one pane moves the others the same way (their events muted: no echo).
   * @param {Pane} source
   * @param {ArrayLike<number>} view
   */
  followCamera(source, view) {
    for (const pane of this.panes) {
      if (pane === source || !pane.payload) continue;
      pane.scatter.view(/** @type {any} */ (Float32Array.from(view)), { preventEvent: true }); // a copy: the camera keeps the array
      pane.drawOverlay();
    }
  }

  // timings for the browser test and the benchmark, on the lead pane: data -> first frame, request -> first frame
  // at the new step, -> end of the transition
  /** @param {Pane} pane */
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

  /** @param {Pane} pane */
  transitionEnded(pane) {
    if (this.api && pane === this.lead && this.settleFrom != null) this.api.transitionEndMs = performance.now() - this.settleFrom;
  }

  /**
   * A payload from Python: new runs (rebuild) or the same ones again after a rerun (keep the browser's view).
   * @param {Uint8Array | ArrayBuffer} bytes
   * @param {SetStateValue} setStateValue
   */
  receive(bytes, setStateValue) {
    this.setStateValue = setStateValue;
    const receivedAt = performance.now();
    const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (this.api) this.api.payloadBytes = u8.byteLength;
    const decoded = unpack(u8).map(decode);
    /** @type {View} */
    const view = decoded[0].header.view || {};
    const id = decoded.map((d) => d.header.id).join('+');
    this.row.style.height = `${view.height || 560}px`;
    if (id !== this.id) {
      this.firstFrom = receivedAt;
      this.load(id, decoded, view);
    } else if ((view.selected_rev ?? 0) !== this.pySelectedRev) { // Python changed the selection (cleared, a link)
      this.pySelectedRev = view.selected_rev ?? 0;
      this.selection = (view.selected || []).slice();
      for (const pane of this.panes) pane.scatter.select(idsInPane(this.selection, pane.pointCount), { preventEvent: true });
    }
  }

  /**
   * Show `decoded` (one payload per pane) as the view says.
   * @param {string} id
   * @param {Decoded[]} decoded
   * @param {View} view
   */
  load(id, decoded, view) {
    this.pause(false);
    this.id = id;
    this.loaded = { decoded, view };
    const c = this.controls;
    while (this.panes.length > decoded.length) this.panes.pop()?.destroy();
    for (const pane of this.panes) pane.stage.remove();
    while (this.panes.length < decoded.length) this.panes.push(new Pane(this, this.row));
    for (const pane of this.panes) this.row.appendChild(pane.stage); // in order, whichever existed before
    decoded.forEach((payload, i) => this.panes[i].load(payload));
    const steps = this.lead.header.steps;
    this.steps = steps;
    c.configure(this.panes, view);
    this.panes.forEach((pane) => pane.scatter.set(c.drag));
    this.sizes = { font: view.font_px || null, point: view.point_px || null, proxy: view.proxy_px || null };
    this.root.style.fontSize = this.sizes.font ? `${this.sizes.font}px` : '';
    this.root.classList.toggle('pxl-play-only', view.controls === 'play');
    this.targetIndex = openingIndex(steps, view.step);
    this.pySelectedRev = view.selected_rev ?? 0;
    this.selection = (view.selected || []).slice();
    this.selectionShape = 'null'; // (a selection from Python comes without its shape)
    this.applySizes(false);
    const camera = cameraState(view.camera); // a view from Python (a shared link) starts there, not fitted
    if (camera) for (const pane of this.panes) pane.setCamera(camera);
    this.goTo(this.targetIndex, 0);
  }

  applySizes(redraw = true) {
    for (const pane of this.panes) pane.applySizes(this.controls.proxies.checked, redraw);
  }

  /**
   * Every pane to the lead's step index `stepIndex` (the others: their last step at or before it).
   * @param {number} stepIndex
   * @param {number} transitionMs
   */
  goTo(stepIndex, transitionMs) {
    const steps = this.steps;
    this.targetIndex = clampStep(stepIndex, steps.length);
    this.controls.slider.value = String(this.targetIndex);
    this.requestedAt = performance.now();
    this.transitionMs = transitionMs;
    const wanted = paneIndexes(steps, this.targetIndex, this.panes.map((pane) => pane.header.steps));
    this.panes.forEach((pane, i) => {
      pane.wantedIndex = wanted[i];
      this.flushPane(pane);
      pane.drawOverlay();
    });
    // a run that stored proxies at some steps only says so where they are missing (they are not carried over)
    const missing = this.panes.some((pane) => pane.proxyCount > 0 && !pane.hasProxies(pane.wantedIndex));
    this.controls.stepLabel.textContent = stepLabel(steps, this.targetIndex, missing);
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

  /** @param {Pane} pane */
  flushPane(pane) {
    if (pane === this.lead && !pane.drawing && (pane.drawnIndex !== pane.wantedIndex || pane.drawnVersion !== pane.version)) {
      this.frameFrom = this.settleFrom = this.requestedAt;
    }
    const colouring = this.controls.colour.value;
    pane.flush(this.transitionMs, colouring, this.selection);
    const gradStep = colouring === 'grad_norm' && this.legendStep !== this.targetIndex; // its range is the step's
    if (this.legendColouring !== colouring || gradStep) this.legendFor();
  }

  start() {
    const c = this.controls;
    if (!c.loop.checked && this.targetIndex >= this.steps.length - 1) this.goTo(0, 0);
    const period = STEP_MS / +c.speed.value;
    c.play.textContent = '‖ Pause'; // (the pause sign U+23F8 is not in the font Streamlit serves)
    this.timer = setInterval(() => {
      const next = nextStep(this.targetIndex, this.steps.length, c.loop.checked);
      if (next === null) { this.pause(); return; }
      this.goTo(next, playTransitionMs(next, period));
    }, period);
  }

  pause(report = true) {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.controls.play.textContent = '▶ Play';
    if (report && this.steps.length) this.reportSoon(0);
  }

  /** Tell Python the view once it has stopped changing (each report reruns the page's fragment); not again when it
   * is what Python heard last. */
  reportSoon(delay = SETTLE_MS) {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (this.timer || !this.setStateValue || !this.steps.length) return;
      const report = this.viewReport();
      const text = JSON.stringify(report);
      if (text === this.lastViewReport) return;
      this.lastViewReport = text;
      if (this.api) this.api.reports.view = report;
      this.setStateValue('view', report);
    }, delay);
  }

  /**
   * The view as Python hears it: the step, the colouring, the toggles and the one camera (the lead pane's target and
   * distance; the panes' one rotation when a pane is 3-D).
   * @returns {import('./wire-types.js').ViewReport}
   */
  viewReport() {
    const solid = this.panes.find((pane) => pane.dims === 3);
    const camera = this.lead.cameraState(false);
    if (solid) camera.rotation = solid.rotation.slice();
    return {
      step: this.steps[this.targetIndex], colour: this.controls.colour.value, proxies: this.controls.proxies.checked,
      trajectories: this.controls.trails.checked, camera: cameraReport(camera),
    };
  }

  /**
   * A click (one point) or a double-click (none) in one pane selects the same sample ids in every pane (linked
   * brushing) and goes to Python; so does a lasso in a 3-D pane (regl-scatterplot's selection, with no shape).
   * @param {Pane} source
   * @param {number[]} points
   */
  selected(source, points) {
    if (isLassoClosingClick(points.length, this.selection.length, performance.now() - (source.lassoEndAt ?? -Infinity))) {
      // a lasso closed where it began also reads as a click on the nearest point: keep the lasso's selection
      source.scatter.select(idsInPane(this.selection, source.pointCount), { preventEvent: true });
      return;
    }
    this.select(source, sampleIds(points, source.pointCount), null);
  }

  /**
   * A lasso or box ended in a 2-D pane: the polygon it travels as (code units, at most 64 integer vertices), and the
   * selection exactly the pane's samples inside it at the step it shows, highlighted as reported.
   * @param {Pane} source
   * @param {number[][]} drawn the lasso's vertices in model coordinates (regl-scatterplot's)
   */
  lassoed(source, drawn) {
    const kind = this.controls.mouse.value === 'box' ? 'box' : 'lasso';
    const points = selectionPolygon(drawn, source.fit, kind, source.codesPerPixel());
    const ids = samplesInside(source.arrays.points, source.pointCount, source.dims, source.wantedIndex, points);
    source.scatter.select(ids, { preventEvent: true });
    this.select(source, ids, { pane: this.panes.indexOf(source), kind, points });
  }

  /**
   * `ids` (sorted) selected from `source`, in every pane, and reported to Python with the shape that selected them
   * (null for a click): unless nothing changed.
   * @param {Pane} source
   * @param {number[]} ids
   * @param {import('./wire-types.js').SelectionShape | null} shape
   */
  select(source, ids, shape) {
    const shapeText = JSON.stringify(shape);
    if (sameIds(ids, this.selection) && shapeText === this.selectionShape) return;
    this.selection = ids;
    this.selectionShape = shapeText;
    for (const pane of this.panes) {
      if (pane !== source) pane.scatter.select(idsInPane(ids, pane.pointCount), { preventEvent: true });
    }
    this.selectionSeq += 1;
    /** @type {import('./wire-types.js').SelectionReport} */
    const report = { ids, seq: `${this.id}:${this.selectionSeq}`, step: source.header.steps[source.wantedIndex], shape };
    if (this.api) this.api.reports.selection = report;
    this.setStateValue?.('selection', report);
  }

  legendFor() {
    const colouring = this.controls.colour.value;
    this.legendColouring = colouring;
    this.legendStep = this.targetIndex;
    this.legend.replaceChildren(...legendItems({
      header: this.lead.header, colouring, target: this.targetIndex, paneCount: this.panes.length,
      proxies: this.controls.proxies.checked && this.panes.some((pane) => pane.proxyCount > 0),
      links: this.controls.links.checked && this.panes.some((pane) => pane.modeCount > 0),
      solid: this.panes.some((pane) => pane.dims === 3),
    }));
  }

  destroy() {
    this.pause(false);
    clearTimeout(this.settleTimer);
    for (const pane of this.panes) pane.destroy();
    this.root.remove();
  }
}

/** @type {WeakMap<HTMLElement, Player>} */
const players = new WeakMap();

/**
 * The component's entry point: Streamlit calls it with each payload (and once more on cleanup).
 * @param {{data: Uint8Array | ArrayBuffer | null, parentElement: HTMLElement & {host?: Element}, setStateValue: SetStateValue}} args
 */
export default function mount({ data, parentElement, setStateValue }) {
  let player = players.get(parentElement);
  if (!player) {
    player = new Player(parentElement);
    players.set(parentElement, player);
  }
  if (data) player.receive(data, setStateValue);
  const mounted = player;
  // Streamlit also calls a cleanup when a rerun races a pending mount; only a host that left the page is gone
  return () => setTimeout(() => {
    if (parentElement.isConnected !== false && parentElement.host?.isConnected !== false) return;
    mounted.destroy();
    players.delete(parentElement);
  }, 0);
}
