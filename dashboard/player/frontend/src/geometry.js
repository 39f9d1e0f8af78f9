// Selection geometry, pure: a lasso or box travels to Python as a polygon in its pane's coordinate codes (the
// payload's uint16 units over `bounds`), at most 64 integer vertices, and the selection is exactly the pane's samples
// whose codes at the shown step lie inside that polygon by the even-odd rule of `inside` (integer arithmetic, so
// Python computes the same set from the shape).

import { SHAPE_MAX_VERTICES } from './wire-types.js';

/** @typedef {[number, number]} Point */

export const MAX_VERTICES = SHAPE_MAX_VERTICES; // wire.json selection_shape_max_vertices
/** polygon vertices are kept within +-2^20 codes (the data spans 0..65535): every product `inside` forms stays an
 * exact integer in float64 (and int64) */
export const CODE_LIMIT = 2 ** 20;

/**
 * A lasso's vertices as [x, y] pairs, whether given as pairs (what regl-scatterplot's lassoEnd sends) or flat
 * (x0, y0, x1, y1, ...: what its types declare).
 * @param {readonly (number | readonly number[])[]} coordinates
 * @returns {number[][]}
 */
export function vertexPairs(coordinates) {
  if (coordinates.every((c) => Array.isArray(c))) return coordinates.map((c) => [...(/** @type {number[]} */ (c))]);
  const flat = /** @type {number[]} */ (coordinates);
  return Array.from({ length: Math.floor(flat.length / 2) }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);
}

/**
 * Model coordinates (what regl-scatterplot's lasso reports) -> code units of the payload, per axis: the inverse of
 * the pane's fit (model = offset + code * scale), clamped to +-CODE_LIMIT. An axis of zero span (every code 0) maps
 * to -CODE_LIMIT, 0 or CODE_LIMIT by the side of the drawn line.
 * @param {readonly number[][]} points
 * @param {{offset: readonly number[], scale: readonly number[]}} fit
 * @returns {Point[]}
 */
export function toCodes(points, { offset, scale }) {
  /** @type {(v: number, a: number) => number} */
  const code = (v, a) => {
    const c = scale[a] ? (v - offset[a]) / scale[a] : Math.sign(v - offset[a]) * CODE_LIMIT;
    return Math.max(-CODE_LIMIT, Math.min(CODE_LIMIT, c));
  };
  return points.map(([x, y]) => [code(x, 0), code(y, 1)]);
}

/**
 * Distance of `p` from the segment a-b.
 * @param {Point} p
 * @param {Point} a
 * @param {Point} b
 */
function segmentDistance(p, a, b) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2)) : 0;
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}

/**
 * Douglas-Peucker on an open path: the vertices within `epsilon` of the simplified path dropped (both ends kept).
 * @param {Point[]} path
 * @param {number} epsilon
 * @returns {Point[]}
 */
export function douglasPeucker(path, epsilon) {
  if (path.length < 3) return path.slice();
  const keep = new Uint8Array(path.length);
  keep[0] = keep[path.length - 1] = 1;
  const stack = [[0, path.length - 1]];
  while (stack.length) {
    const [first, last] = /** @type {number[]} */ (stack.pop());
    let far = -1;
    let farthest = epsilon;
    for (let i = first + 1; i < last; i++) {
      const d = segmentDistance(path[i], path[first], path[last]);
      if (d > farthest) { farthest = d; far = i; }
    }
    if (far >= 0) {
      keep[far] = 1;
      stack.push([first, far], [far, last]);
    }
  }
  return path.filter((_, i) => keep[i]);
}

/**
 * A closed polygon simplified by Douglas-Peucker: split at its first vertex and the vertex farthest from it, each
 * half simplified.
 * @param {Point[]} ring
 * @param {number} epsilon
 * @returns {Point[]}
 */
function simplifyRing(ring, epsilon) {
  if (ring.length < 4) return ring.slice();
  let far = 0;
  let farthest = -1;
  ring.forEach((p, i) => {
    const d = Math.hypot(p[0] - ring[0][0], p[1] - ring[0][1]);
    if (d > farthest) { farthest = d; far = i; }
  });
  const first = douglasPeucker(ring.slice(0, far + 1), epsilon);
  const second = douglasPeucker([...ring.slice(far), ring[0]], epsilon);
  return [...first, ...second.slice(1, -1)];
}

