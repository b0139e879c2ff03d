import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { iou, type Box } from '../src/core/geometry.js';
import { Rng } from '../src/data/random.js';
import { loadHaarCascade } from '../src/detect/haar-cascade.js';
import { cvRound, groupRectangles } from '../src/detect/haar-group.js';
import { integralImages, resizeBilinear, tiltedIntegral, toGray } from '../src/detect/haar-image.js';
import {
  loadHaarDetector,
  findShippedCascade,
  HaarDetectorError,
  MISSING_OPENCV_DATA,
  parseHaarCascade,
  type HaarDetector,
} from '../src/detect/haar.js';
import { useTempDir } from './helpers/data-fixtures.js';

const defaultCascade = findShippedCascade('default');
const needsOpencvData = defaultCascade ? {} : { skip: MISSING_OPENCV_DATA };
const tempDir = useTempDir('haar');

/** A minimal valid cascade: one stage, one stump on a two-rectangle feature; `patch` edits the XML text. */
function tinyCascade(patch: (xml: string) => string = (x) => x): string {
  return patch(`<?xml version="1.0"?>
<!-- a comment with <tags> inside -->
<opencv_storage>
<cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
  <featureType>HAAR</featureType>
  <height>6</height>
  <width>4</width>
  <stages>
    <_>
      <stageThreshold>-1.5e+00</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>
            0 -1 0 2.5e-01</internalNodes>
          <leafValues>
            -1. 1.</leafValues></_></weakClassifiers></_></stages>
  <features>
    <_>
      <rects>
        <_>
          0 0 4 6 -1.</_>
        <_>
          0 0 4 3 2.</_></rects></_></features></cascade>
</opencv_storage>
`);
}

describe('Haar cascade XML', () => {
  test('frontalface_default: window, stage, tree and feature counts as in the file', needsOpencvData, () => {
    const xml = readFileSync(defaultCascade!, 'utf8');
    const cascade = parseHaarCascade(xml);
    assert.equal(cascade.windowWidth, 24);
    assert.equal(cascade.windowHeight, 24);
    assert.equal(cascade.stages.length, 25); // <stageNum>25</stageNum>
    assert.equal(cascade.features.length, 2913);
    const trees = cascade.stages.flatMap((s) => s.trees);
    assert.equal(trees.length, (xml.match(/<internalNodes>/g) ?? []).length);
    assert.equal(trees.length, 2913);
    assert.ok(
      trees.every((t) => t.nodes.length === 1 && t.leaves.length === 2),
      'default is a cascade of stumps',
    );
    // The first and last stages, read off the file.
    assert.equal(cascade.stages[0]!.trees.length, 9);
    assert.equal(cascade.stages[0]!.threshold, -5.0425500869750977);
    assert.deepEqual(cascade.stages[0]!.trees[0], {
      nodes: [{ left: 0, right: -1, feature: 0, threshold: -3.1511999666690826e-2 }],
      leaves: [2.0875380039215088, -2.217210054397583],
    });
    assert.equal(cascade.stages[24]!.trees.length, 200);
    assert.equal(Math.max(...cascade.stages.map((s) => s.trees.length)), 211); // <stageParams><maxWeakCount>
    assert.deepEqual(cascade.features[0], {
      rects: [
        { x: 6, y: 4, width: 12, height: 9, weight: -1 },
        { x: 6, y: 7, width: 12, height: 3, weight: 3 },
      ],
      tilted: false,
    });
    assert.deepEqual(
      cascade.features[2912]!.rects.map((r) => r.weight),
      [-1, 2, 2],
    );
    assert.ok(!cascade.features.some((f) => f.tilted));
  });

  test('alt2: 20×20 window, 20 stages of two-node trees', { skip: findShippedCascade('alt2') ? false : MISSING_OPENCV_DATA }, async () => {
    const cascade = await loadHaarCascade('alt2');
    assert.equal(cascade.windowWidth, 20);
    assert.equal(cascade.stages.length, 20);
    assert.deepEqual(cascade.stages[0]!.trees[0]!.nodes, [
      { left: 0, right: 1, feature: 0, threshold: 4.3272329494357109e-3 },
      { left: -1, right: -2, feature: 1, threshold: 1.3076160103082657e-2 },
    ]);
    assert.equal(cascade.stages[0]!.trees[0]!.leaves.length, 3);
  });

  test('a tilted feature and a small cascade parse', () => {
    const cascade = parseHaarCascade(tinyCascade((x) => x.replace('</rects></_>', '</rects>\n      <tilted>1</tilted></_>')));
    assert.equal(cascade.features[0]!.tilted, true);
    assert.equal(cascade.stages[0]!.threshold, -1.5);
  });

  test('broken or foreign files are one-line HaarDetectorErrors', async () => {
    const cases: [string, RegExp][] = [
      [tinyCascade((x) => x.slice(0, x.indexOf('</features>'))), /never closed/],
      [tinyCascade((x) => x.replace('HAAR', 'LBP')), /LBP cascade; only HAAR/],
      [tinyCascade((x) => x.replace('0 -1 0 2.5e-01', '0 -7 0 2.5e-01')), /points to -7, outside the tree/],
      [tinyCascade((x) => x.replace('0 -1 0 2.5e-01', '0 -1 3 2.5e-01')), /feature 3 is not one of the 1 features/],
      [tinyCascade((x) => x.replace('0 0 4 3 2.', '0 0 4 2.')), /expected "x y width height weight"/],
      [tinyCascade((x) => x.replace('-1. 1.', '-1. 1. 2.')), /3 leaf values for 1 nodes/],
      ['<opencv_storage><old><size>20 20</size><stages></stages></old></opencv_storage>', /old pre-2.4 format/],
      ['{"not": "xml"}', /not an OpenCV cascade file/],
    ];
    for (const [xml, message] of cases) {
      assert.throws(
        () => parseHaarCascade(xml),
        (err: Error) => err instanceof HaarDetectorError && message.test(err.message) && !err.message.includes('\n'),
      );
    }
    const file = join(tempDir(), 'broken.xml');
    await writeFile(file, cases[0]![0]);
    await assert.rejects(loadHaarCascade(file), {
      name: 'HaarDetectorError',
      message: `${file}: malformed XML: <features> is never closed (truncated file?)`,
    });
    await assert.rejects(loadHaarCascade(join(tempDir(), 'none.xml')), { message: /none\.xml: no such cascade file$/ });
  });

  test('without opencv-data the named cascades say what to install', async () => {
    await assert.rejects(loadHaarCascade('default', [join(tempDir(), 'no-opencv')]), {
      name: 'HaarDetectorError',
      message: "the Haar cascade needs Debian's opencv-data: sudo apt-get install -y opencv-data",
    });
  });
});

