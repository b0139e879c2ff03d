import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { sampleWindows, shrinkImage, summedAreaTable } from '../src/detect/dnn-input.js';
import {
  DETECTION_MAX_PIXELS,
  DetectionBudgetError,
  detectionWindows,
  detectionWork,
  MAX_DETECTION_WORK,
  pyramidLevels,
  weightedNms,
  zoomedOutView,
} from '../src/detect/dnn.js';
import { loadFaceDetector, type DnnFaceDetector } from '../src/detect/index.js';

/** test/fixtures/dnn-face.jpg: a FER2013 validation face (happy), upscaled to 160×160 and pasted at (220, 80) on a 480×360 background. */
const PASTED = { x: 220, y: 80, side: 160 };

async function fixture(channels: 1 | 3 | 4): Promise<{ data: Uint8Array; width: number; height: number; channels: 1 | 3 | 4 }> {
  let pipeline = sharp(new URL('./fixtures/dnn-face.jpg', import.meta.url).pathname);
  pipeline = channels === 1 ? pipeline.grayscale() : channels === 4 ? pipeline.ensureAlpha() : pipeline;
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, channels);
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels };
}

let shared: DnnFaceDetector | undefined;
const detector = async (): Promise<DnnFaceDetector> => (shared ??= await loadFaceDetector({ threads: 1 }));

