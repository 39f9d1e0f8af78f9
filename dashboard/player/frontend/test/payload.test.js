// The wire format as JavaScript reads it, against what Python wrote and decoded (test/fixture/, made by
// tests/player_fixture.py; pytest checks that the fixture is what Python writes now). Run: npm test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GRAD, PAYLOAD_VERSION, decode, gradColour, gradValue, unpack } from '../src/payload.js';

/**
 * What Python decoded from the fixture (tests/player_fixture.py).
 * @typedef {{version: number, steps: number[], n_points: number, grad_codes: number[][], grad_colour: number[][],
 *   grad_value: (number | null)[][], stored: (number | null)[][], labels: number[], points: number[][]}} Expected
 */

const here = new URL('./fixture/', import.meta.url);
const blob = new Uint8Array(readFileSync(new URL('payload.bin', here)));
/** @type {Expected} */
const expected = JSON.parse(readFileSync(new URL('expected.json', here), 'utf8'));

test('the version Python writes is the version this player reads', () => {
  assert.equal(expected.version, PAYLOAD_VERSION);
  const { header } = decode(blob);
  assert.deepEqual(header.steps, expected.steps);
  assert.equal(header.n_points, expected.n_points);
});

test('a payload of another version is refused, not misread', () => {
  const key = new TextEncoder().encode(`"version":${PAYLOAD_VERSION},`);
  const at = blob.findIndex((_, i) => key.every((b, j) => blob[i + j] === b));
  assert.ok(at > 0, 'the header states its version');
  const old = blob.slice();
  old[at + key.length - 2] = '1'.charCodeAt(0); // the same payload, claiming version 1
  assert.throws(() => decode(old), /version 1, this player reads 2/);
});

test('bytes that are not a payload are refused by their magic', () => {
  const bad = blob.slice();
  bad.set(new TextEncoder().encode('PXPX'), 0);
  assert.throws(() => decode(bad), /bad magic/);
  assert.throws(() => decode(new Uint8Array(16)), /bad magic/);
  const linked = blob.slice();
  linked.set(new TextEncoder().encode('PXPM'), 0); // a linked blob is unpacked first, never decoded whole
  assert.throws(() => decode(linked), /bad magic/);
});

test('arrays decode to what Python decoded', () => {
  const { arrays } = decode(blob);
  assert.deepEqual(Array.from(arrays.labels), expected.labels);
  const n = expected.n_points;
  expected.grad_codes.forEach((row, s) => assert.deepEqual(Array.from(arrays.grad_norm.subarray(s * n, (s + 1) * n)), row));
  const d = arrays.points.length / expected.points.length;
  expected.points.forEach((row, s) => assert.deepEqual(Array.from(arrays.points.subarray(s * d, (s + 1) * d)), row));
});

test('each gradient reads back within 0.1 % of the stored value, as Python decodes it', () => {
  const { header, arrays } = decode(blob);
  const n = expected.n_points;
  expected.stored.forEach((row, s) => row.forEach((stored, i) => {
    const value = gradValue(arrays.grad_norm[s * n + i], header.grad_log_bounds[s], header.grad_levels);
    if (stored === null) { assert.ok(Number.isNaN(value)); return; }
    const python = /** @type {number} */ (expected.grad_value[s][i]);
    assert.ok(Math.abs(value - python) <= 1e-9 * Math.max(python, 1e-300), `step ${s} sample ${i}: ${value} vs ${python}`);
    if (stored === 0) assert.equal(value, 0);
    else assert.ok(Math.abs(value / stored - 1) <= 1e-3, `step ${s} sample ${i}: ${value} vs stored ${stored}`);
  }));
});

