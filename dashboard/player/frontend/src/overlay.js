// What a pane draws over its canvas, in SVG: a native sphere's outline, the proxies' trajectories and each mode
// joined to its assigned proxy (marked covered or not).
import { rotate } from './camera.js';
import { svg, svgPoints } from './dom.js';

/** @typedef {import('./pane.js').Pane} Pane */

/**
 * Each mode's centre joined to its assigned sub-proxy at the shown step, marked ✓ (covered: its nearest proxy is of
 * its class) or ✗ (by symbol, not by colour alone).
 * @param {Pane} pane
 * @param {boolean} big presenter mode: thicker lines, larger marks
 * @returns {SVGElement[]}
 */
export function modeLinks(pane, big) {
  const { modeCount: m, proxyCount: p, arrays: a, header: h } = pane;
  if (!m || !p || !a.mode_centres || !a.mode_proxy || !a.mode_covered) return [];
  const D = pane.dims;
  const s = Math.min(pane.wantedIndex, h.steps.length - 1);
  if (!pane.hasProxies(s)) return [];
  const lines = [];
  const marks = [];
  for (let i = 0; i < m; i++) {
    const [cx, cy, cz] = pane.place(a.mode_centres, (s * m + i) * D);
    const j = a.mode_proxy[s * m + i];
    const [px, py] = pane.place(a.proxies, (s * p + j) * D);
    const covered = a.mode_covered[s * m + i] === 1;
    const [x0, y0] = pane.toScreen(cx, cy);
    const [x1, y1] = pane.toScreen(px, py);
    const faint = D === 3 && cz < 0 ? 0.35 : 1; // behind the centre of a rotated view
    lines.push(svg('line', { x1: x0, y1: y0, x2: x1, y2: y1, stroke: '#222222', 'stroke-width': big ? 3 : 2,
      'stroke-opacity': 0.8 * faint, class: 'pxl-link' }));
    const colour = h.palettes.label[a.proxy_class[j]] || '#888888';
    const dot = svg('circle', { cx: x0, cy: y0, r: big ? 8 : 5, fill: colour, stroke: '#000000', 'stroke-width': 2,
      opacity: faint });
    const mark = svg('text', { x: x0, y: y0 - (big ? 12 : 8), 'text-anchor': 'middle', opacity: faint,
      fill: covered ? '#0a7d28' : '#c8102e', 'font-size': big ? 28 : 18, class: 'pxl-mark' });
    mark.textContent = covered ? '✓' : '✗';
    mark.dataset.covered = covered ? '1' : '0';
    mark.dataset.mode = String(i);
    marks.push(dot, mark);
  }
  return [...lines, ...marks]; // marks over every line
}

/**
 * Each proxy's path over all steps: solid up to the shown step, faint after it; a ring marks step 0.
 * @param {Pane} pane
 * @returns {SVGElement[]}
 */
export function trajectories(pane) {
  const { proxyCount: p, arrays: a, header: h } = pane;
  /** @type {SVGElement[]} */
  const nodes = [];
  if (!p) return nodes;
  const kept = h.steps.map((_, s) => s).filter((s) => pane.hasProxies(s)); // steps with proxies
  if (!kept.length) return nodes;
  const done = kept.filter((s) => s <= pane.wantedIndex).length; // vertices up to the shown step
  for (let j = 0; j < p; j++) {
    const path = kept.map((s) => {
      const [x, y] = pane.place(a.proxies, (s * p + j) * pane.dims);
      return pane.toScreen(x, y);
    });
    const colour = h.palettes.label[a.proxy_class[j]] || '#888888';
    /** @type {(from: number, to: number, attrs: Record<string, string | number>) => SVGElement} */
    const line = (from, to, attrs) => {
      const node = svg('polyline', { points: svgPoints(path.slice(from, to)), fill: 'none', stroke: colour, ...attrs });
      node.dataset.proxy = String(j);
      return node;
    };
    nodes.push(line(0, done, { 'stroke-width': 2, 'stroke-opacity': 0.85, class: 'pxl-trail-done' }));
    if (done < kept.length) {
      nodes.push(line(Math.max(0, done - 1), kept.length, { 'stroke-width': 1.5, 'stroke-opacity': 0.35,
        'stroke-dasharray': '4 3', class: 'pxl-trail-ahead' }));
    }
    nodes.push(svg('circle', { cx: path[0][0].toFixed(1), cy: path[0][1].toFixed(1), r: 4, fill: '#ffffff',
      stroke: colour, 'stroke-width': 1.5 }));
  }
  return nodes;
}

/**
 * A native sphere (d = 3): its outline and equator, faint, so the 3-D view reads as a ball.
 * @param {Pane} pane
 * @returns {SVGElement[]}
 */
export function sphereOutline(pane) {
  const { sphereCentre, sphereRadius } = pane.fit;
  if (!sphereCentre) return [];
  const R = pane.rotation;
  const [cx, cy] = rotate(R, sphereCentre[0], sphereCentre[1], sphereCentre[2]);
  const [sx, sy] = pane.toScreen(cx, cy);
  const edge = pane.toScreen(cx + sphereRadius, cy);
  const ring = svg('circle', { cx: sx, cy: sy, r: Math.abs(edge[0] - sx), fill: 'none', stroke: '#bbbbbb',
    'stroke-width': 1, class: 'pxl-sphere' });
  /** @type {[number, number][]} */
  const pts = [];
  for (let t = 0; t <= 64; t++) { // the circle z = 0 of the data, rotated
    const ex = Math.cos((2 * Math.PI * t) / 64) * sphereRadius;
    const ey = Math.sin((2 * Math.PI * t) / 64) * sphereRadius;
    pts.push(pane.toScreen(cx + R[0] * ex + R[1] * ey, cy + R[3] * ex + R[4] * ey));
  }
  const equator = svg('polyline', { points: svgPoints(pts), fill: 'none', stroke: '#dddddd', 'stroke-width': 1 });
  return [ring, equator];
}