describe('dnn face detector', () => {
  test('finds the one pasted face, with eyes above the mouth', async () => {
    const faces = await (await detector()).detect(await fixture(3));
    assert.equal(faces.length, 1);
    const [face] = faces;
    assert.ok(face!.score > 0.8, `score ${face!.score}`);
    const { box, landmarks } = face!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    assert.ok(Math.abs(cx - (PASTED.x + PASTED.side / 2)) < 25 && Math.abs(cy - (PASTED.y + PASTED.side / 2)) < 25, `centre ${cx}, ${cy}`);
    assert.ok(box.width > 60 && box.width < 170 && box.height > 80 && box.height < 220, `size ${box.width}×${box.height}`);
    for (const eye of [landmarks.rightEye, landmarks.leftEye]) assert.ok(eye.y < landmarks.nose.y && landmarks.nose.y < landmarks.mouth.y);
    // The subject's right eye is on the left of the (unmirrored) photo.
    assert.ok(landmarks.rightEye.x < landmarks.leftEye.x);
    assert.ok(landmarks.rightEar.x < landmarks.rightEye.x && landmarks.leftEye.x < landmarks.leftEar.x);
  });

  test('gray, RGB and RGBA pixels of the same photo give the same face', async () => {
    const d = await detector();
    const [rgb] = await d.detect(await fixture(3));
    for (const channels of [1, 4] as const) {
      const faces = await d.detect(await fixture(channels));
      assert.equal(faces.length, 1, `${channels} channels`);
      // Gray loses colour, so the box may move a little; RGBA only adds alpha, so it must not move at all.
      const tolerance = channels === 1 ? 6 : 1e-3;
      assert.ok(
        Math.abs(faces[0]!.box.x - rgb!.box.x) < tolerance && Math.abs(faces[0]!.box.y - rgb!.box.y) < tolerance,
        `${channels} channels`,
      );
    }
  });

  test('finds a face that fills the whole photo (a close-up, a face crop)', async () => {
    const { data, info } = await sharp(new URL('./fixtures/dnn-face.jpg', import.meta.url).pathname)
      // the middle 128 × 128 px of the pasted face: brows to chin, as tight as a FER2013 crop, larger than any other view finds
      .extract({ left: PASTED.x + 16, top: PASTED.y + 16, width: 128, height: 128 })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const faces = await (await detector()).detect({ data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 });
    assert.equal(faces.length, 1);
    const { box } = faces[0]!;
    const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
    assert.ok(Math.abs(cx - 64) < 20 && Math.abs(cy - 64) < 20, `centre ${cx}, ${cy}`);
    assert.ok(box.width > 80 && box.height > 100, `size ${box.width}×${box.height}`);
  });

  test('finds nothing in blank images', async () => {
    const d = await detector();
    for (const value of [0, 128, 255]) {
      assert.deepEqual(await d.detect({ data: new Uint8Array(640 * 480 * 3).fill(value), width: 640, height: 480, channels: 3 }), []);
    }
  });

  test('the full-range model in a worker thread (threads ≥ 2) finds what it finds on this thread', async () => {
    const inWorker = await loadFaceDetector({ threads: 2 });
    try {
      for (const n of [1, 3] as const) {
        const photo = await fixture(n);
        const [here, there] = [await (await detector()).detect(photo), await inWorker.detect(photo)];
        assert.ok(here.length > 0);
        assert.equal(there.length, here.length);
        here.forEach((face, i) => {
          assert.ok(Math.abs(face.score - there[i]!.score) < 1e-4);
          for (const key of ['x', 'y', 'width', 'height'] as const) assert.ok(Math.abs(face.box[key] - there[i]!.box[key]) < 1e-3);
        });
      }
    } finally {
      await inWorker.dispose();
    }
    // after dispose the sessions are gone: a run fails instead of waiting for ever
    await assert.rejects(inWorker.detect(await fixture(3)));
  });

  test('a photo over DETECTION_MAX_PIXELS is searched shrunk, and its faces come back in its own pixels', async () => {
    // the fixture (face at 220, 80, 160 px) pasted at (1600, 1200) into a flat 4400 × 3300 photo: 14.5 MP
    const { data, width, height } = await fixture(3);
    const big = { width: 4400, height: 3300, channels: 3 as const, data: new Uint8Array(4400 * 3300 * 3).fill(128) };
    assert.ok(big.width * big.height > DETECTION_MAX_PIXELS);
    for (let y = 0; y < height; y++) big.data.set(data.subarray(y * width * 3, (y + 1) * width * 3), ((1200 + y) * big.width + 1600) * 3);
    const [face, ...others] = await (await detector()).detect(big);
    assert.equal(others.length, 0);
    const [small] = await (await detector()).detect({ data, width, height, channels: 3 });
    // the same face, 1600, 1200 further on, within a few pixels (the shrink is by 1.1)
    assert.ok(
      Math.abs(face!.box.x - 1600 - small!.box.x) < 6 && Math.abs(face!.box.y - 1200 - small!.box.y) < 6,
      `${JSON.stringify(face!.box)} against ${JSON.stringify(small!.box)}`,
    );
    assert.ok(Math.abs(face!.box.width - small!.box.width) < 6 && Math.abs(face!.landmarks.nose.x - 1600 - small!.landmarks.nose.x) < 6);
  });

  test('a search that would cost more than MAX_DETECTION_WORK is refused before any work, naming a face size that fits', async () => {
    const photo = { width: 4000, height: 3000, channels: 3 as const, data: new Uint8Array(4000 * 3000 * 3) };
    const tight = await loadFaceDetector({ threads: 1, minFaceSize: 16 });
    try {
      assert.ok(detectionWork(4000, 3000, 16) > MAX_DETECTION_WORK);
      const started = performance.now();
      await assert.rejects(tight.detect(photo), (err: Error) => {
        assert.ok(err instanceof DetectionBudgetError && err.status === 413 && err.exitCode === 1);
        const fits = Number(/faces of at least (\d+) px/.exec(err.message)?.[1]);
        assert.match(
          err.message,
          /^finding faces down to 16 px in a 4000×3000 photo would cost the detector \d+ M pixels of work, over its limit of 150 M/,
        );
        assert.ok(
          detectionWork(4000, 3000, fits) <= MAX_DETECTION_WORK && detectionWork(4000, 3000, fits - 1) > MAX_DETECTION_WORK,
          `${fits}`,
        );
        return true;
      });
      assert.ok(performance.now() - started < 2000, 'refused before running the models');
    } finally {
      await tight.dispose();
    }
  });

  test('rejects nonsense options', async () => {
    await assert.rejects(loadFaceDetector({ minFaceSize: 0 }), RangeError);
    await assert.rejects(loadFaceDetector({ scoreThreshold: 1.5 }), RangeError);
    await assert.rejects(loadFaceDetector({ iouThreshold: -1 }), RangeError);
  });
});