/**
 * `count` vertices of `ring`, evenly spaced along its order (the first kept).
 * @param {Point[]} ring
 * @param {number} count
 * @returns {Point[]}
 */
export const subsample = (ring, count) => (ring.length <= count ? ring.slice()
  : Array.from({ length: count }, (_, k) => ring[Math.floor((k * ring.length) / count)]));

/**
 * A lasso as at most `max` vertices: Douglas-Peucker at `epsilon` (code units; the closing vertex, equal to the first,
 * dropped), the tolerance doubled until it fits, evenly subsampled if it still does not.
 * @param {Point[]} ring
 * @param {number} epsilon
 * @param {number} [max]
 * @returns {Point[]}
 */
export function simplify(ring, epsilon, max = MAX_VERTICES) {
  const open = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1]
    ? ring.slice(0, -1) : ring.slice();
  let out = simplifyRing(open, epsilon);
  for (let tolerance = Math.max(epsilon, 1e-9) * 2; out.length > max && tolerance < 1e9; tolerance *= 2) {
    out = simplifyRing(open, tolerance);
  }
  return subsample(out, max);
}

/**
 * Vertices rounded to integer codes, a vertex equal to the one before it dropped.
 * @param {Point[]} ring
 * @returns {Point[]}
 */
export function roundRing(ring) {
  /** @type {Point[]} */
  const out = [];
  for (const [x, y] of ring) {
    /** @type {Point} */
    const p = [Math.round(x), Math.round(y)];
    const last = out[out.length - 1];
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
  }
  while (out.length > 1 && out[0][0] === out[out.length - 1][0] && out[0][1] === out[out.length - 1][1]) out.pop();
  return out;
}

/**
 * Whether integer point (px, py) is inside integer polygon `ring` by the even-odd rule, in integer arithmetic (the
 * rule Python applies to the reported shape):
 *   for each edge (xi, yi) -> (xj, yj), j the previous vertex: when (yi > py) != (yj > py), with
 *   lhs = (px - xi) * (yj - yi) and rhs = (xj - xi) * (py - yi), the edge flips `inside` when
 *   (yj > yi ? lhs < rhs : lhs > rhs).
 * @param {number} px
 * @param {number} py
 * @param {readonly Point[]} ring
 */
export function inside(px, py, ring) {
  let result = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > py) !== (yj > py)) {
      const lhs = (px - xi) * (yj - yi);
      const rhs = (xj - xi) * (py - yi);
      if (yj > yi ? lhs < rhs : lhs > rhs) result = !result;
    }
  }
  return result;
}

/**
 * The samples whose codes at step index `s` lie inside `ring` (their ids, ascending). `codes` is the payload's
 * points array (S, N, D) flat; only the first two axes are tested.
 * @param {ArrayLike<number>} codes
 * @param {number} n
 * @param {number} dims
 * @param {number} s
 * @param {readonly Point[]} ring
 * @returns {number[]}
 */
export function samplesInside(codes, n, dims, s, ring) {
  if (ring.length < 3) return [];
  const xs = ring.map((p) => p[0]);
  const ys = ring.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const ids = [];
  for (let i = 0, at = s * n * dims; i < n; i++, at += dims) {
    const px = codes[at];
    const py = codes[at + 1];
    // outside the bounding box no edge is crossed to the point's left an odd number of times: the rule says outside
    if (px < x0 || px > x1 || py < y0 || py > y1) continue;
    if (inside(px, py, ring)) ids.push(i);
  }
  return ids;
}

/**
 * A lasso or box drawn in a pane (model coordinates, as regl-scatterplot reports it) as the polygon a selection
 * travels as: code units, at most 64 vertices (a box: its 4 corners), integers.
 * @param {readonly number[][]} drawn
 * @param {{offset: readonly number[], scale: readonly number[]}} fit
 * @param {'lasso' | 'box'} kind
 * @param {number} epsilon the simplification's tolerance (code units)
 * @returns {Point[]}
 */
export function selectionPolygon(drawn, fit, kind, epsilon) {
  const codes = toCodes(kind === 'box' ? drawn.slice(0, 4) : drawn, fit);
  return roundRing(kind === 'box' ? codes : simplify(codes, epsilon));
}
