// The player's wire format, read in the browser (and by node's test runner: no DOM here). Python writes it:
// dashboard/player/payload.py, whose decode_payload this mirrors; both take the format from dashboard/player/wire.json
// (wire-types.js is generated from it).
import { ALIGN, GRAD, LINKED_MAGIC, MAGIC, VERSION } from './wire-types.js';

export { GRAD };
export const PAYLOAD_VERSION = VERSION; // a payload of another version is refused, not misread

/** @typedef {import('./wire-types.js').Header} Header */
/** @typedef {import('./wire-types.js').Arrays} Arrays */
/** @typedef {{header: Header, arrays: Arrays}} Decoded */

/** @type {Record<string, Uint16ArrayConstructor | Uint8ArrayConstructor | Int32ArrayConstructor>} */
const TYPED = { '<u2': Uint16Array, '|u1': Uint8Array, '<i4': Int32Array };

/**
 * The stored gradient norm of uint16 `code` at a step whose log10 range is `bounds` ([lo, hi] or null); NaN for
 * "not computed". Within 0.15 % of the stored value (payload.py decode_grad).
 * @param {number} code
 * @param {readonly number[] | null | undefined} bounds
 * @param {number} levels
 */
export function gradValue(code, bounds, levels) {
  if (code === GRAD.missing) return NaN;
  if (code === GRAD.zero || !bounds) return 0;
  return 10 ** (bounds[0] + ((code - 1) * (bounds[1] - bounds[0])) / levels);
}

/**
 * Palette index of uint16 gradient `code`: 256 bins of the step's log range, "not computed" after them.
 * @param {number} code
 * @param {number} levels
 */
export function gradColour(code, levels) {
  if (code === GRAD.missing) return GRAD.colours;
  if (code === GRAD.zero) return 0;
  return Math.min(GRAD.colours - 1, 1 + Math.floor(((code - 1) * (GRAD.colours - 1)) / levels));
}

/**
 * The first four bytes as text.
 * @param {Uint8Array} u8
 */
const magicOf = (u8) => String.fromCharCode(...u8.subarray(0, 4));

/**
 * Header and typed arrays of a payload (bytes from Python).
 * @param {Uint8Array | ArrayBuffer} bytes
 * @returns {Decoded}
 */
export function decode(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (magicOf(u8) !== MAGIC) throw new Error('player payload: bad magic');
  const length = new DataView(u8.buffer, u8.byteOffset, 8).getUint32(4, true);
  const header = /** @type {Header} */ (JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + length))));
  if (header.version !== PAYLOAD_VERSION) {
    throw new Error(`player payload: version ${header.version}, this player reads ${PAYLOAD_VERSION}; reload the page`);
  }
  let start = 8 + length;
  start += (ALIGN - (start % ALIGN)) % ALIGN;
  const body = u8.slice(start).buffer; // a fresh, aligned buffer: typed arrays need aligned offsets
  /** @type {Record<string, Uint16Array | Uint8Array | Int32Array>} */
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const Typed = TYPED[spec.dtype];
    if (!Typed) throw new Error(`player payload: array ${name} has dtype ${spec.dtype}, which this player does not read`);
    arrays[name] = new Typed(body, spec.offset, count);
  }
  return { header, arrays: /** @type {Arrays} */ (/** @type {unknown} */ (arrays)) };
}

/**
 * Split a payload that holds several runs' payloads (linked panes); a single payload is a list of one.
 * @param {Uint8Array | ArrayBuffer} bytes
 * @returns {Uint8Array[]}
 */
export function unpack(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (magicOf(u8) !== LINKED_MAGIC) return [u8];
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const count = view.getUint32(4, true);
  const parts = [];
  let at = 8 + 4 * count;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(8 + 4 * i, true);
    at += (ALIGN - (at % ALIGN)) % ALIGN;
    parts.push(u8.subarray(at, at + length));
    at += length;
  }
  return parts;
}