describe('Haar image preparation', () => {
  test('integral and squared integral of a known 3×2 image, in rows of a wider stride', () => {
    const image = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const stride = 5;
    const sum = new Int32Array(stride * 3).fill(-7);
    const squares = new Float64Array(stride * 3).fill(-7);
    integralImages(image, 3, 2, stride, sum, squares);
    const rows = (a: ArrayLike<number>) => [0, 1, 2].map((y) => Array.from({ length: 4 }, (_, x) => a[y * stride + x]));
    assert.deepEqual(rows(sum), [
      [0, 0, 0, 0],
      [0, 1, 3, 6],
      [0, 5, 12, 21],
    ]);
    assert.deepEqual(rows(squares), [
      [0, 0, 0, 0],
      [0, 1, 5, 14],
      [0, 17, 46, 91],
    ]);
  });

  test('tilted integral matches its definition on a random image', () => {
    const [width, height, stride] = [7, 5, 9];
    const rng = new Rng(3);
    const image = Uint8Array.from({ length: width * height }, () => rng.uint32() & 255);
    const tilted = new Int32Array(stride * (height + 1));
    tiltedIntegral(image, width, height, stride, tilted, new Float64Array(3 * (width + 2 * height + 3)));
    for (let Y = 0; Y <= height; Y++) {
      for (let X = 0; X <= width; X++) {
        let expected = 0;
        for (let y = 0; y < Y; y++) for (let x = 0; x < width; x++) if (Math.abs(x - X + 1) <= Y - y - 1) expected += image[y * width + x]!;
        assert.equal(tilted[Y * stride + X], expected, `tilted(${X}, ${Y})`);
      }
    }
  });

  test('bilinear resize: same size copies, halving averages 2×2 blocks with OpenCV rounding', () => {
    const image = Uint8Array.from([10, 20, 30, 41, 30, 40, 50, 60, 0, 0, 255, 255, 0, 1, 255, 255]);
    const out = new Uint8Array(4);
    const rows = [new Int32Array(4), new Int32Array(4)] as const;
    resizeBilinear(image, 4, 4, out, 2, 2, ...rows);
    // (10+20+30+40)/4 = 25; (30+41+50+60)/4 = 45.25 → 45; (0+0+0+1)/4 → 0; 255.
    assert.deepEqual([...out], [25, 45, 0, 255]);
    const same = new Uint8Array(16);
    resizeBilinear(image, 4, 4, same, 4, 4, new Int32Array(4), new Int32Array(4));
    assert.deepEqual(same, image);
  });

  test('gray conversion uses OpenCV BT.601 fixed-point weights', () => {
    const out = new Uint8Array(3);
    toGray({ data: Uint8Array.from([255, 0, 0, 9, 0, 255, 0, 9, 10, 20, 30, 9]), width: 3, height: 1, channels: 4 }, out);
    // cvtColor: R·4899 + G·9617 + B·1868, rounded, >> 14.
    assert.deepEqual([...out], [76, 150, 18]);
  });
});

