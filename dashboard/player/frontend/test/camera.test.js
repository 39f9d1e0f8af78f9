// Camera maths (src/camera.js): rotations, the code -> model map, the camera's fit and the map to screen pixels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  IDENTITY, OBLIQUE, cameraReport, cameraState, fitDistance, modelFit, multiply, obliqueRotation, orbit, place, rotate,
  rotationAngles, rotationFromAngles, roundSignificant, toScreen, turnMatrix,
} from '../src/camera.js';
import { decode } from '../src/payload.js';

/**
 * @param {ArrayLike<number>} a
 * @param {ArrayLike<number>} b
 * @param {number} [tol]
 */
function close(a, b, tol = 1e-12) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} vs ${b[i]} (${Array.from(a)})`);
}

/** @param {readonly number[]} R */
const transpose = (R) => [R[0], R[3], R[6], R[1], R[4], R[7], R[2], R[5], R[8]];
/** @param {readonly number[]} R */
const det = (R) => R[0] * (R[4] * R[8] - R[5] * R[7]) - R[1] * (R[3] * R[8] - R[5] * R[6]) + R[2] * (R[3] * R[7] - R[4] * R[6]);

test('a turn is a rotation: Rx(pitch) . Ry(yaw)', () => {
  for (const [yaw, pitch] of [[0, 0], [0.6, 0.45], [-2, 1.3], [Math.PI, -0.2]]) {
    const R = turnMatrix(yaw, pitch);
    close(multiply(R, transpose(R)), IDENTITY);
    assert.ok(Math.abs(det(R) - 1) < 1e-12);
    const [c, s] = [Math.cos(yaw), Math.sin(yaw)];
    const [cp, sp] = [Math.cos(pitch), Math.sin(pitch)];
    close(R, multiply([1, 0, 0, 0, cp, -sp, 0, sp, cp], [c, 0, s, 0, 1, 0, -s, 0, c]));
  }
  close(turnMatrix(0, 0), IDENTITY);
  close(obliqueRotation(), turnMatrix(...OBLIQUE));
});

test('a yaw turns about the screen\'s vertical axis, a pitch about its horizontal one', () => {
  close(rotate(turnMatrix(Math.PI / 2, 0), 1, 0, 0), [0, 0, -1]); // x goes to the back
  close(rotate(turnMatrix(Math.PI / 2, 0), 0, 1, 0), [0, 1, 0]); // the vertical axis stays
  close(rotate(turnMatrix(0, Math.PI / 2), 0, 1, 0), [0, 0, 1]); // y comes to the front
  close(rotate(turnMatrix(0, Math.PI / 2), 1, 0, 0), [1, 0, 0]); // the horizontal axis stays
});

test('orbit turns about the screen\'s axes whatever the rotation so far, and stays a rotation', () => {
  let R = obliqueRotation();
  for (let k = 0; k < 500; k++) R = orbit(R, 0.013 * ((k % 7) - 3), 0.011 * ((k % 5) - 2));
  close(multiply(R, transpose(R)), IDENTITY, 1e-9);
  const before = obliqueRotation();
  close(orbit(before, 0.3, 0), multiply(turnMatrix(0.3, 0), before));
  close(orbit(orbit(before, 0.2, 0), -0.2, 0), before); // a drag back undoes it
  close(orbit(IDENTITY, 0.4, 0.1), turnMatrix(0.4, 0.1));
});

test('the model fit: one scale for every axis, centred; 2-D fills [-0.95, 0.95] along its longest side', () => {
  const header = /** @type {import('../src/wire-types.js').Header} */ ({
    bounds: [[10, 14], [-1, 0]], coord_levels: 65535, dims: 2, sphere: false,
  });
  const fit = modelFit(header, /** @type {any} */ ({ points: new Uint16Array(0), proxies: new Uint16Array(0) }));
  close(place([0, 0], 0, fit, IDENTITY, 2), [-0.95, -0.2375, 0]);
  close(place([65535, 65535], 0, fit, IDENTITY, 2), [0.95, 0.2375, 0]);
  close(fit.scale, [(4 / 65535) * (1.9 / 4), (1 / 65535) * (1.9 / 4)]);
  assert.equal(fit.sphereCentre, null);
});

test('the model fit in 3-D: the farthest point at 0.95 from the centre, at any rotation', () => {
  const { header, arrays } = decode(new Uint8Array(readFileSync(new URL('./fixture/full.bin', import.meta.url))));
  const fit = modelFit(header, arrays);
  let far = 0;
  for (const codes of [arrays.points, arrays.proxies]) {
    for (let i = 0; i < codes.length; i += 3) {
      const [x, y, z] = place(codes, i, fit, turnMatrix(1.1, -0.7), 3);
      far = Math.max(far, Math.hypot(x, y, z));
    }
  }
  assert.ok(Math.abs(far - 0.95) < 1e-9, String(far));
  assert.ok(fit.sphereCentre && fit.sphereCentre.length === 3); // the payload is a native sphere
});

test('place applies the rotation in 3-D and none in 2-D', () => {
  const fit = { offset: [-1, -1, -1], scale: [0.5, 0.5, 0.5], sphereCentre: null, sphereRadius: 1 };
  const R = turnMatrix(0.5, 0.25);
  close(place([4, 2, 3], 0, fit, R, 3), rotate(R, 1, 0, 0.5));
  close(place([9, 4, 2], 1, fit, R, 2), [1, 0, 0]);
});

test('the fitted distance shows the whole square in a tall pane, 1 in a wide one', () => {
  assert.equal(fitDistance(800, 400), 1);
  assert.equal(fitDistance(400, 400), 1);
  assert.equal(fitDistance(300, 600), 2);
});

test('to screen: the camera view maps the model to CSS pixels (y down), the height fitted', () => {
  const view = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]; // the identity camera
  close(toScreen(view, 800, 400, 0, 0), [400, 200]);
  close(toScreen(view, 800, 400, 0, 1), [400, 0]); // y = 1 at the top edge
  close(toScreen(view, 800, 400, 2, -1), [800, 400]); // x spans the aspect ratio
  const zoomed = [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0.5, -0.25, 0, 1]; // scale 2, then a pan
  close(toScreen(zoomed, 400, 400, 0.1, 0.2), [200 * (0.2 + 0.5 + 1), 400 * (0.5 - (0.4 - 0.25) / 2)]);
});

test('numbers are reported to 4 significant digits', () => {
  assert.equal(roundSignificant(0.123456), 0.1235);
  assert.equal(roundSignificant(-1234.5678), -1235);
  assert.equal(roundSignificant(1.23456e-7), 1.235e-7);
  assert.equal(roundSignificant(0), 0);
  assert.equal(roundSignificant(2), 2);
});

test('a rotation\'s angles give the rotation back: Rz(roll) . Rx(pitch) . Ry(yaw)', () => {
  for (const [yaw, pitch, roll] of [[0.6, 0.45, 0], [-2.5, 1.2, 0.3], [3, -1.5, -2.9], [0, 0, 0], [1, 0.2, Math.PI / 2]]) {
    const R = rotationFromAngles(yaw, pitch, roll);
    close(multiply(R, transpose(R)), IDENTITY);
    const angles = rotationAngles(R);
    close([angles.yaw, angles.pitch, angles.roll], [yaw, pitch, roll], 1e-9);
  }
  close(rotationFromAngles(0.6, 0.45), turnMatrix(0.6, 0.45)); // roll 0: a turn
  let R = obliqueRotation(); // what drags make: any rotation, roll included
  for (let k = 0; k < 40; k++) R = orbit(R, 0.05 * ((k % 3) - 1) + 0.02, 0.04);
  const { yaw, pitch, roll } = rotationAngles(R);
  assert.ok(Math.abs(roll) > 1e-3, 'a drag about the screen\'s axes rolls');
  close(rotationFromAngles(yaw, pitch, roll), R, 1e-12);
  const lock = rotationFromAngles(0.7, Math.PI / 2, 0.2); // gimbal lock: yaw and roll turn about one axis
  const locked = rotationAngles(lock);
  close(rotationFromAngles(locked.yaw, locked.pitch, locked.roll), lock, 1e-9);
});

test('the reported camera: target and distance, angles in 3-D, each to 4 digits; and back', () => {
  const flat = cameraReport({ target: [0.123456, -0.98765], distance: 0.5, rotation: null });
  assert.deepEqual(flat, { x: 0.1235, y: -0.9877, distance: 0.5 });
  assert.deepEqual(cameraState(flat), { target: [0.1235, -0.9877], distance: 0.5, rotation: null });
  const turned = rotationFromAngles(1.23456, -0.3456789, 0.0123456);
  const solid = cameraReport({ target: [0, 0.25], distance: 1.5, rotation: turned });
  assert.deepEqual(solid, { x: 0, y: 0.25, distance: 1.5, yaw: 1.235, pitch: -0.3457, roll: 0.01235 });
  const back = /** @type {import('../src/camera.js').CameraState} */ (cameraState(solid));
  assert.deepEqual(back.target, [0, 0.25]);
  close(/** @type {number[]} */ (back.rotation), turned, 1e-3); // within the rounding
  assert.deepEqual(cameraReport(back), solid); // a reported camera restores to itself
});

test('a view camera that is not one is ignored (the player fits its own)', () => {
  for (const bad of [null, undefined, {}, { x: 0, y: 0 }, { x: 0, y: 0, distance: 0 }, { x: 0, y: NaN, distance: 1 },
    { x: '0', y: 0, distance: 1 }, { x: 0, y: 0, distance: -1 }]) {
    assert.equal(cameraState(/** @type {any} */ (bad)), null, JSON.stringify(bad));
  }
  assert.equal(cameraState({ x: 0, y: 0, distance: 1, yaw: 1 })?.rotation, null); // no pitch: no rotation
  assert.ok(cameraState({ x: 0, y: 0, distance: 1, yaw: 1, pitch: 0 })?.rotation); // roll defaults to 0
  assert.equal(cameraState(/** @type {any} */ ({ x: 0, y: 0, distance: 1, yaw: 1, pitch: 0, roll: 'x' }))?.rotation, null);
});
