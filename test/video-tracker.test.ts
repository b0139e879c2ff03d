import assert from 'node:assert/strict';
import { test } from 'node:test';
import { iou } from '../src/core/geometry.js';
import { EXPRESSIONS } from '../src/core/labels.js';
import { FaceTracker, type Detection } from '../src/video/index.js';

/** Probabilities with `p` on one class and the rest spread evenly. */
const peaked = (cls: number, p = 0.7): number[] => Array.from({ length: 7 }, (_, i) => (i === cls ? p : (1 - p) / 6));
const face = (x: number, y: number, probabilities = peaked(3), size = 100): Detection => ({
  box: { x, y, width: size, height: size },
  probabilities,
});

test('iou: identical, apart, half-overlapping boxes', () => {
  const a = { x: 0, y: 0, width: 10, height: 10 };
  assert.equal(iou(a, a), 1);
  assert.equal(iou(a, { x: 20, y: 0, width: 10, height: 10 }), 0);
  assert.equal(iou(a, { x: 10, y: 0, width: 10, height: 10 }), 0, 'touching edges do not overlap');
  assert.equal(iou(a, { x: 5, y: 0, width: 10, height: 10 }), 50 / 150);
});

test('a moving face keeps its id; a new face gets a new one; order follows the detections', () => {
  const tracker = new FaceTracker();
  const ids = [];
  for (let frame = 0; frame < 10; frame++) {
    const [tracked] = tracker.update([face(100 + frame * 15, 50 + frame * 5)]);
    ids.push(tracked!.trackId);
  }
  assert.deepEqual(ids, Array(10).fill(1));
  // a second face far away appears, listed first: it gets id 2, the old face stays 1
  const both = tracker.update([face(600, 400), face(100 + 10 * 15, 100)]);
  assert.deepEqual(
    both.map((f) => f.trackId),
    [2, 1],
  );
  // the faces cross paths step by step: each stays matched to its own track
  const next = tracker.update([face(255, 105), face(590, 395)]);
  assert.deepEqual(
    next.map((f) => f.trackId),
    [1, 2],
  );
  assert.deepEqual(tracker.trackIds, [1, 2]);
});

test('a jump larger than the IoU threshold allows starts a new track', () => {
  const tracker = new FaceTracker({ iouThreshold: 0.5 });
  tracker.update([face(0, 0)]);
  // 40 px shift of a 100 px box: IoU = 60·100 / (2·10000 − 6000) = 0.43 < 0.5
  assert.equal(tracker.update([face(40, 0)])[0]!.trackId, 2);
  assert.equal(tracker.update([face(60, 0)])[0]!.trackId, 2, 'IoU 0.67 with the last box: same face');
});

test('EMA of probabilities and box, checked by hand', () => {
  const tracker = new FaceTracker({ alpha: 0.25, boxAlpha: 0.5 });
  const first = [0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1];
  const second = [0.8, 0, 0, 0.1, 0, 0, 0.1];
  const third = [0.8, 0, 0, 0.1, 0, 0, 0.1];
  const a = tracker.update([{ box: { x: 0, y: 0, width: 100, height: 100 }, probabilities: first }])[0]!;
  assert.deepEqual(a.probabilities, first, 'a new track starts at its first observation');
  assert.equal(a.expression, 'happy');
  const b = tracker.update([{ box: { x: 20, y: 10, width: 110, height: 90 }, probabilities: second }])[0]!;
  // 0.25 × new + 0.75 × old
  const expectB = [0.275, 0.075, 0.075, 0.325, 0.075, 0.075, 0.1];
  b.probabilities.forEach((p, i) => assert.ok(Math.abs(p - expectB[i]!) < 1e-12, `class ${i}: ${p}`));
  assert.equal(b.expression, 'happy', 'one frame of anger does not flip the label');
  assert.deepEqual(b.box, { x: 10, y: 5, width: 105, height: 95 });
  const c = tracker.update([{ box: { x: 20, y: 10, width: 110, height: 90 }, probabilities: third }])[0]!;
  // angry: 0.25·0.8 + 0.75·0.275 = 0.40625; happy: 0.25·0.1 + 0.75·0.325 = 0.26875
  assert.ok(Math.abs(c.probabilities[0]! - 0.40625) < 1e-12);
  assert.ok(Math.abs(c.probabilities[3]! - 0.26875) < 1e-12);
  assert.equal(c.expression, EXPRESSIONS[0]);
  assert.deepEqual(c.box, { x: 15, y: 7.5, width: 107.5, height: 92.5 });
  const sum = c.probabilities.reduce((s, p) => s + p, 0);
  assert.ok(Math.abs(sum - 1) < 1e-12, 'an average of distributions is a distribution');
});

test('alpha 1 turns smoothing off', () => {
  const tracker = new FaceTracker({ alpha: 1, boxAlpha: 1 });
  tracker.update([face(0, 0, peaked(3))]);
  const [f] = tracker.update([face(5, 5, peaked(5))]);
  assert.deepEqual(f!.probabilities, peaked(5));
  assert.deepEqual(f!.box, { x: 5, y: 5, width: 100, height: 100 });
  assert.equal(f!.expression, 'surprise');
});

test('a track survives maxMissed missed updates and is dropped after that', () => {
  const tracker = new FaceTracker({ maxMissed: 2 });
  tracker.update([face(0, 0)]);
  tracker.update([]);
  tracker.update([]);
  assert.deepEqual(tracker.trackIds, [1], 'two misses: still remembered');
  assert.equal(tracker.update([face(2, 2)])[0]!.trackId, 1, 'the face comes back under its id');
  tracker.update([]);
  tracker.update([]);
  tracker.update([]);
  assert.deepEqual(tracker.trackIds, [], 'three misses: dropped');
  assert.equal(tracker.update([face(2, 2)])[0]!.trackId, 2, 'the same place later is a new face');
});

test('each track is matched at most once: two detections on one track make one match and one new track', () => {
  const tracker = new FaceTracker();
  tracker.update([face(0, 0)]);
  const out = tracker.update([face(30, 0), face(5, 0)]);
  assert.deepEqual(
    out.map((f) => f.trackId),
    [2, 1],
    'the better overlap wins the existing track',
  );
});

test('bad options and detections are refused', () => {
  assert.throws(() => new FaceTracker({ alpha: 0 }), /alpha must be in \(0, 1\]/);
  assert.throws(() => new FaceTracker({ maxMissed: -1 }), /maxMissed/);
  assert.throws(
    () => new FaceTracker().update([{ box: { x: 0, y: 0, width: 1, height: 1 }, probabilities: [1, 0] }]),
    /2 probabilities, expected 7/,
  );
});
