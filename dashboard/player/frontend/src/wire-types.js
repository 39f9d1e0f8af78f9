// Generated from dashboard/player/wire.json by scripts/wire.js (npm run wire): do not edit. npm test fails when
// this file is not what the script generates from wire.json now.

export const MAGIC = 'PXPL';
export const LINKED_MAGIC = 'PXPM';
export const VERSION = 2;
export const ALIGN = 8;
export const COORD_LEVELS = 65535;
export const GRAD = { zero: 0, missing: 65535, levels: 65533, colours: 256 };
export const SHAPE_MAX_VERTICES = 64;

/**
 * The JSON header of a payload (wire.json "header").
 * @typedef {{
 *   version: number,
 *   id: string,
 *   steps: number[],
 *   n_points: number,
 *   n_proxies: number,
 *   dims: number,
 *   bounds: [number, number][],
 *   grad_log_bounds: ([number, number] | null)[],
 *   coord_levels: number,
 *   grad_levels: number,
 *   class_names: string[] | null,
 *   palettes: Record<string, string[]>,
 *   title: string,
 *   sphere: boolean,
 *   arrays: ArraySpecs,
 *   view?: View,
 * }} Header
 */

/**
 * One array's entry in the header (wire.json "array_spec").
 * @typedef {{
 *   dtype: string,
 *   shape: number[],
 *   offset: number,
 * }} ArraySpec
 */

/**
 * The arrays a header names (wire.json "arrays").
 * @typedef {{
 *   points: ArraySpec,
 *   proxies: ArraySpec,
 *   proxy_class: ArraySpec,
 *   proxy_k: ArraySpec,
 *   proxy_steps: ArraySpec,
 *   labels: ArraySpec,
 *   modes: ArraySpec,
 *   split: ArraySpec,
 *   index: ArraySpec,
 *   mode_colour: ArraySpec,
 *   grad_norm: ArraySpec,
 *   nearest_proxy?: ArraySpec,
 *   neighbour_same_class?: ArraySpec,
 *   images?: ArraySpec,
 *   mode_centres?: ArraySpec,
 *   mode_proxy?: ArraySpec,
 *   mode_covered?: ArraySpec,
 * }} ArraySpecs
 */

/**
 * The arrays of a payload, decoded: typed arrays of their dtype, flat (wire.json "arrays").
 * @typedef {{
 *   points: Uint16Array,
 *   proxies: Uint16Array,
 *   proxy_class: Uint16Array,
 *   proxy_k: Uint8Array,
 *   proxy_steps: Uint8Array,
 *   labels: Int32Array,
 *   modes: Int32Array,
 *   split: Uint8Array,
 *   index: Int32Array,
 *   mode_colour: Uint16Array,
 *   grad_norm: Uint16Array,
 *   nearest_proxy?: Uint8Array | Uint16Array,
 *   neighbour_same_class?: Uint8Array,
 *   images?: Uint8Array,
 *   mode_centres?: Uint16Array,
 *   mode_proxy?: Uint8Array | Uint16Array,
 *   mode_covered?: Uint8Array,
 * }} Arrays
 */

/**
 * The view Python sends with a payload (wire.json "view").
 * @typedef {{
 *   step: number | null,
 *   colour: string,
 *   proxies: boolean,
 *   trajectories: boolean,
 *   links: boolean,
 *   selected: number[],
 *   selected_rev: number,
 *   height: number,
 *   controls: string,
 *   font_px: number | null,
 *   point_px: number | null,
 *   proxy_px: number | null,
 *   camera: Camera | null,
 * }} View
 */

/**
 * A camera, in the view and the view report (wire.json "camera").
 * @typedef {{
 *   x: number,
 *   y: number,
 *   distance: number,
 *   yaw?: number,
 *   pitch?: number,
 *   roll?: number,
 * }} Camera
 */

/**
 * What the browser reports once the view settles (wire.json "reports" "view").
 * @typedef {{
 *   step: number,
 *   colour: string,
 *   proxies: boolean,
 *   trajectories: boolean,
 *   camera: Camera | null,
 * }} ViewReport
 */

/**
 * What the browser reports on a selection (wire.json "reports" "selection").
 * @typedef {{
 *   ids: number[],
 *   seq: string,
 *   step: number,
 *   shape: SelectionShape | null,
 * }} SelectionReport
 */

/**
 * A selection's polygon in its pane's coordinate codes (wire.json "selection_shape").
 * @typedef {{
 *   pane: number,
 *   kind: 'lasso' | 'box',
 *   points: [number, number][],
 * }} SelectionShape
 */
