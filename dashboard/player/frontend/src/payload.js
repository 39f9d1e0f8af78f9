// The player's wire format, read in the browser (and by node's test runner: no DOM here). Python writes it:
// dashboard/player/payload.py, whose VERSION this file checks and whose decode_payload it mirrors.
const TYPED = { '<u2': Uint16Array, '|u1': Uint8Array, '<i4': Int32Array };
export const PAYLOAD_VERSION = 2; // dashboard/player/payload.py VERSION: a payload of another version is refused, not misread
// gradient norms: uint16 per step on a log scale (payload.py encode_grad / grad_colour)
export const GRAD = { zero: 0, missing: 65535, colours: 256 };

/** The stored gradient norm of uint16 `code` at a step whose log10 range is `bounds` ([lo, hi] or null); NaN for
 * "not computed". Within 0.15 % of the stored value (payload.py decode_grad). */
export function gradValue(code, bounds, levels) {
  if (code === GRAD.missing) return NaN;
  if (code === GRAD.zero || !bounds) return 0;
  return 10 ** (bounds[0] + ((code - 1) * (bounds[1] - bounds[0])) / levels);
}

/** Palette index of uint16 gradient `code`: 256 bins of the step's log range, "not computed" after them. */
export function gradColour(code, levels) {
  if (code === GRAD.missing) return GRAD.colours;
  if (code === GRAD.zero) return 0;
  return Math.min(GRAD.colours - 1, 1 + Math.floor(((code - 1) * (GRAD.colours - 1)) / levels));
}

/** Header and typed arrays of a payload (bytes from Python). */
export function decode(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (String.fromCharCode(...u8.subarray(0, 4)) !== 'PXPL') throw new Error('player payload: bad magic');
  const length = new DataView(u8.buffer, u8.byteOffset, 8).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + length)));
  if (header.version !== PAYLOAD_VERSION) {
    throw new Error(`player payload: version ${header.version}, this player reads ${PAYLOAD_VERSION}; reload the page`);
  }
  let start = 8 + length;
  start += (8 - (start % 8)) % 8;
  const body = u8.slice(start).buffer; // a fresh, aligned buffer: typed arrays need aligned offsets
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    arrays[name] = new TYPED[spec.dtype](body, spec.offset, count);
  }
  return { header, arrays };
}


/** Split a payload that holds several runs' payloads (linked panes); a single payload is a list of one. */
export function unpack(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (String.fromCharCode(...u8.subarray(0, 4)) !== 'PXPM') return [u8];
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const count = view.getUint32(4, true);
  const parts = [];
  let at = 8 + 4 * count;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(8 + 4 * i, true);
    at += (8 - (at % 8)) % 8;
    parts.push(u8.subarray(at, at + length));
    at += length;
  }
  return parts;
}
