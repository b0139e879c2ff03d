/**
 * Which crop of a detected face the expression model should see. FER2013 faces are tight (brows to chin); a detector's
 * box is framed its own way. This pastes labelled val faces into larger scenes at a random size, position and small
 * rotation, runs the detector and the crop on every scene, and scores the expression model for a grid of framings
 * (crop side = box side × scale, centre moved down by shiftY × side) and for how much of the head's roll the crop keeps
 * (levelBeyond), next to the model on the original crops. The scenes are also written as class folders, so the whole
 * pipeline can be scored on them with `mien eval --detector dnn --data <out>`. With `--close-ups <side>` each scene is
 * instead the face alone scaled to fill a side × side photo (a close-up, or a folder of face crops run through the
 * detector; 48 = FER2013's own faces).
 * `--max-angle <degrees>` sets how far the scenes rotate each face (default 12); `--tta mirror|zoom` classifies every
 * crop, the data set's and the detector's alike, with those test-time views.
 *
 *   npm run bench:framing -- [--data ../shared/data/fer2013] [--model fast] [--faces 1200] [--out mien-scenes] [--close-ups 224]
 *                            [--max-angle 12] [--tta mirror|zoom]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { faceToFloat } from '../src/data/augment.js';
import { datasetSize, faceAt, subset } from '../src/data/dataset.js';
import { loadFaces, Rng } from '../src/data/index.js';
import { loadFaceDetector, type DnnFace } from '../src/detect/index.js';
import { evaluatePredictions } from '../src/eval/metrics.js';
import { EXPRESSIONS, FACE_PIXELS, FACE_SIZE, NUM_CLASSES } from '../src/core/labels.js';
import { iou, type Box } from '../src/core/geometry.js';
import { cropFace, type Framing } from '../src/recognize/crop.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';
import { DEFAULT_FRAMING } from '../src/recognize/config.js';
import type { RgbImage } from '../src/recognize/image.js';
import { isTtaMode, TTA_MODES, type TtaOption } from '../src/recognize/tta.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013' },
    model: { type: 'string', default: 'fast' },
    faces: { type: 'string', default: '1200' },
    out: { type: 'string', default: 'mien-scenes' },
    seed: { type: 'string', default: '7' },
    'close-ups': { type: 'string' },
    'max-angle': { type: 'string', default: '12' },
    tta: { type: 'string' },
  },
});
if (args.tta !== undefined && !isTtaMode(args.tta)) throw new Error(`--tta takes ${TTA_MODES.join(' or ')}, got ${args.tta}`);
const tta: TtaOption = args.tta ?? false;

/** The scene's size, and the side and rotation of the face pasted into it. */
const closeUp = Number(args['close-ups']);
if (args['close-ups'] !== undefined && !(closeUp >= 16))
  throw new Error(`--close-ups takes the photos' side in pixels (16 or more), got ${args['close-ups']}`);
// Scenes rotate each face by up to ±max-angle on top of its own roll: 12° is a photo's usual head tilt, 30° a strong one.
const maxAngle = Number(args['max-angle']);
if (!(maxAngle >= 0 && maxAngle <= 90)) throw new Error(`--max-angle takes degrees from 0 to 90, got ${args['max-angle']}`);
const LAYOUT = args['close-ups']
  ? { width: closeUp, height: closeUp, minSide: closeUp, maxSide: closeUp, maxAngle: 0, described: `filling ${closeUp}×${closeUp} photos` }
  : {
      width: 640,
      height: 480,
      minSide: 64,
      maxSide: 240,
      maxAngle: (maxAngle * Math.PI) / 180,
      described: `pasted into 640×480 scenes (side 64–240 px, ±${maxAngle}°)`,
    };
const { width: SCENE_WIDTH, height: SCENE_HEIGHT } = LAYOUT;
const SCALES = [0.8, 0.9, 1.0, 1.1, 1.2, 1.3];
const LEVEL_BEYOND = [0, 5, 10, 15, 20, 30, 180];
const SHIFTS = [-0.1, -0.05, 0, 0.05, 0.1];

interface Scene {
  image: RgbImage;
  /** The pasted face: centre, side and rotation (radians, counter-clockwise in the image). */
  cx: number;
  cy: number;
  side: number;
  angle: number;
}

/** A gray scene: a smooth random gradient with soft blobs, so the face is not on a blank page but nothing else is a face. */
function background(rng: Rng): Float32Array {
  const px = new Float32Array(SCENE_WIDTH * SCENE_HEIGHT);
  const [a, bx, by] = [rng.uniform(40, 200), rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)];
  const blobs = Array.from({ length: 6 }, () => ({
    x: rng.uniform(0, SCENE_WIDTH),
    y: rng.uniform(0, SCENE_HEIGHT),
    r: rng.uniform(30, 160),
    v: rng.uniform(-60, 60),
  }));
  for (let y = 0; y < SCENE_HEIGHT; y++) {
    for (let x = 0; x < SCENE_WIDTH; x++) {
      let v = a + bx * x + by * y;
      for (const b of blobs) v += b.v * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
      px[y * SCENE_WIDTH + x] = v + rng.uniform(-6, 6);
    }
  }
  return px;
}

