// Camera and 3-D rotation, as pure functions (no DOM, no regl-scatterplot): the map from a payload's coordinate codes
// to the model coordinates regl-scatterplot draws, the rotation a drag turns, the camera's fit and the map from model
// coordinates to the canvas's CSS pixels.

/** @typedef {number[]} Matrix3 3x3, row-major */
/** @typedef {{offset: number[], scale: number[], sphereCentre: number[] | null, sphereRadius: number}} ModelFit */

export const IDENTITY = Object.freeze([1, 0, 0, 0, 1, 0, 0, 0, 1]);
export const ORBIT_RAD_PER_PX = 0.01;
/** 3-D opens turned (yaw, pitch in rad), so that depth reads at once */
export const OBLIQUE = Object.freeze(/** @type {[number, number]} */ ([0.6, 0.45]));

/**
 * Rx(pitch) . Ry(yaw), row-major: a turn by `yaw` about the screen's vertical axis, then `pitch` about its
 * horizontal one.
 * @param {number} yaw
 * @param {number} pitch
 * @returns {Matrix3}
 */
export function turnMatrix(yaw, pitch) {
  const [cy, sy, cp, sp] = [Math.cos(yaw), Math.sin(yaw), Math.cos(pitch), Math.sin(pitch)];
  return [cy, 0, sy, sp * sy, cp, -sp * cy, -cp * sy, sp, cp * cy];
}

/**
 * 3x3 matrices, row-major: a . b.
 * @param {readonly number[]} a
 * @param {readonly number[]} b
 * @returns {Matrix3}
 */
export function multiply(a, b) {
  const out = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[3 * r + c] += a[3 * r + k] * b[3 * k + c];
  return out;
}

/**
 * The rotation after a drag: `rotation` turned by `dYaw` about the screen's vertical axis and `dPitch` about its
 * horizontal one (the screen's axes, whatever the rotation so far: a trackball).
 * @param {readonly number[]} rotation
 * @param {number} dYaw
 * @param {number} dPitch
 * @returns {Matrix3}
 */
export const orbit = (rotation, dYaw, dPitch) => multiply(turnMatrix(dYaw, dPitch), rotation);

/** The rotation a 3-D pane opens with (and "Reset view" goes back to). */
export const obliqueRotation = () => turnMatrix(...OBLIQUE);

/**
 * `rotation` applied to (x, y, z).
 * @param {readonly number[]} R
 * @param {number} x
 * @param {number} y
 * @param {number} z
 * @returns {[number, number, number]}
 */
export const rotate = (R, x, y, z) => [R[0] * x + R[1] * y + R[2] * z, R[3] * x + R[4] * y + R[5] * z,
  R[6] * x + R[7] * y + R[8] * z];

/**
 * Largest distance of any point or proxy, at any step, from the centre of the bounds (data units).
 * @param {import('./wire-types.js').Header} header
 * @param {Uint16Array[]} codeArrays arrays of (x, y, z) codes
 * @param {number[]} mids the centre of the bounds
 */
export function radius(header, codeArrays, mids) {
  const L = header.coord_levels;
  const unit = header.bounds.map(([lo, hi]) => (hi - lo) / L);
  let far = 0;
  for (const codes of codeArrays) {
    for (let i = 0; i < codes.length; i += 3) {
      let r2 = 0;
      for (let a = 0; a < 3; a++) {
        const v = header.bounds[a][0] + codes[i + a] * unit[a] - mids[a];
        r2 += v * v;
      }
      if (r2 > far) far = r2;
    }
  }
  return Math.sqrt(far);
}

/**
 * Code -> centred model coordinate per axis: offset + code * scale. One scale for all axes, so distances keep their
 * proportions: 2-D fills the square view; 3-D fits the farthest point at any rotation. A native sphere's centre and
 * radius in model coordinates come with it.
 * @param {import('./wire-types.js').Header} header
 * @param {import('./wire-types.js').Arrays} arrays
 * @returns {ModelFit}
 */
export function modelFit(header, arrays) {
  const L = header.coord_levels;
  const mids = header.bounds.map(([lo, hi]) => (lo + hi) / 2);
  let fit = 1.9 / (Math.max(...header.bounds.map(([lo, hi]) => hi - lo)) || 1);
  if ((header.dims || 2) === 3) fit = 0.95 / (radius(header, [arrays.points, arrays.proxies], mids) || 1);
  return {
    scale: header.bounds.map(([lo, hi]) => ((hi - lo) / L) * fit),
    offset: header.bounds.map(([lo], a) => (lo - mids[a]) * fit),
    sphereCentre: header.sphere ? mids.map((m) => -m * fit) : null,
    sphereRadius: fit,
  };
}

/**
 * Model coordinates [x, y, depth] of the point whose codes start at `at` in `codes` (rotated in 3-D).
 * @param {ArrayLike<number>} codes
 * @param {number} at
 * @param {ModelFit} fit
 * @param {readonly number[]} rotation
 * @param {number} dims
 * @returns {[number, number, number]}
 */
