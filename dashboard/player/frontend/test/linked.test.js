// The linked group's shared state (src/linked.js): one step for every pane, autoplay, one selection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLICK_AFTER_LASSO_MS, SMOOTH_MS, clampStep, colourings, drags, idsInPane, indexFor, isLassoClosingClick, nextStep,
  openingIndex, paneIndexes, playTransitionMs, sameIds, sampleIds, stepLabel,
} from '../src/linked.js';

test('each pane shows its last step at or before the lead\'s', () => {
  assert.equal(indexFor([0, 10, 20, 30], 25), 2);
  assert.equal(indexFor([0, 10, 20, 30], 30), 3);
  assert.equal(indexFor([5, 10], 0), 0); // none at or before: its first
  const lead = [0, 100, 200, 300];
  assert.deepEqual(paneIndexes(lead, 2, [lead, [0, 50, 150, 250, 350], [200]]), [2, 2, 0]);
  assert.deepEqual(paneIndexes(lead, 3, [lead, [0, 50, 150, 250, 350]]), [3, 3]);
});

test('the step index stays in the run; a payload opens at the view\'s step or the last', () => {
  assert.equal(clampStep(-3, 5), 0);
  assert.equal(clampStep(9, 5), 4);
  assert.equal(clampStep(2, 5), 2);
  assert.equal(openingIndex([0, 10, 20], 10), 1);
  assert.equal(openingIndex([0, 10, 20], 15), 2);
  assert.equal(openingIndex([0, 10, 20], null), 2);
  assert.equal(openingIndex([0, 10, 20], undefined), 2);
});

test('autoplay: the next step, wrapping when looping, stopping when not; no transition when it jumps', () => {
  assert.equal(nextStep(1, 4, true), 2);
  assert.equal(nextStep(3, 4, true), 0);
  assert.equal(nextStep(3, 4, false), null);
  assert.equal(playTransitionMs(2, 700), 700 * 0.85);
  assert.equal(playTransitionMs(0, 700), 0); // the wrap to the first step jumps
  assert.equal(playTransitionMs(2, SMOOTH_MS - 1), 0); // too fast to see a transition
});

test('the step label says where the step is and whether proxies are missing there', () => {
  assert.equal(stepLabel([0, 10, 20], 1, false), 'step 10 (2/3)');
  assert.equal(stepLabel([0, 10, 20], 2, true), 'step 20 (3/3) · no proxies stored at this step');
});

test('the colourings and drags offered', () => {
  assert.deepEqual(colourings({ modes: false, grad: false, neighbours: false, nearestProxy: false }), ['label', 'split']);
  assert.deepEqual(colourings({ modes: true, grad: true, neighbours: true, nearestProxy: true }),
    ['label', 'mode', 'split', 'grad_norm', 'nn_outcome', 'proxy_outcome']);
  assert.deepEqual(drags(false).map(([value]) => value), ['lasso', 'box', 'panZoom']);
  assert.deepEqual(drags(true).map(([value]) => value), ['orbit', 'lasso', 'box', 'panZoom']);
});

test('one selection of sample ids: proxies dropped, sorted; each pane gets the ids it has', () => {
  assert.deepEqual(sampleIds([7, 2, 105, 3, 100], 100), [2, 3, 7]);
  assert.deepEqual(idsInPane([2, 3, 7, 60], 50), [2, 3, 7]);
  assert.ok(sameIds([1, 2], [1, 2]));
  assert.ok(!sameIds([1, 2], [1, 2, 3]));
  assert.ok(!sameIds([1, 3], [1, 2]));
  assert.ok(sameIds([], []));
});

test('a lasso\'s closing click keeps the lasso\'s selection; a later click or a larger selection does not', () => {
  assert.ok(isLassoClosingClick(1, 40, 10));
  assert.ok(!isLassoClosingClick(1, 40, CLICK_AFTER_LASSO_MS + 1));
  assert.ok(!isLassoClosingClick(1, 1, 10)); // a click after a click
  assert.ok(!isLassoClosingClick(5, 40, 10));
  assert.ok(!isLassoClosingClick(1, 40, Infinity)); // no lasso yet
});