/** The 48×48 face pasted (bilinear, rotated) into a fresh scene. */
function makeScene(face: Uint8Array, rng: Rng): Scene {
  const gray = background(rng);
  const side = rng.uniform(LAYOUT.minSide, LAYOUT.maxSide);
  const angle = rng.uniform(-LAYOUT.maxAngle, LAYOUT.maxAngle);
  const reach = (side / 2) * (Math.abs(Math.cos(angle)) + Math.abs(Math.sin(angle)));
  const cx = rng.uniform(reach, SCENE_WIDTH - reach);
  const cy = rng.uniform(reach, SCENE_HEIGHT - reach);
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  for (let y = Math.floor(cy - reach); y <= Math.ceil(cy + reach); y++) {
    for (let x = Math.floor(cx - reach); x <= Math.ceil(cx + reach); x++) {
      // scene pixel centre → face coordinates (inverse rotation), in face pixels
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const u = ((dx * cos + dy * sin) / side) * FACE_SIZE + FACE_SIZE / 2 - 0.5;
      const v = ((-dx * sin + dy * cos) / side) * FACE_SIZE + FACE_SIZE / 2 - 0.5;
      if (u < -0.5 || v < -0.5 || u > FACE_SIZE - 0.5 || v > FACE_SIZE - 0.5) continue;
      const u0 = Math.min(FACE_SIZE - 2, Math.max(0, Math.floor(u)));
      const v0 = Math.min(FACE_SIZE - 2, Math.max(0, Math.floor(v)));
      const fu = Math.min(1, Math.max(0, u - u0));
      const fv = Math.min(1, Math.max(0, v - v0));
      const at = (i: number, j: number) => face[j * FACE_SIZE + i]!;
      gray[y * SCENE_WIDTH + x] =
        (1 - fv) * ((1 - fu) * at(u0, v0) + fu * at(u0 + 1, v0)) + fv * ((1 - fu) * at(u0, v0 + 1) + fu * at(u0 + 1, v0 + 1));
    }
  }
  const data = new Uint8Array(SCENE_WIDTH * SCENE_HEIGHT * 3);
  gray.forEach((v, i) => data.fill(Math.max(0, Math.min(255, Math.round(v))), 3 * i, 3 * i + 3));
  return { image: { data, width: SCENE_WIDTH, height: SCENE_HEIGHT }, cx, cy, side, angle };
}

const loaded = await loadFaces(args.data!);
const val = loaded.splits['val'];
if (!val) throw new Error(`${args.data} has no val split`);
const rng = new Rng(Number(args.seed));
const order = Int32Array.from({ length: datasetSize(val) }, (_, i) => i);
rng.shuffle(order);
const faces = subset(val, order.subarray(0, Math.min(Number(args.faces), order.length)));
const n = datasetSize(faces);

const model = await loadExpressionModel(args.model);
const detector = await loadFaceDetector();
console.log(`${n} val faces from ${args.data} ${LAYOUT.described}; model ${model.path}${tta ? `, ${tta} test-time views` : ''}`);

// Crop-only: the model on the faces as they are in the data set.
const original = new Float32Array(n * FACE_PIXELS);
for (let i = 0; i < n; i++) faceToFloat(faceAt(faces, i), original, i * FACE_PIXELS);
const cropOnly = evaluatePredictions(await model.classify(original, { tta }), faces.labels);

const scenes: Scene[] = [];
const detections: (DnnFace | undefined)[] = [];
for (let i = 0; i < n; i++) {
  const scene = makeScene(faceAt(faces, i), rng);
  const truth: Box = { x: scene.cx - scene.side / 2, y: scene.cy - scene.side / 2, width: scene.side, height: scene.side };
  const found = await detector.detect(scene.image);
  // the detection of the pasted face: the best-overlapping one, if it overlaps at all
  const match = found.map((f) => ({ f, o: iou(f.box, truth) })).sort((a, b) => b.o - a.o)[0];
  scenes.push(scene);
  detections.push(match && match.o > 0.2 ? match.f : undefined);
  const dir = join(args.out!, 'val', EXPRESSIONS[faces.labels[i]!]!);
  await mkdir(dir, { recursive: true });
  await sharp(Buffer.from(scene.image.data), { raw: { width: SCENE_WIDTH, height: SCENE_HEIGHT, channels: 3 } })
    .jpeg({ quality: 92 })
    .toFile(join(dir, `${String(i).padStart(5, '0')}.jpg`));
}
await writeFile(
  join(args.out!, '.scenes.json'),
  JSON.stringify(scenes.map(({ cx, cy, side, angle }, i) => ({ id: faces.ids[i], label: faces.labels[i], cx, cy, side, angle }))),
);
const detected = detections.filter((d) => d !== undefined).length;

