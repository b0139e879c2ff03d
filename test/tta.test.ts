import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';
import { ttaMode, ttaViewCount, ttaViews } from '../src/recognize/tta.js';

/** Two faces: a left-to-right ramp and a top-to-bottom ramp, so mirror and zoom act visibly on each. */
function rampFaces(): Float32Array {
  const faces = new Float32Array(2 * FACE_PIXELS);
  for (let y = 0; y < FACE_SIZE; y++) {
    for (let x = 0; x < FACE_SIZE; x++) {
      faces[y * FACE_SIZE + x] = x / (FACE_SIZE - 1);
      faces[FACE_PIXELS + y * FACE_SIZE + x] = y / (FACE_SIZE - 1);
    }
  }
  return faces;
}

const view = (views: Float32Array, v: number, faceCount: number) =>
  views.subarray(v * faceCount * FACE_PIXELS, (v + 1) * faceCount * FACE_PIXELS);
const at = (faces: Float32Array, face: number, x: number, y: number) => faces[face * FACE_PIXELS + y * FACE_SIZE + x]!;

describe('test-time augmentation views', () => {
  test('true means zoom, false and undefined mean the face alone', () => {
    assert.equal(ttaMode(true), 'zoom');
    assert.equal(ttaMode('mirror'), 'mirror');
    assert.equal(ttaMode(false), undefined);
    assert.equal(ttaMode(undefined), undefined);
    assert.deepEqual(
      [false, 'mirror', 'zoom', true].map((o) => ttaViewCount(o as never)),
      [1, 2, 10, 10],
    );
  });

  test('without augmentation the faces come back as they are', () => {
    const faces = rampFaces();
    assert.equal(ttaViews(faces, false), faces);
  });

  test('mirror: the faces, then each mirrored left–right', () => {
    const faces = rampFaces();
    const views = ttaViews(faces, 'mirror');
    assert.equal(views.length, 2 * faces.length);
    assert.deepEqual(view(views, 0, 2), faces);
    const mirrored = view(views, 1, 2);
    assert.equal(at(mirrored, 0, 0, 5), 1);
    assert.equal(at(mirrored, 0, FACE_SIZE - 1, 5), 0);
    // A top-to-bottom ramp is its own mirror image.
    assert.deepEqual(mirrored.subarray(FACE_PIXELS), faces.subarray(FACE_PIXELS));
  });

  test('zoom: the face and its mirror first, then zoomed in (a gentler ramp) and out (borders mirrored)', () => {
    const faces = rampFaces();
    const views = ttaViews(faces, 'zoom');
    assert.equal(views.length, 10 * faces.length);
    assert.deepEqual(view(views, 0, 2), faces);
    assert.deepEqual(view(views, 1, 2), ttaViews(faces, 'mirror').subarray(faces.length));
    const slope = (faces: Float32Array, face: number) => at(faces, face, 30, 20) - at(faces, face, 20, 20);
    const identity = slope(faces, 0);
    // Views 2, 4, 6, 8 are the 44-, 46-, 50- and 52-px crops: a c-px crop shown at 48 px scales the ramp's slope by c / 48.
    [44, 46, 50, 52].forEach((crop, i) => {
      const zoomed = view(views, 2 + 2 * i, 2);
      assert.ok(Math.abs(slope(zoomed, 0) - (identity * crop) / FACE_SIZE) < 1e-5, `crop ${crop}`);
      // Centred: the ramp's middle stays in the middle.
      assert.ok(Math.abs(at(zoomed, 0, 23, 10) + at(zoomed, 0, 24, 10) - 1) < 1e-5, `crop ${crop} centred`);
      // The other face is zoomed the same way along y.
      assert.ok(Math.abs(at(zoomed, 1, 20, 30) - at(zoomed, 1, 20, 20) - (identity * crop) / FACE_SIZE) < 1e-5);
      const mirror = view(views, 3 + 2 * i, 2);
      assert.equal(at(mirror, 0, 0, 7), at(zoomed, 0, FACE_SIZE - 1, 7));
    });
    // Zoomed out (52 px), the border reads the face's mirror image, as the training augmentation does: the first
    // column samples x = −1.96, that is the value at 1.96, and nothing falls outside the face's range.
    const out = view(views, 8, 2);
    assert.ok(Math.abs(at(out, 0, 0, 3) - 1.9583333 / (FACE_SIZE - 1)) < 1e-5);
    assert.ok(Math.abs(at(out, 0, FACE_SIZE - 1, 3) - (1 - 1.9583333 / (FACE_SIZE - 1))) < 1e-5);
    for (const x of out) assert.ok(x >= 0 && x <= 1);
  });
});
