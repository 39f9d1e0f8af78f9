// Selection geometry (src/geometry.js): the even-odd rule Python applies to a reported shape, the simplification to
// at most 64 integer vertices, the map from the lasso's model coordinates to the payload's codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CODE_LIMIT, MAX_VERTICES, douglasPeucker, inside, roundRing, samplesInside, selectionPolygon, simplify, subsample,
  toCodes, vertexPairs,
} from '../src/geometry.js';

/** @typedef {import('../src/geometry.js').Point} Point */

/** A seeded generator (mulberry32): the same cases on every run. @param {number} seed */
function random(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The even-odd rule by crossing count in floating point (the textbook form), for points off every edge.
 * @param {number} px
 * @param {number} py
 * @param {Point[]} ring
 */
function crossings(px, py, ring) {
  let count = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > py) !== (yj > py) && px < xi + ((xj - xi) * (py - yi)) / (yj - yi)) count += 1;
  }
  return count % 2 === 1;
}

test('the even-odd rule: a square, a concave shape, a self-crossing star', () => {
  /** @type {Point[]} */
  const square = [[0, 0], [10, 0], [10, 10], [0, 10]];
  assert.ok(inside(5, 5, square));
  assert.ok(!inside(15, 5, square) && !inside(-1, 5, square) && !inside(5, 11, square));
  /** @type {Point[]} */
  const notch = [[0, 0], [10, 0], [10, 10], [5, 4], [0, 10]]; // a V cut in from the top
  assert.ok(inside(5, 2, notch) && !inside(5, 8, notch) && inside(1, 8, notch));
  /** @type {Point[]} */
  const star = [[0, 10], [6, -8], [-10, 3], [10, 3], [-6, -8]]; // a pentagram: its centre crossed twice
  assert.ok(!inside(0, 0, star));
  assert.ok(inside(0, 7, star) && inside(7, 2, star));
});

test('the even-odd rule on edges and vertices: the half-open convention, the same for any vertex order', () => {
  /** @type {Point[]} */
  const square = [[0, 0], [10, 0], [10, 10], [0, 10]];
  assert.ok(inside(0, 5, square)); // the left edge: in (px < the crossing at x = 10, not at x = 0)
  assert.ok(!inside(10, 5, square)); // the right edge: out
  assert.ok(inside(5, 0, square)); // the bottom edge: in (yi > py is false on it, true above)
  assert.ok(!inside(5, 10, square)); // the top edge: out
  const reversed = square.slice().reverse();
  const rotated = [...square.slice(2), ...square.slice(0, 2)];
  for (let x = -2; x <= 12; x++) {
    for (let y = -2; y <= 12; y++) {
      assert.equal(inside(x, y, reversed), inside(x, y, square), `${x},${y}`);
      assert.equal(inside(x, y, rotated), inside(x, y, square), `${x},${y}`);
    }
  }
});

test('the integer rule agrees with the crossing count wherever a point is off the edges', () => {
  const rand = random(1);
  for (let k = 0; k < 60; k++) {
    /** @type {Point[]} */
    const ring = Array.from({ length: 3 + Math.floor(rand() * 40) }, () => [Math.round(rand() * 65535), Math.round(rand() * 65535)]);
    for (let q = 0; q < 300; q++) {
      const px = Math.round(rand() * 65535) + 0.5; // half-integers: never on a vertex's row
      const py = Math.round(rand() * 65535) + 0.5;
      const [a, b] = [Math.floor(px), Math.floor(py)]; // integer points: against the float rule where off every edge
      const onEdge = ring.some(([xi, yi], i) => {
        const [xj, yj] = ring[(i + ring.length - 1) % ring.length];
        return (a - xi) * (yj - yi) === (xj - xi) * (b - yi) && Math.min(yi, yj) <= b && b <= Math.max(yi, yj);
      });
      if (!onEdge) assert.equal(inside(a, b, ring), crossings(a, b, ring), `${a},${b} in ring ${k}`);
      assert.equal(inside(px, py, ring), crossings(px, py, ring));
    }
  }
});

test('the rule is exact at the codes\' extremes (products stay integers below 2^53)', () => {
  /** @type {Point[]} */
  const thin = [[-CODE_LIMIT, -CODE_LIMIT], [CODE_LIMIT, CODE_LIMIT - 1], [CODE_LIMIT, CODE_LIMIT]];
  // the line from (-L, -L) to (L, L - 1): (x, y) is on its left iff 2L * (y + L) > (2L - 1) * (x + L)
  for (const [x, y] of [[65535, 65535], [65535, 65534], [0, 0], [1, 0], [30000, 29999]]) {
    const left = 2 * CODE_LIMIT * (y + CODE_LIMIT) > (2 * CODE_LIMIT - 1) * (x + CODE_LIMIT);
    const belowTop = y < CODE_LIMIT;
    assert.equal(inside(x, y, thin), left && belowTop && x < CODE_LIMIT, `${x},${y}`);
  }
});

test('samples inside: exactly the brute force, at the step asked for, in 2-D and 3-D codes', () => {
  const rand = random(2);
  const [S, N] = [3, 2000];
  for (const dims of [2, 3]) {
    const codes = Uint16Array.from({ length: S * N * dims }, () => Math.floor(rand() * 65536));
    /** @type {Point[]} */
    const ring = Array.from({ length: 30 }, (_, k) => {
      const angle = (2 * Math.PI * k) / 30;
      const r = 10000 + rand() * 20000;
      return [Math.round(32768 + r * Math.cos(angle)), Math.round(32768 + r * Math.sin(angle))];
    });
    for (let s = 0; s < S; s++) {
      const want = [];
      for (let i = 0; i < N; i++) if (inside(codes[(s * N + i) * dims], codes[(s * N + i) * dims + 1], ring)) want.push(i);
      assert.deepEqual(samplesInside(codes, N, dims, s, ring), want);
      assert.ok(want.length > 100 && want.length < N - 100);
    }
  }
  assert.deepEqual(samplesInside(new Uint16Array([5, 5]), 1, 2, 0, [[0, 0], [10, 10]]), []); // not a polygon
});