test('gradient colours are the palette indices Python computes', () => {
  const { header, arrays } = decode(blob);
  const n = expected.n_points;
  expected.grad_colour.forEach((row, s) => row.forEach((colour, i) => {
    assert.equal(gradColour(arrays.grad_norm[s * n + i], header.grad_levels), colour);
  }));
  assert.equal(gradColour(GRAD.missing, header.grad_levels), GRAD.colours);
  assert.equal(gradColour(GRAD.zero, header.grad_levels), 0);
  assert.equal(gradColour(1, header.grad_levels), 1);
  assert.equal(gradColour(65534, header.grad_levels), GRAD.colours - 1);
});

/**
 * payload.py's encode_grad for one value at a step whose log10 range is [lo, hi] (the reference quantiser).
 * @param {number} value
 * @param {number} lo
 * @param {number} hi
 */
function encodeGrad(value, lo, hi) {
  if (Number.isNaN(value)) return GRAD.missing;
  if (value === 0) return GRAD.zero;
  const span = hi - lo;
  const scaled = span > 0 ? ((Math.log10(value) - lo) / span) * GRAD.levels : 0;
  return 1 + Math.min(GRAD.levels, Math.max(0, Math.round(scaled)));
}

test('gradient quantisation round trip: a code reads back to a value that quantises to the same code', () => {
  for (const [lo, hi] of [[-30, 3], [-1, 1], [2, 2], [-45, 38.5]]) {
    for (let code = 1; code <= 65534; code += 1 + (code % 97)) {
      const value = gradValue(code, [lo, hi], GRAD.levels);
      assert.equal(encodeGrad(value, lo, hi), hi > lo ? code : 1, `code ${code} over [${lo}, ${hi}]`);
    }
    if (hi === lo) { // one value at the step: it is code 1 and reads back exactly
      assert.equal(gradValue(encodeGrad(10 ** lo, lo, hi), [lo, hi], GRAD.levels), 10 ** lo);
      continue;
    }
    const half = 10 ** ((hi - lo) / GRAD.levels / 2) - 1; // half a step of the log scale
    for (let k = 0; k <= 200; k++) { // values across the range read back within half a step
      const value = 10 ** (lo + ((hi - lo) * k) / 200 + (k % 2 ? 1e-7 : 0));
      const back = gradValue(encodeGrad(value, lo, hi), [lo, hi], GRAD.levels);
      assert.ok(Math.abs(back / value - 1) <= half * (1 + 1e-6) + 1e-12, `${value} -> ${back}`);
    }
  }
  assert.equal(encodeGrad(0, -3, 3), GRAD.zero);
  assert.equal(gradValue(GRAD.zero, [-3, 3], GRAD.levels), 0);
  assert.ok(Number.isNaN(gradValue(encodeGrad(NaN, -3, 3), [-3, 3], GRAD.levels)));
  assert.equal(gradValue(5, null, GRAD.levels), 0); // a step without positive norms
});

test('gradient colours are monotone in the code, zero first and "not computed" last', () => {
  let last = gradColour(GRAD.zero, GRAD.levels);
  assert.equal(last, 0);
  for (let code = 1; code <= 65534; code++) {
    const colour = gradColour(code, GRAD.levels);
    assert.ok(colour >= last && colour < GRAD.colours, `code ${code}: ${colour} after ${last}`);
    last = colour;
  }
  assert.equal(last, GRAD.colours - 1);
  assert.equal(gradColour(GRAD.missing, GRAD.levels), GRAD.colours);
});

test('a single payload unpacks to itself; linked ones split at their lengths', () => {
  assert.equal(unpack(blob).length, 1);
  const linked = new Uint8Array(8 + 8 + 2 * blob.length + 16);
  const view = new DataView(linked.buffer);
  linked.set(new TextEncoder().encode('PXPM'), 0);
  view.setUint32(4, 2, true);
  view.setUint32(8, blob.length, true);
  view.setUint32(12, blob.length, true);
  let at = 16;
  linked.set(blob, at);
  at += blob.length;
  at += (8 - (at % 8)) % 8;
  linked.set(blob, at);
  const parts = unpack(linked);
  assert.equal(parts.length, 2);
  parts.forEach((part) => assert.deepEqual(decode(part).header.steps, expected.steps));
});