describe('detection windows', () => {
  test('a photo where a 48-px face is already 20 px of the model input is seen whole, once, letterboxed', () => {
    const windows = detectionWindows(400, 300, 48);
    assert.equal(windows.length, 1);
    assert.deepEqual({ x: windows[0]!.x, y: windows[0]!.y, side: windows[0]!.side }, { x: 0, y: -50, side: 400 });
    assert.equal(detectionWindows(640, 480, 100).length, 1);
    assert.ok(detectionWindows(640, 480, 48).length > 1);
  });

  test('a large photo gets tile levels that cover it, each point kept by exactly one tile per level', () => {
    const [width, height] = [2000, 1200];
    const windows = detectionWindows(width, height, 48);
    const levels = new Map<number, typeof windows>();
    for (const w of windows.slice(1)) levels.set(w.side, [...(levels.get(w.side) ?? []), w]);
    assert.ok(levels.size >= 2, `${levels.size} levels`);
    // The finest level shows a 48-px face at 20 px of the model's 192.
    assert.equal(Math.min(...levels.keys()), (48 * 192) / 20);
    for (const tiles of levels.values()) {
      for (let y = 0.5; y < height; y += 37) {
        for (let x = 0.5; x < width; x += 37) {
          const keepers = tiles.filter((t) => x >= t.keep.x0 && x < t.keep.x1 && y >= t.keep.y0 && y < t.keep.y1);
          assert.equal(keepers.length, 1, `(${x}, ${y})`);
          const t = keepers[0]!;
          assert.ok(x >= t.x && x < t.x + t.side && y >= t.y && y < t.y + t.side, 'kept point outside its tile');
        }
      }
    }
  });
});

describe('short-range pyramid', () => {
  // 700 × 500 at 48 px: every level fits in one part (the finest is 467 × 334 input pixels)
  test('levels halve in scale from a 32-px smallest face to a 128-px photo, each padded to whole 16-px strides', () => {
    const levels = pyramidLevels(700, 500, 48);
    assert.equal(levels[0]!.step, 48 / 32);
    const last = levels[levels.length - 1]!;
    assert.equal(last.step, 700 / 128);
    levels.slice(1, -1).forEach((level, i) => assert.equal(level.step, levels[i]!.step * 2));
    assert.ok(levels[levels.length - 2]!.step < last.step && last.step <= levels[levels.length - 2]!.step * 2);
    for (const level of levels) {
      assert.ok(level.width % 16 === 0 && level.height % 16 === 0);
      assert.ok(level.width * level.step >= 700 && (level.width - 16) * level.step < 700);
      assert.ok(level.height * level.step >= 500 && (level.height - 16) * level.step < 500);
    }
    assert.deepEqual(pyramidLevels(700, 500, 48, true), [last]);
    // A level up to 1.5 × 512² input pixels runs whole: 1024 × 768's finest (688 × 512) is one run, not two parts.
    assert.deepEqual(pyramidLevels(1024, 768, 48)[0], { x: 0, y: 0, step: 1.5, width: 688, height: 512 });
    // A photo whose smallest face asked for is already 32 px of a 128-px view needs only that view.
    assert.equal(pyramidLevels(400, 300, 100).length, 1);
  });

  test('the zoomed-out view shows the whole photo centred in one 128-px view, its longer side 1.5 times smaller than the last level', () => {
    const last = pyramidLevels(700, 500, 48).at(-1)!;
    const view = zoomedOutView(700, 500);
    assert.equal(view.step, 1.5 * last.step);
    assert.deepEqual([view.width, view.height], [128, 128]);
    // the photo's centre is the view's centre, and the photo lies inside it
    assert.equal(view.x + 64 * view.step, 350);
    assert.equal(view.y + 64 * view.step, 250);
    assert.ok(view.x < 0 && view.y < 0 && view.x + 128 * view.step > 700);
  });

  test("a big photo's large levels are cut into parts of at most 512 px that cover them and overlap by 128", () => {
    const parts = pyramidLevels(6000, 4000, 48);
    const finest = parts.filter((p) => p.step === 1.5);
    assert.ok(finest.length > 4, `${finest.length} parts`);
    for (const part of parts) assert.ok(part.width <= 512 && part.height <= 512 && part.width % 16 === 0 && part.height % 16 === 0);
    // Along x (then y): the parts of the first row (column) start at 0, end at the level's edge, overlap by ≥ 128 px.
    for (const [start, length, extent] of [
      ['x', 'width', 6000],
      ['y', 'height', 4000],
    ] as const) {
      const other = start === 'x' ? 'y' : 'x';
      const row = finest.filter((p) => p[other] === 0).sort((a, b) => a[start] - b[start]);
      assert.equal(row[0]![start], 0);
      const end = row[row.length - 1]![start] / 1.5 + row[row.length - 1]![length];
      assert.ok(end * 1.5 >= extent && (end - 16) * 1.5 < extent, `${start}: ends at ${end}`);
      row.slice(1).forEach((p, i) => assert.ok(row[i]![start] / 1.5 + row[i]![length] - p[start] / 1.5 >= 128, `${start}: overlap`));
    }
  });
});