// Where the pasted face lies relative to the detector's box: the framing that would reproduce the data set's crop.
const ratios = detections.flatMap((d, i) => (d ? [scenes[i]!.side / Math.max(d.box.width, d.box.height)] : [])).sort((a, b) => a - b);
const shifts = detections
  .flatMap((d, i) => (d ? [(scenes[i]!.cy - (d.box.y + d.box.height / 2)) / scenes[i]!.side] : []))
  .sort((a, b) => a - b);
const median = (xs: number[]) => xs[xs.length >> 1] ?? NaN;
console.log(`detected ${detected}/${n} pasted faces (${((100 * detected) / n).toFixed(1)} %)`);
console.log(
  `geometry: pasted side / box side median ${median(ratios).toFixed(3)}, centre offset / side median ${median(shifts).toFixed(3)}\n`,
);

/** Accuracy over all n scenes (missed faces wrong) and over the detected ones, for one framing. */
async function scoreFraming(framing: Framing): Promise<{ all: number; detectedOnly: number }> {
  const input = new Float32Array(n * FACE_PIXELS);
  const found = detections.map((d) => d !== undefined);
  detections.forEach((d, i) => {
    if (!d) return;
    const eyes = { right: d.landmarks.rightEye, left: d.landmarks.leftEye };
    faceToFloat(cropFace(scenes[i]!.image, d.box, framing, eyes), input, i * FACE_PIXELS);
  });
  const probabilities = await model.classify(input, { tta });
  const e = evaluatePredictions(probabilities, faces.labels, found);
  return { all: e.accuracy, detectedOnly: (e.accuracy * n) / Math.max(1, detected) };
}

console.log(`crop-only accuracy (the val faces themselves): ${(100 * cropOnly.accuracy).toFixed(2)} %\n`);
console.log('| scale \\ shiftY | ' + SHIFTS.map((s) => s.toFixed(2)).join(' | ') + ' |');
console.log('|---|' + SHIFTS.map(() => '---').join('|') + '|');
let best = { framing: DEFAULT_FRAMING, accuracy: -1 };
for (const scale of SCALES) {
  const row: string[] = [];
  for (const shiftY of SHIFTS) {
    const framing = { ...DEFAULT_FRAMING, scale, shiftY };
    const { detectedOnly } = await scoreFraming(framing);
    row.push((100 * detectedOnly).toFixed(2));
    if (detectedOnly > best.accuracy) best = { framing, accuracy: detectedOnly };
  }
  console.log(`| ${scale.toFixed(2)} | ${row.join(' | ')} |`);
}
console.log(`\n(accuracy on the ${detected} detected faces, levelBeyond ${DEFAULT_FRAMING.levelBeyond}°)\n`);
// The roll the crop keeps: 0 levels every face by its eyes, 180 none.
console.log('| levelBeyond (°) | ' + LEVEL_BEYOND.join(' | ') + ' |');
console.log('|---|' + LEVEL_BEYOND.map(() => '---').join('|') + '|');
const levelled: string[] = [];
for (const levelBeyond of LEVEL_BEYOND)
  levelled.push((100 * (await scoreFraming({ ...DEFAULT_FRAMING, levelBeyond })).detectedOnly).toFixed(2));
console.log(`| scale ${DEFAULT_FRAMING.scale}, shiftY ${DEFAULT_FRAMING.shiftY} | ${levelled.join(' | ')} |`);
const current = await scoreFraming(DEFAULT_FRAMING);
const chosen = await scoreFraming(best.framing);
console.log(`\n(accuracy on the ${detected} detected faces; ${NUM_CLASSES} classes)`);
console.log(
  `best framing: scale ${best.framing.scale}, shiftY ${best.framing.shiftY}: ${(100 * chosen.detectedOnly).toFixed(2)} % on detected faces, ${(100 * chosen.all).toFixed(2)} % on all scenes`,
);
console.log(
  `mien's default framing (scale ${DEFAULT_FRAMING.scale}, shiftY ${DEFAULT_FRAMING.shiftY}, levelBeyond ${DEFAULT_FRAMING.levelBeyond}): ${(100 * current.detectedOnly).toFixed(2)} % on detected faces, ${(100 * current.all).toFixed(2)} % on all scenes (missed faces wrong)`,
);
console.log(`crop-only: ${(100 * cropOnly.accuracy).toFixed(2)} %`);
console.log(
  `wrote ${n} scenes to ${args.out}/val/<class>/ — score the whole pipeline with: npx mien eval --detector dnn --data ${args.out}`,
);
