// Generates src/wire-types.js from dashboard/player/wire.json, the wire format's one description (Python reads the
// same file): its constants and JSDoc types, so that tsc (strict) fails when the JavaScript reads a header, view or
// array the schema lacks. Run: npm run wire. npm test fails when the committed file is not what this writes now.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const WIRE_JSON = new URL('../../wire.json', import.meta.url);
export const TYPES_JS = new URL('../src/wire-types.js', import.meta.url);

/** @type {Record<string, string>} */
const TYPED_ARRAYS = { '<u2': 'Uint16Array', '|u1': 'Uint8Array', '<i4': 'Int32Array' };

/**
 * A JSDoc object type, one key a line.
 * @param {string} name
 * @param {string} doc
 * @param {[string, boolean, string][]} keys [key, required, type]
 */
function typedef(name, doc, keys) {
  const lines = keys.map(([key, required, type]) => ` *   ${key}${required ? '' : '?'}: ${type},`);
  return ['/**', ` * ${doc}`, ' * @typedef {{', ...lines, ` * }} ${name}`, ' */', ''].join('\n');
}

/**
 * The keys of one section of wire.json ({key: {required, ts}}).
 * @param {Record<string, {required: boolean, ts: string}>} section
 * @returns {[string, boolean, string][]}
 */
const keysOf = (section) => Object.entries(section).map(([key, spec]) => [key, spec.required, spec.ts]);

/**
 * The text of src/wire-types.js for the schema `wire` (wire.json, parsed).
 * @param {any} wire
 * @returns {string}
 */
export function generate(wire) {
  /** @type {[string, boolean, string][]} */
  const arrays = Object.entries(wire.arrays).map(([name, spec]) => [name, spec.required,
    spec.dtype.map((/** @type {string} */ d) => TYPED_ARRAYS[d] ?? 'never').join(' | ')]);
  /** @type {[string, boolean, string][]} */
  const specs = Object.entries(wire.arrays).map(([name, spec]) => [name, spec.required, 'ArraySpec']);
  const parts = [
    '// Generated from dashboard/player/wire.json by scripts/wire.js (npm run wire): do not edit. npm test fails when',
    '// this file is not what the script generates from wire.json now.',
    '',
    `export const MAGIC = '${wire.magic}';`,
    `export const LINKED_MAGIC = '${wire.linked_magic}';`,
    `export const VERSION = ${wire.version};`,
    `export const ALIGN = ${wire.align};`,
    `export const COORD_LEVELS = ${wire.coord_levels};`,
    `export const GRAD = { zero: ${wire.grad.zero}, missing: ${wire.grad.missing}, levels: ${wire.grad.levels}, `
      + `colours: ${wire.grad.colours} };`,
    ...(wire.selection_shape_max_vertices ? [`export const SHAPE_MAX_VERTICES = ${wire.selection_shape_max_vertices};`] : []),
    '',
    typedef('Header', 'The JSON header of a payload (wire.json "header").', keysOf(wire.header)),
    typedef('ArraySpec', "One array's entry in the header (wire.json \"array_spec\").", keysOf(wire.array_spec)),
    typedef('ArraySpecs', 'The arrays a header names (wire.json "arrays").', specs),
    typedef('Arrays', 'The arrays of a payload, decoded: typed arrays of their dtype, flat (wire.json "arrays").', arrays),
    typedef('View', 'The view Python sends with a payload (wire.json "view").', keysOf(wire.view)),
  ];
  if (wire.camera) parts.push(typedef('Camera', 'A camera, in the view and the view report (wire.json "camera").', keysOf(wire.camera)));
  parts.push(typedef('ViewReport', 'What the browser reports once the view settles (wire.json "reports" "view").',
    keysOf(wire.reports.view)));
  parts.push(typedef('SelectionReport', 'What the browser reports on a selection (wire.json "reports" "selection").',
    keysOf(wire.reports.selection)));
  if (wire.selection_shape) {
    parts.push(typedef('SelectionShape', "A selection's polygon in its pane's coordinate codes (wire.json \"selection_shape\").",
      keysOf(wire.selection_shape)));
  }
  return parts.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(TYPES_JS, generate(JSON.parse(readFileSync(WIRE_JSON, 'utf8'))));
  console.log(`wrote ${fileURLToPath(TYPES_JS)}`);
}