describe('weighted NMS', () => {
  const candidate = (score: number, x0: number, y0: number, side: number) => ({
    score,
    x0,
    y0,
    x1: x0 + side,
    y1: y0 + side,
    points: Float64Array.of(x0, y0),
  });

  test('overlapping detections become their score-weighted mean with the best score; separate ones stay', () => {
    const faces = weightedNms([candidate(0.6, 10, 10, 100), candidate(0.9, 0, 0, 100), candidate(0.7, 500, 500, 50)], 0.3);
    assert.equal(faces.length, 2);
    assert.equal(faces[0]!.score, 0.9);
    assert.ok(Math.abs(faces[0]!.x0 - (0.6 * 10) / 1.5) < 1e-9);
    assert.ok(Math.abs(faces[0]!.points[1]! - (0.6 * 10) / 1.5) < 1e-9);
    assert.ok(Math.abs(faces[1]!.x0 - 500) < 1e-9 && faces[1]!.score === 0.7);
  });
});

describe('window sampling', () => {
  const image = { data: Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (i * 37) % 256), width: 4, height: 4, channels: 3 as const };

  test('a window the size of the model input reads the pixels themselves, scaled to [-1, 1]', () => {
    const out = new Float32Array(4 * 4 * 3);
    sampleWindows(summedAreaTable(image), [{ x: 0, y: 0, side: 4 }], 4, out);
    out.forEach((v, i) => assert.ok(Math.abs(v - (image.data[i]! / 127.5 - 1)) < 1e-5));
  });

  test('overlapping windows sampled together read what each reads alone', () => {
    const photo = {
      data: Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 7919) % 251),
      width: 40,
      height: 30,
      channels: 3 as const,
    };
    const table = summedAreaTable(photo);
    // Side 12 at size 8: a 1.5-px grid; the last window lies on another grid, the first two share one.
    const windows = [
      { x: -3, y: 0, side: 12 },
      { x: 3, y: 4.5, side: 12 },
      { x: 20.2, y: 10.7, side: 12 },
    ];
    const together = new Float32Array(windows.length * 8 * 8 * 3);
    sampleWindows(table, windows, 8, together);
    windows.forEach((w, i) => {
      const alone = new Float32Array(8 * 8 * 3);
      sampleWindows(table, [w], 8, alone);
      alone.forEach((v, k) => assert.ok(Math.abs(v - together[i * alone.length + k]!) < 1e-5, `window ${i} value ${k}`));
    });
  });

  test('shrinkImage: each output pixel is the mean of the photo under it, for whole and fractional factors', () => {
    const gray = { width: 6, height: 4, channels: 1 as const, data: Uint8Array.from({ length: 24 }, (_, i) => i * 10) };
    const half = shrinkImage(gray, 2);
    assert.deepEqual([half.width, half.height, half.channels], [3, 2, 3]);
    // output (0, 0) covers pixels 0, 1, 6, 7 → (0 + 10 + 60 + 70) / 4 = 35, as R = G = B
    assert.deepEqual([...half.data.subarray(0, 3)], [35, 35, 35]);
    // factor 1.5 on a 6 × 3 photo: output (0, 0) covers 1.5 × 1.5 pixels: (0 + 0.5·10 + 0.5·60 + 0.25·70) / 2.25 = 23.3
    const wide = { width: 6, height: 3, channels: 1 as const, data: gray.data.subarray(0, 18) };
    const fractional = shrinkImage(wide, 1.5);
    assert.deepEqual([fractional.width, fractional.height], [4, 2]);
    assert.equal(fractional.data[0], Math.round((0 + 5 + 30 + 17.5) / 2.25));
    // a flat photo stays flat
    const flat = shrinkImage({ width: 9, height: 7, channels: 3, data: new Uint8Array(9 * 7 * 3).fill(77) }, 2.3);
    assert.ok(flat.data.every((v) => v === 77));
  });

  test('shrinking averages the pixels under each output pixel; outside the photo is black', () => {
    const out = new Float32Array(2 * 2 * 3);
    sampleWindows(summedAreaTable(image), [{ x: 0, y: 0, side: 4 }], 2, out);
    const mean = [0, 1, 4, 5].reduce((s, p) => s + image.data[p * 3]!, 0) / 4;
    assert.ok(Math.abs(out[0]! - (mean / 127.5 - 1)) < 1e-5);

    const outside = new Float32Array(2 * 2 * 3);
    sampleWindows(summedAreaTable(image), [{ x: 4, y: 4, side: 4 }], 2, outside);
    assert.ok(outside.every((v) => v === -1));
  });
});
