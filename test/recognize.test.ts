import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';
import { Rng } from '../src/data/index.js';
import { cropFace, cropRegion } from '../src/recognize/crop.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';
import { recognizeFaces, selectFaces, type DetectedFace } from '../src/recognize/faces.js';
import { decodeImage, ImageError } from '../src/recognize/image.js';
import { DEFAULT_FRAMING, DEFAULT_RECOGNIZER_CONFIG, recognizerConfig, RecognizerOptionError } from '../src/recognize/config.js';
import { createRecognizer, type FaceDetector } from '../src/recognize/recognizer.js';
import { runCli } from './helpers/cli.js';
import { bandClassifierOnnx } from './helpers/expression-models.js';
import { syntheticFaces } from './helpers/synthetic.js';

const HAAR_CASCADE = '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml';

const grayPng = (face: Uint8Array, size = FACE_SIZE) =>
  sharp(Buffer.from(face), { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toBuffer();

describe('recognition pipeline', () => {
  let dir: string;
  let model: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-recognize-'));
    model = join(dir, 'band.onnx');
    await writeFile(model, bandClassifierOnnx());
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('bad inputs get one clear error naming them, before any decoding', async () => {
    await writeFile(join(dir, 'empty.jpg'), '');
    await writeFile(join(dir, 'text.jpg'), 'not an image at all');
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    await writeFile(join(dir, 'truncated.jpg'), jpeg.subarray(0, jpeg.length / 2));
    await writeFile(
      join(dir, 'big.png'),
      await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#000000' } })
        .png()
        .toBuffer(),
    );
    const cases: [Parameters<typeof decodeImage>, RegExp][] = [
      [[join(dir, 'missing.jpg')], /missing\.jpg: no such file/],
      [[join(dir, 'empty.jpg')], /empty\.jpg: file is empty/],
      [[join(dir, 'text.jpg')], /text\.jpg: not an image/],
      [[join(dir, 'truncated.jpg')], /truncated\.jpg: (cannot decode|not an image)/],
      [[join(dir, 'big.png'), 10_000_000], /big\.png: 12\.0 megapixels is over the 10 megapixel limit/],
      [[{ data: new Uint8Array(10), width: 4, height: 4 }], /10 bytes do not make a 4×4 image/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(decodeImage(...args), (err: Error) => {
        assert.ok(err instanceof ImageError, String(err));
        assert.match(err.message, message);
        return true;
      });
    }
  });

  test('gray, alpha, 16-bit and EXIF-rotated images decode to upright 8-bit RGB', async () => {
    const gray16 = await sharp({ create: { width: 6, height: 4, channels: 3, background: '#c8c8c8' } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    const rgba = await sharp({ create: { width: 6, height: 4, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } })
      .png()
      .toBuffer();
    // 6×4 stored, orientation 6 (rotate 90° clockwise to view): upright it is 4×6
    const rotated = await sharp({ create: { width: 6, height: 4, channels: 3, background: '#00ff00' } })
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const g = await decodeImage(gray16);
    assert.deepEqual([g.width, g.height, g.data.length], [6, 4, 72]);
    assert.ok(Math.abs(g.data[0]! - 200) <= 1);
    const a = await decodeImage(rgba);
    assert.ok(Math.abs(a.data[0]! - 128) <= 2 && a.data[1] === 0, `alpha flattened onto black: ${a.data.subarray(0, 3)}`);
    const r = await decodeImage(rotated);
    assert.deepEqual([r.width, r.height], [4, 6]);
  });

  test('the crop levels the eyes and frames the box', () => {
    // a white image with one dark dot: rotating by the eye angle moves it predictably
    const size = 200;
    const data = new Uint8Array(size * size * 3).fill(255);
    const dot = (x: number, y: number) => {
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++) data.fill(0, ((y + dy) * size + x + dx) * 3, ((y + dy) * size + x + dx) * 3 + 3);
    };
    dot(130, 100); // right of the centre (100,100)
    const image = { data, width: size, height: size };
    const box = { x: 52, y: 52, width: 96, height: 96 };
    // where the dot landed: the darkness-weighted centroid, in crop pixel indices
    const centroid = (face: Uint8Array) => {
      let sx = 0,
        sy = 0,
        sw = 0;
      face.forEach((v, i) => {
        const w = 255 - v;
        sx += w * (i % 48);
        sy += w * Math.floor(i / 48);
        sw += w;
      });
      return [sx / sw, sy / sw];
    };
    const near = (got: number[], want: number[], what: string) =>
      assert.ok(
        Math.hypot(got[0]! - want[0]!, got[1]! - want[1]!) < 0.5,
        `${what}: dot at ${got.map((v) => v.toFixed(2))}, expected ${want}`,
      );
    // the dot's centre is 30.5 px right of the box centre; the 96-px box maps to 48 px
    const framing = (levelBeyond: number, scale = 1) => ({ scale, shiftY: 0, levelBeyond });
    near(centroid(cropFace(image, box, framing(0))), [38.75, 23.75], 'unrotated');
    // eyes one above the other (+90°): the crop turns with them, so "right of centre" becomes "above centre"
    const upright = { right: { x: 100, y: 50 }, left: { x: 100, y: 150 } };
    near(centroid(cropFace(image, box, framing(0), upright)), [23.75, 8.25], 'levelled');
    // keeping 60° of the roll turns the crop by the other 30°, either way round; keeping more than 90° turns it not at all
    near(centroid(cropFace(image, box, framing(60), upright)), [36.83, 16.09], 'turned by the roll beyond 60°');
    near(centroid(cropFace(image, box, framing(60), { right: upright.left, left: upright.right })), [36.58, 31.34], 'turned by −30°');
    near(centroid(cropFace(image, box, framing(100), upright)), [38.75, 23.75], 'roll within levelBeyond kept');
    near(centroid(cropFace(image, box, framing(0, 2))), [31.125, 23.625], 'framed twice as wide');
  });

  test('recognizeFaces on only the part of a frame that cropRegion names gives what the whole frame gives', async () => {
    // A noisy 160×120 frame, faces near its middle, at its edge (part of the region outside the frame) and tilted.
    const rng = new Rng(3);
    const frame = { data: new Uint8Array(160 * 120 * 3).map(() => Math.floor(rng.next() * 256)), width: 160, height: 120 };
    const faces: DetectedFace[] = [
      { box: { x: 40, y: 30, width: 50, height: 56 }, score: 0.9 },
      { box: { x: 130, y: 2, width: 40, height: 40 }, score: 0.8 },
      {
        box: { x: 70.5, y: 50.25, width: 44, height: 44 },
        score: 0.7,
        landmarks: {
          rightEye: { x: 80, y: 60 },
          leftEye: { x: 100, y: 68 },
          nose: { x: 90, y: 70 },
          mouth: { x: 90, y: 80 },
          rightEar: { x: 72, y: 62 },
          leftEar: { x: 110, y: 70 },
        },
      },
    ];
    const loaded = await loadExpressionModel(model, { threads: 1 });
    const options = { model: loaded, framing: DEFAULT_RECOGNIZER_CONFIG.framing, tta: false };
    const whole = await recognizeFaces(frame, faces, options);
    for (const face of faces) {
      const eyes = face.landmarks && { right: face.landmarks.rightEye, left: face.landmarks.leftEye };
      const r = cropRegion(face.box, options.framing, eyes);
      const x0 = Math.max(0, r.x);
      const y0 = Math.max(0, r.y);
      const x1 = Math.min(frame.width, r.x + r.width);
      const y1 = Math.min(frame.height, r.y + r.height);
      const data = new Uint8Array((x1 - x0) * (y1 - y0) * 3);
      for (let y = y0; y < y1; y++)
        data.set(frame.data.subarray((y * frame.width + x0) * 3, (y * frame.width + x1) * 3), (y - y0) * (x1 - x0) * 3);
      const part = { x: x0, y: y0, frameWidth: frame.width, frameHeight: frame.height };
      const [alone] = await recognizeFaces({ data, width: x1 - x0, height: y1 - y0 }, [face], options, part);
      assert.deepEqual(alone, whole[faces.indexOf(face)], `face at ${face.box.x}, ${face.box.y}`);
    }
    assert.deepEqual(whole[1]!.normalizedBox, { x: 130 / 160, y: 2 / 120, width: 40 / 160, height: 40 / 120 });
    await loaded.dispose();
  });

  test('createRecognizer() with no options is `mien predict`: the shipped model and the DNN detector', async () => {
    const recognizer = await createRecognizer();
    // test/fixtures/dnn-face.jpg: one face, 160×160 at (220, 80) on a 480×360 background
    const faces = await recognizer.recognize('test/fixtures/dnn-face.jpg');
    assert.equal(faces.length, 1);
    const { x, y, width } = faces[0]!.box;
    assert.ok(Math.abs(x + width / 2 - 300) < 30 && Math.abs(y - 80) < 60, `face box ${JSON.stringify(faces[0]!.box)}`);
  });

  test("recognize: whole-image faces, a detector's faces left to right, empty when there is none", async () => {
    const faces = syntheticFaces(7, 9);
    const none = await createRecognizer({ model, detector: 'none' });
    for (let c = 0; c < 7; c++) {
      const [face] = await none.recognize(await grayPng(faces.images.subarray(c * FACE_PIXELS, (c + 1) * FACE_PIXELS)));
      assert.equal(face!.expression, ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'][c]);
      assert.ok(Math.abs(Object.values(face!.probabilities).reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    // a scene with two synthetic faces side by side, found by a detector that reports them right to left
    const scene = Buffer.alloc(96 * 48 * 3);
    for (let y = 0; y < 48; y++) {
      for (let x = 0; x < 96; x++) {
        const face = x < 48 ? 3 : 5;
        scene.fill(faces.images[face * FACE_PIXELS + y * 48 + (x % 48)]!, (y * 96 + x) * 3, (y * 96 + x) * 3 + 3);
      }
    }
    const detector: FaceDetector = {
      detect: async () => [
        { box: { x: 48, y: 0, width: 48, height: 48 }, score: 0.9 },
        { box: { x: 0, y: 0, width: 48, height: 48 }, score: 0.8 },
      ],
    };
    // the synthetic faces fill their boxes exactly, so the crop must be the box itself, not the photo framing
    const two = await createRecognizer({ model, detector, framing: { scale: 1, shiftY: 0 } });
    const found = await two.recognize({ data: scene, width: 96, height: 48, channels: 3 });
    assert.deepEqual(
      found.map((f) => [f.box.x, f.expression]),
      [
        [0, 'happy'],
        [48, 'surprise'],
      ],
    );
    // minFaceSize 64 in a photo 48 px high: faces of half its height, 24 px, are what it can hold, and they are kept
    const small = await createRecognizer({ model, detector, minFaceSize: 64 });
    assert.equal((await small.recognize({ data: scene, width: 96, height: 48 })).length, 2);
  });

  test('selectFaces drops faces under minFaceSize, save in a photo under twice that size, where half its shorter side is enough', () => {
    const face = (x: number, side: number): DetectedFace => ({ box: { x, y: 0, width: side, height: side }, score: 0.9 });
    const faces = [face(100, 30), face(0, 50), face(200, 20)];
    const kept = (photo: { width: number; height: number }, maxFaces = Infinity) =>
      selectFaces(faces, photo, 48, maxFaces).map((f) => f.box.x);
    assert.deepEqual(kept({ width: 640, height: 480 }), [0]);
    assert.deepEqual(kept({ width: 96, height: 96 }), [0]);
    assert.deepEqual(kept({ width: 60, height: 56 }), [0, 100]);
    assert.deepEqual(kept({ width: 60, height: 56 }, 1), [0]);
  });

  test('a FER2013-style 48×48 face is found by the default detector and framed from its box', async () => {
    const recognizer = await createRecognizer();
    // the middle of the fixture's pasted face, brows to chin, shrunk to 48×48 gray
    const png = await sharp('test/fixtures/dnn-face.jpg')
      .extract({ left: 236, top: 96, width: 128, height: 128 })
      .resize(48, 48)
      .grayscale()
      .png()
      .toBuffer();
    const faces = await recognizer.recognize(png);
    assert.equal(faces.length, 1);
    assert.ok(faces[0]!.box.width > 24 && faces[0]!.box.width < 64, `face box ${JSON.stringify(faces[0]!.box)}`);
  });

  test('the recognizer API: maxFaces keeps the largest, recognizeSingle, sorted expressions, normalised boxes, timings, dispose', async () => {
    const scene = { data: new Uint8Array(200 * 100 * 3).fill(90), width: 200, height: 100 };
    const detector: FaceDetector = {
      detect: async () => [
        { box: { x: 0, y: 0, width: 50, height: 50 }, score: 0.95 },
        { box: { x: 100, y: 20, width: 80, height: 80 }, score: 0.6 },
        { box: { x: 60, y: 10, width: 60, height: 60 }, score: 0.9 },
      ],
    };
    const recognizer = await createRecognizer({ model, detector, maxFaces: 2 });
    assert.equal(recognizer.config.maxFaces, 2);
    assert.equal(recognizer.config.minFaceSize, DEFAULT_RECOGNIZER_CONFIG.minFaceSize);
    await recognizer.warmup();
    const analysis = await recognizer.analyze(scene);
    assert.deepEqual(
      analysis.faces.map((f) => f.box.x),
      [60, 100],
      'the two largest, left to right',
    );
    const [face] = analysis.faces;
    assert.deepEqual(face!.normalizedBox, { x: 0.3, y: 0.1, width: 0.3, height: 0.6 });
    assert.deepEqual(
      face!.expressions.map((e) => e.probability),
      Object.values(face!.probabilities).sort((a, b) => b - a),
    );
    assert.equal(face!.expressions[0]!.expression, face!.expression);
    assert.equal(analysis.width, 200);
    for (const stage of ['decode', 'detect', 'classify', 'total'] as const) assert.ok(analysis.timings[stage] >= 0, stage);
    assert.ok(analysis.timings.total >= analysis.timings.detect + analysis.timings.classify);
    assert.equal((await recognizer.recognizeSingle(scene))!.box.x, 100, 'the largest face');
    assert.equal(await (await createRecognizer({ model, detector: { detect: async () => [] } })).recognizeSingle(scene), undefined);
    await recognizer.dispose(); // frees its own model session
    await assert.rejects(recognizer.recognize(scene));
    await recognizer.dispose(); // twice is harmless
  });

  test('options are checked once, with the same words everywhere; the CLI rejects what the API rejects', async () => {
    for (const [options, message] of [
      [{ minFaceSize: 0 }, /minFaceSize must be a whole number of pixels ≥ 1, got 0/],
      [{ maxFaces: 1.5 }, /maxFaces must be a whole number ≥ 1/],
      [{ minConfidence: 1 }, /minConfidence must be in \[0, 1\)/],
      // each detector's floor (src/detect/smallest-face.ts): below it the search costs gigabytes and finds nothing more
      [{ minFaceSize: 8 }, /minFaceSize must be at least 16 px with the dnn detector \(the smallest face it looks for\), got 8/],
      [{ minFaceSize: 20, detector: 'haar' }, /minFaceSize must be at least 24 px with the haar detector/],
      [{ tta: 'ten-crop' }, /^tta must be true, false, mirror or zoom, got "ten-crop"$/],
      [{ framing: { levelBeyond: -5 } }, /levelBeyond from 0 to 180 degrees, got \{"scale":0.9,"shiftY":-0.05,"levelBeyond":-5\}/],
    ] as const) {
      assert.throws(
        () => recognizerConfig(options as never),
        (err: Error) => err instanceof RecognizerOptionError && message.test(err.message),
      );
      await assert.rejects(createRecognizer({ model, ...(options as object) }), RecognizerOptionError);
    }
    await assert.rejects(
      createRecognizer({ model, detector: 'mtcnn' as never }),
      /^UnknownDetectorError: unknown detector 'mtcnn': use dnn, haar, none$/,
    );
    assert.deepEqual(recognizerConfig({ tta: true, minFaceSize: undefined }), { ...DEFAULT_RECOGNIZER_CONFIG, tta: true });
    // a framing given in part keeps the defaults of the fields it leaves out
    assert.deepEqual(recognizerConfig({ framing: { scale: 1, levelBeyond: undefined } }).framing, { ...DEFAULT_FRAMING, scale: 1 });
    const help = (await runCli(['predict', '--help'])).stdout;
    assert.match(help, /--min-face <px>.*\(default:\s+48\)/s);
    assert.match(help, /--max-faces <n>/);
    const bad = await runCli(['predict', '--min-face', '0', 'x.jpg']);
    assert.equal(bad.code, 2);
    const belowFloor = await runCli(['predict', '--min-face', '8', 'x.jpg']);
    assert.equal(belowFloor.code, 2);
    assert.match(belowFloor.stderr, /at least 16 px with the dnn detector/);
    assert.equal(recognizerConfig({ minFaceSize: 1, detector: 'none' }).minFaceSize, 1, 'no floor without a detector');
  });

  test('mien predict: table, JSON lines, annotated images; bad files reported and skipped; exit 1 only when all fail', async () => {
    const photos = join(dir, 'photos');
    await import('node:fs/promises').then((fs) => fs.mkdir(photos));
    const faces = syntheticFaces(7, 2);
    await writeFile(join(photos, 'happy.png'), await grayPng(faces.images.subarray(3 * FACE_PIXELS, 4 * FACE_PIXELS)));
    await writeFile(join(photos, 'broken.jpg'), 'xx');
    const out = join(dir, 'annotated');
    const r = await runCli(['predict', photos, '--detector', 'none', '--model', model, '--json', '--annotate', out]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // in input order (the folder's, sorted): the broken file's error line, then the photo's result
    assert.equal(lines.length, 2);
    assert.deepEqual(Object.keys(lines[0]), ['file', 'error']);
    assert.equal(lines[1].faces[0].expression, 'happy');
    assert.deepEqual(Object.keys(lines[1]), ['file', 'width', 'height', 'faces']);
    assert.match(r.stderr, /broken\.jpg: not an image/);
    assert.deepEqual(await readdir(out), ['happy.jpg']);
    const table = await runCli(['predict', join(photos, 'happy.png'), '--detector', 'none', '--model', model]);
    assert.match(table.stdout, /happy\.png {2}face 1\/1 .* happy +\d+\.\d%/);
    const allBad = await runCli(['predict', join(photos, 'broken.jpg'), '--detector', 'none', '--model', model]);
    assert.equal(allBad.code, 1);
    assert.doesNotMatch(allBad.stderr, /\n\s+at /);
  });

  test(
    'mien predict --detector haar finds the face in a photo',
    { skip: existsSync(HAAR_CASCADE) ? false : 'needs Debian opencv-data' },
    async () => {
      const r = await runCli(['predict', 'test/fixtures/haar-face.jpg', '--detector', 'haar', '--model', model, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const [line] = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(line.faces.length, 1);
      const { x, y, width } = line.faces[0].box;
      // the fixture's face was pasted at (110, 60), 120 px wide
      assert.ok(Math.abs(x + width / 2 - 170) < 20 && Math.abs(y + width / 2 - 120) < 25, JSON.stringify(line.faces[0].box));
    },
  );
});