export function place(codes, at, fit, rotation, dims) {
  const { offset: o, scale: k } = fit;
  const vx = o[0] + codes[at] * k[0];
  const vy = o[1] + codes[at + 1] * k[1];
  if (dims === 2) return [vx, vy, 0];
  const vz = o[2] + codes[at + 2] * k[2];
  return rotate(rotation, vx, vy, vz);
}

/**
 * The camera distance that shows the whole [-1, 1] square in a pane narrower than it is tall (regl-scatterplot fits
 * the height).
 * @param {number} width
 * @param {number} height
 */
export const fitDistance = (width, height) => Math.max(1, height / width);

/**
 * Model coordinates -> CSS pixels on a canvas of `width` x `height`, as regl-scatterplot draws (projection . view .
 * model) with camera view matrix `view` (4x4, column-major).
 * @param {ArrayLike<number>} view
 * @param {number} width
 * @param {number} height
 * @param {number} x
 * @param {number} y
 * @returns {[number, number]}
 */
export function toScreen(view, width, height, x, y) {
  const cx = (view[0] * x + view[4] * y + view[12]) / (width / height);
  const cy = view[1] * x + view[5] * y + view[13];
  return [(width * (cx + 1)) / 2, height * (0.5 - cy / 2)];
}

// --- the camera in the view report and the view (a shareable URL): {x, y, distance}, and yaw, pitch, roll in 3-D ---

/** @typedef {import('./wire-types.js').Camera} Camera */
/** @typedef {{target: [number, number], distance: number, rotation: Matrix3 | null}} CameraState */

export const CAMERA_DIGITS = 4; // significant digits of each number the view report carries

/**
 * `value` to `digits` significant digits.
 * @param {number} value
 * @param {number} [digits]
 */
export const roundSignificant = (value, digits = CAMERA_DIGITS) =>
  (value === 0 || !Number.isFinite(value) ? value : Number(value.toPrecision(digits)));

/**
 * Rz(roll): a turn about the axis out of the screen.
 * @param {number} roll
 * @returns {Matrix3}
 */
const rollMatrix = (roll) => [Math.cos(roll), -Math.sin(roll), 0, Math.sin(roll), Math.cos(roll), 0, 0, 0, 1];

/**
 * The rotation Rz(roll) . Rx(pitch) . Ry(yaw) (roll 0: the turn of turnMatrix).
 * @param {number} yaw
 * @param {number} pitch
 * @param {number} [roll]
 * @returns {Matrix3}
 */
export const rotationFromAngles = (yaw, pitch, roll = 0) => (roll ? multiply(rollMatrix(roll), turnMatrix(yaw, pitch))
  : turnMatrix(yaw, pitch));

/**
 * The angles of a rotation R = Rz(roll) . Rx(pitch) . Ry(yaw), pitch in [-pi/2, pi/2] (a drag turns about the screen's
 * axes, so a rotation has all three; at pitch = +-pi/2, roll is 0).
 * @param {readonly number[]} R
 * @returns {{yaw: number, pitch: number, roll: number}}
 */
export function rotationAngles(R) {
  const pitch = Math.asin(Math.max(-1, Math.min(1, R[7])));
  if (Math.hypot(R[6], R[8]) < 1e-9) return { yaw: Math.atan2(R[2], R[0]), pitch, roll: 0 }; // gimbal lock
  return { yaw: Math.atan2(-R[6], R[8]), pitch, roll: Math.atan2(-R[1], R[4]) };
}

/**
 * The camera as the view report carries it: target and distance, and in 3-D the rotation's angles, each number to
 * 4 significant digits.
 * @param {CameraState} state
 * @returns {Camera}
 */
export function cameraReport({ target, distance, rotation }) {
  /** @type {Camera} */
  const camera = { x: roundSignificant(target[0]), y: roundSignificant(target[1]), distance: roundSignificant(distance) };
  if (rotation) {
    const { yaw, pitch, roll } = rotationAngles(rotation);
    Object.assign(camera, { yaw: roundSignificant(yaw), pitch: roundSignificant(pitch), roll: roundSignificant(roll) });
  }
  return camera;
}

/**
 * @param {unknown} v
 * @returns {v is number}
 */
const isNumber = (v) => typeof v === 'number' && Number.isFinite(v);

/**
 * The camera state a view's `camera` asks for, or null (none, or not a camera: the player then fits its own). The
 * rotation is there only with both yaw and pitch (roll defaults to 0).
 * @param {Camera | null | undefined} camera
 * @returns {CameraState | null}
 */
export function cameraState(camera) {
  if (!camera || typeof camera !== 'object') return null;
  const { x, y, distance, yaw, pitch, roll } = camera;
  if (!isNumber(x) || !isNumber(y) || !isNumber(distance) || !(distance > 0)) return null;
  const turned = isNumber(yaw) && isNumber(pitch) && (roll === undefined || isNumber(roll));
  return { target: [x, y], distance, rotation: turned ? rotationFromAngles(yaw, pitch, roll ?? 0) : null };
}