test('model coordinates map to the payload\'s code units (the inverse of the pane\'s fit), clamped', () => {
  const fit = { offset: [-0.95, -0.5], scale: [1.9 / 65535, 1 / 65535] };
  const codes = toCodes([[-0.95, -0.5], [0.95, 0.5], [0, 0]], fit);
  const expected = [[0, 0], [65535, 65535], [65535 / 2, 32767.5]];
  codes.forEach((p, i) => p.forEach((v, a) => assert.ok(Math.abs(v - expected[i][a]) < 1e-6, `${p} vs ${expected[i]}`)));
  assert.deepEqual(toCodes([[1e9, -1e9]], fit), [[CODE_LIMIT, -CODE_LIMIT]]);
  const flat = { offset: [0, 0.25], scale: [1, 0] }; // an axis of zero span: every code 0
  assert.deepEqual(toCodes([[2, 0.3], [3, 0.1], [4, 0.25]], flat), [[2, CODE_LIMIT], [3, -CODE_LIMIT], [4, 0]]);
});

test('lasso vertices come as pairs or flat', () => {
  assert.deepEqual(vertexPairs([[1, 2], [3, 4]]), [[1, 2], [3, 4]]);
  assert.deepEqual(vertexPairs([1, 2, 3, 4]), [[1, 2], [3, 4]]);
});

test('Douglas-Peucker drops what lies within the tolerance and keeps the corners', () => {
  /** @type {Point[]} */
  const path = [[0, 0], [1, 0.1], [2, -0.1], [3, 0], [3, 1], [3, 2]];
  assert.deepEqual(douglasPeucker(path, 0.5), [[0, 0], [3, 0], [3, 2]]);
  assert.deepEqual(douglasPeucker(path, 0.05), [[0, 0], [1, 0.1], [2, -0.1], [3, 0], [3, 2]]); // (3, 1) is on the line
});

test('a hand-drawn rectangle simplifies to its corners; any lasso to at most 64 vertices', () => {
  /** @type {Point[]} */
  const corners = [[1000, 1000], [9000, 1000], [9000, 7000], [1000, 7000]];
  /** @type {Point[]} */
  const drawn = [];
  corners.forEach((a, k) => {
    const b = corners[(k + 1) % 4];
    for (let t = 0; t < 40; t++) drawn.push([a[0] + ((b[0] - a[0]) * t) / 40 + 0.3 * Math.sin(t), a[1] + ((b[1] - a[1]) * t) / 40]);
  });
  drawn.push([1000, 1001]); // closed where it began
  const simple = roundRing(simplify(drawn, 2));
  assert.equal(simple.length, 4);
  for (const corner of corners) assert.ok(simple.some((p) => Math.hypot(p[0] - corner[0], p[1] - corner[1]) <= 1), String(corner));

  const rand = random(3);
  /** @type {Point[]} */
  const scribble = Array.from({ length: 3000 }, (_, k) => {
    const angle = (2 * Math.PI * k) / 3000;
    const r = 20000 + 8000 * Math.sin(37 * angle) + 500 * rand();
    return [32768 + r * Math.cos(angle), 32768 + r * Math.sin(angle)];
  });
  const kept = simplify(scribble, 1);
  assert.ok(kept.length <= MAX_VERTICES && kept.length >= 32, String(kept.length));
  assert.equal(subsample(scribble, 64).length, 64);
  const few = simplify(scribble, 1, 10).length;
  assert.ok(few <= 10 && few >= 3, String(few));
});

test('rounding gives integer vertices, no repeated neighbour, not closed twice', () => {
  assert.deepEqual(roundRing([[0.4, 0.4], [0.2, -0.3], [5.6, 1.2], [5.5, 1.4], [0, 0]]), [[0, 0], [6, 1]]);
  assert.deepEqual(roundRing([[1.5, 2.5], [3, 4], [7, 1]]), [[2, 3], [3, 4], [7, 1]]);
});

test('a selection polygon: a box is its 4 corners, a lasso simplified; integers in code units', () => {
  const fit = { offset: [-1, -1], scale: [2 / 65535, 2 / 65535] };
  const box = selectionPolygon([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]], fit, 'box', 1);
  assert.deepEqual(box, [[16384, 16384], [49151, 16384], [49151, 49151], [16384, 49151]]);
  const lasso = selectionPolygon(Array.from({ length: 500 }, (_, k) => [0.5 * Math.cos(k / 80), 0.5 * Math.sin(k / 80)]), fit, 'lasso', 1);
  assert.ok(lasso.length <= 64 && lasso.length > 8);
  assert.ok(lasso.every(([x, y]) => Number.isInteger(x) && Number.isInteger(y)));
});

test('the even-odd rule selects what Python selects from a shared shape (fixture/polygons.json)', async () => {
  const { readFile } = await import('node:fs/promises');
  /** @type {{polygon: Point[], points: Point[], inside: number[]}[]} */
  const cases = JSON.parse(await readFile(new URL('./fixture/polygons.json', import.meta.url), 'utf8'));
  assert.ok(cases.length >= 20);
  for (const { polygon, points, inside: expected } of cases) {
    assert.deepEqual(points.map(([x, y]) => (inside(x, y, polygon) ? 1 : 0)), expected);
    const codes = points.flat();
    const ids = expected.flatMap((v, i) => (v ? [i] : []));
    assert.deepEqual(samplesInside(codes, points.length, 2, 0, polygon), ids);
  }
});
