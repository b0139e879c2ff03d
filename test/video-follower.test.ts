import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Box } from '../src/core/geometry.js';
import type { DetectedFace, FaceDetector } from '../src/detect/face-detector.js';
import type { PixelImage } from '../src/detect/haar-image.js';
import { followFaces, loadFaceFollower } from '../src/video/index.js';
import sharp from 'sharp';

/** A frame whose only content is where the face is: the fake detectors read it back from the frame. */
interface FakeFrame extends PixelImage {
  face?: Box;
}

const frame = (face?: Box): FakeFrame => ({ width: 640, height: 480, channels: 3, data: new Uint8Array(640 * 480 * 3), face });

/** A full detector that reports the frame's face, and a near one that reports it in its crop's coordinates. */
function fakes(calls: string[]) {
  let current: Box | undefined;
  const full: FaceDetector = {
    detect: async () => {
      calls.push('full');
      return current ? [{ box: current, score: 0.9 }] : [];
    },
  };
  // the crop is the square around the followed face; the fake knows where it was cut from by its size and the face
  let cropAt = { x: 0, y: 0 };
  const near: FaceDetector = {
    detect: async (crop: PixelImage) => {
      calls.push(`near ${crop.width}×${crop.height}`);
      if (!current) return [];
      return [{ box: { ...current, x: current.x - cropAt.x, y: current.y - cropAt.y }, score: 0.8 }];
    },
  };
  return {
    full,
    near,
    show(face: Box | undefined, cropOrigin = { x: 0, y: 0 }) {
      current = face;
      cropAt = cropOrigin;
    },
  };
}

describe('following faces between full searches', () => {
  test('a full search every fullEvery frames, a near search around each face in between, boxes back in frame pixels', async () => {
    const calls: string[] = [];
    const { full, near, show } = fakes(calls);
    const follower = followFaces(full, near, { fullEvery: 4 });
    const faces: DetectedFace[][] = [];
    for (let i = 0; i < 9; i++) {
      // a 100-px face drifting right by 5 px a frame; the search square is 200 px around its last box
      const box = { x: 200 + 5 * i, y: 150, width: 100, height: 100 };
      const last = { x: 200 + 5 * Math.max(0, i - 1), y: 150 };
      show(box, { x: last.x + 50 - 100, y: last.y + 50 - 100 });
      faces.push(await follower.detect(frame(box)));
    }
    assert.deepEqual(calls, [
      'full',
      'near 200×200',
      'near 200×200',
      'near 200×200',
      'full',
      'near 200×200',
      'near 200×200',
      'near 200×200',
      'full',
    ]);
    assert.deepEqual(
      faces.map((f) => f[0]!.box.x),
      [200, 205, 210, 215, 220, 225, 230, 235, 240],
    );
  });

  test('a face the near search loses makes that very frame a full search; no face means a full search every frame', async () => {
    const calls: string[] = [];
    const { full, near, show } = fakes(calls);
    const follower = followFaces(full, near, { fullEvery: 10 });
    show({ x: 100, y: 100, width: 80, height: 80 });
    await follower.detect(frame());
    // the face jumps far away (a scene cut): the near search finds nothing that overlaps it
    show({ x: 500, y: 300, width: 80, height: 80 }, { x: 60, y: 60 });
    const [found] = await follower.detect(frame());
    assert.deepEqual(found!.box, { x: 500, y: 300, width: 80, height: 80 });
    assert.deepEqual(calls, ['full', 'near 160×160', 'full']);
    show(undefined);
    calls.length = 0;
    await follower.detect(frame());
    await follower.detect(frame());
    assert.deepEqual(calls, ['near 160×160', 'full', 'full']);
    follower.reset();
    assert.throws(() => followFaces(full, near, { fullEvery: 0 }), RangeError);
  });

  test('with the real detectors: the face of a still clip is followed, found where the full search finds it', async () => {
    const { data, info } = await sharp('test/fixtures/dnn-face.jpg').raw().toBuffer({ resolveWithObject: true });
    const image = { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 as const };
    const follower = await loadFaceFollower({ minFaceSize: 48, threads: 1 }, { fullEvery: 5 });
    try {
      const [first] = await follower.detect(image);
      const [followed] = await follower.detect(image);
      assert.ok(first && followed);
      for (const key of ['x', 'y', 'width', 'height'] as const)
        assert.ok(
          Math.abs(first.box[key] - followed.box[key]) < 0.15 * first.box.width,
          `${key}: ${first.box[key]} vs ${followed.box[key]}`,
        );
      assert.ok(followed.landmarks && followed.landmarks.rightEye.x < followed.landmarks.leftEye.x);
    } finally {
      await follower.dispose();
    }
  });
});