describe('rectangle grouping (cv::groupRectangles)', () => {
  const box = (x: number, y: number, size: number): Box => ({ x, y, width: size, height: size });

  test('similar windows merge into their mean once more than minNeighbors agree', () => {
    const cluster = [box(100, 100, 50), box(102, 101, 50), box(98, 99, 52), box(101, 100, 48), box(100, 103, 50), box(99, 100, 50)];
    const far = [box(300, 300, 40), box(301, 300, 40)];
    // y: 603 × (float)(1/6) = 100.5 in float, rounded half to even → 100, as OpenCV gets it.
    assert.deepEqual(groupRectangles([...cluster, ...far], 5, 0.2), [{ box: { x: 100, y: 100, width: 50, height: 50 }, neighbors: 6 }]);
    assert.deepEqual(groupRectangles(cluster.slice(0, 5), 5, 0.2), [], 'five windows are not more than five');
  });

  test('a weaker face inside a stronger one is dropped; minNeighbors 0 returns the windows', () => {
    const large = Array.from({ length: 8 }, () => box(100, 100, 100));
    const inner = Array.from({ length: 4 }, () => box(130, 130, 30));
    assert.deepEqual(
      groupRectangles([...large, ...inner], 3, 0.2).map((g) => g.neighbors),
      [8],
    );
    assert.equal(groupRectangles(inner, 0, 0.2).length, 4);
  });

  test('cvRound rounds half to even', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(cvRound), [0, 2, 2, 0, -2, 2, 3]);
  });
});

describe('Haar face detector', needsOpencvData, () => {
  let detector: HaarDetector;
  const fixture = join(import.meta.dirname, 'fixtures', 'haar-face.jpg');
  /** Where haar-face.jpg has its face: a 48×48 FER2013 face enlarged to 120 px, pasted at (110, 60) on 320×240 gray. */
  const pasted: Box = { x: 110, y: 60, width: 120, height: 120 };

  test('finds the face in a photo, whatever the channel count', async () => {
    detector = await loadHaarDetector();
    const { data, info } = await sharp(fixture).raw().toBuffer({ resolveWithObject: true });
    const faces = await detector.detect({ data, width: info.width, height: info.height, channels: info.channels as 3 });
    assert.equal(faces.length, 1, JSON.stringify(faces));
    const [face] = faces;
    assert.ok(iou(face!.box, pasted) >= 0.4, `IoU ${iou(face!.box, pasted)} for ${JSON.stringify(face!.box)}`);
    assert.ok(face!.neighbors > 5 && face!.score > 0.5 && face!.score < 1);

    const gray = await sharp(fixture).extractChannel(0).raw().toBuffer();
    assert.deepEqual(await detector.detect({ data: gray, width: 320, height: 240, channels: 1 }), faces);
    const rgba = await sharp(fixture).ensureAlpha().raw().toBuffer();
    assert.deepEqual(await detector.detect({ data: new Uint8ClampedArray(rgba), width: 320, height: 240 }), faces);
  });

  test('alt2 (two-node trees) finds the same face', { skip: findShippedCascade('alt2') ? false : MISSING_OPENCV_DATA }, async () => {
    const { data, info } = await sharp(fixture).raw().toBuffer({ resolveWithObject: true });
    const faces = await (await loadHaarDetector({ cascade: 'alt2' })).detect({ data, width: info.width, height: info.height, channels: 3 });
    assert.equal(faces.length, 1, JSON.stringify(faces));
    assert.ok(iou(faces[0]!.box, pasted) >= 0.4, JSON.stringify(faces[0]!.box));
  });

  test('minFaceSize above the face, or minNeighbors beyond its support, finds nothing', async () => {
    const gray = await sharp(fixture).extractChannel(0).raw().toBuffer();
    const image = { data: gray, width: 320, height: 240, channels: 1 as const };
    assert.deepEqual(await (await loadHaarDetector({ minFaceSize: 200 })).detect(image), []);
    assert.deepEqual(await (await loadHaarDetector({ minNeighbors: 500 })).detect(image), []);
    const raw = await (await loadHaarDetector({ minNeighbors: 0 })).detect(image);
    assert.ok(raw.length > 5 && raw.every((f) => f.score === 1 && f.neighbors === 1), 'minNeighbors 0 gives the raw windows');
  });

  test('no face in a blank image, noise, or an image smaller than the window', async () => {
    const rng = new Rng(11);
    const noise = Uint8Array.from({ length: 320 * 240 }, () => rng.uint32() & 255);
    assert.deepEqual(await detector.detect({ data: noise, width: 320, height: 240, channels: 1 }), []);
    assert.deepEqual(await detector.detect({ data: new Uint8Array(320 * 240 * 3).fill(128), width: 320, height: 240, channels: 3 }), []);
    assert.deepEqual(await detector.detect({ data: new Uint8Array(20 * 10), width: 20, height: 10, channels: 1 }), []);
  });

  test('bad options and pixels are one-line errors', async () => {
    await assert.rejects(loadHaarDetector({ scaleFactor: 1 }), {
      name: 'HaarDetectorError',
      message: 'scaleFactor must be a number above 1, got 1',
    });
    await assert.rejects(loadHaarDetector({ minNeighbors: -1 }), { message: /minNeighbors must be an integer ≥ 0/ });
    await assert.rejects(detector.detect({ data: new Uint8Array(10), width: 4, height: 4 }), {
      name: 'HaarDetectorError',
      message: '10 bytes do not make a 4×4 image of 1, 3 or 4 channels',
    });
  });
});
