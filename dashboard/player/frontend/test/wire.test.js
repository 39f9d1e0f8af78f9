// The wire format's one description (dashboard/player/wire.json) against the JavaScript: the generated types are
// what scripts/wire.js writes from it now, and the payloads Python writes (test/fixture/) have exactly its keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WIRE_JSON, TYPES_JS, generate } from '../scripts/wire.js';
import { decode } from '../src/payload.js';
import * as constants from '../src/wire-types.js';

/** @typedef {Record<string, {required: boolean}>} Section */
const wire = JSON.parse(readFileSync(WIRE_JSON, 'utf8'));
const here = new URL('./fixture/', import.meta.url);
const fixture = (/** @type {string} */ name) => decode(new Uint8Array(readFileSync(new URL(name, here))));

/** @param {Section} section */
const required = (section) => Object.keys(section).filter((key) => section[key].required).sort();
/** @param {object} object */
const keys = (object) => Object.keys(object).sort();

test('src/wire-types.js is what `npm run wire` generates from wire.json now', () => {
  assert.equal(readFileSync(TYPES_JS, 'utf8'), generate(wire), 'run `npm run wire` and commit src/wire-types.js');
});

test('the constants the player reads are wire.json\'s', () => {
  assert.equal(constants.MAGIC, wire.magic);
  assert.equal(constants.LINKED_MAGIC, wire.linked_magic);
  assert.equal(constants.VERSION, wire.version);
  assert.equal(constants.ALIGN, wire.align);
  assert.equal(constants.COORD_LEVELS, wire.coord_levels);
  assert.deepEqual({ ...constants.GRAD }, wire.grad);
});

/**
 * Every array's dtype is one the schema allows, and each shape symbol (S, N, P, D, M, ...) has one size.
 * @param {import('../src/wire-types.js').Header} header
 */
function checkArrays(header) {
  /** @type {Record<string, number>} */
  const sizes = { S: header.steps.length, N: header.n_points, P: header.n_proxies, D: header.dims };
  for (const [name, spec] of Object.entries(header.arrays)) {
    const schema = wire.arrays[name];
    assert.ok(schema, `array ${name} is not in wire.json`);
    assert.ok(schema.dtype.includes(spec.dtype), `${name}: dtype ${spec.dtype}`);
    assert.equal(spec.shape.length, schema.shape.length, `${name}: shape ${spec.shape}`);
    schema.shape.forEach((/** @type {string} */ symbol, /** @type {number} */ axis) => {
      sizes[symbol] ??= spec.shape[axis];
      assert.equal(spec.shape[axis], sizes[symbol], `${name}: ${symbol} = ${spec.shape[axis]}, elsewhere ${sizes[symbol]}`);
    });
    assert.deepEqual(keys(spec), keys(wire.array_spec));
  }
}

test('the fixture\'s header has every required key of wire.json and no other', () => {
  const { header } = fixture('payload.bin');
  for (const key of required(wire.header)) assert.ok(key in header, `required header key ${key} missing`);
  for (const key of Object.keys(header)) assert.ok(key in wire.header, `header key ${key} is not in wire.json`);
  for (const name of required(wire.arrays)) assert.ok(name in header.arrays, `required array ${name} missing`);
  checkArrays(header);
});

test('a payload with every optional part has exactly wire.json\'s header keys, arrays and view keys', () => {
  const { header, arrays } = fixture('full.bin');
  assert.deepEqual(keys(header), keys(wire.header));
  assert.deepEqual(keys(header.arrays), keys(wire.arrays));
  assert.deepEqual(keys(arrays), keys(wire.arrays));
  assert.deepEqual(keys(/** @type {object} */ (header.view)), keys(wire.view));
  checkArrays(header);
});
