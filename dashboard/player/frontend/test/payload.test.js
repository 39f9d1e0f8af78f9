// The wire format as JavaScript reads it, against what Python wrote and decoded (test/fixture/, made by
// tests/player_fixture.py; pytest checks that the fixture is what Python writes now). Run: npm test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GRAD, PAYLOAD_VERSION, decode, gradColour, gradValue, unpack } from '../src/payload.js';

const here = new URL('./fixture/', import.meta.url);
const blob = new Uint8Array(readFileSync(new URL('payload.bin', here)));
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
    const python = expected.grad_value[s][i];
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
