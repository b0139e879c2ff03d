/**
 * Which views test-time augmentation should average: the face alone, `mirror`, the shipped `zoom` (five centred crops
 * of 44–52 px, each mirrored) and, for comparison, five shifts of ±2 px (each mirrored), scored on the val faces. The
 * two ten-view sets tie (docs/training.md); `--tta` uses the zooms, which also cover faces framed looser or tighter
 * than FER2013's. Several models (`--model accurate,fast`) are scored as an ensemble: the mean of their
 * probabilities for each view set.
 *
 *   npm run bench:tta -- [--data ../shared/data/fer2013] [--model fast]
 */
import { parseArgs } from 'node:util';
import { FACE_SIZE } from '../src/core/labels.js';
import { reflectIntoFace } from '../src/data/augment.js';
import { facesToInput } from '../src/data/dataset.js';
import { loadFaces } from '../src/data/index.js';
import { evaluatePredictions } from '../src/eval/metrics.js';
import { loadExpressionModel, type ExpressionModel } from '../src/recognize/expression-model.js';
import { ttaViews } from '../src/recognize/tta.js';

const { values: args } = parseArgs({
  options: { data: { type: 'string', default: '../shared/data/fer2013' }, model: { type: 'string', default: 'fast' } },
});

/** Each face moved by (dx, dy) whole pixels, the border filled by reflection as the training shift does. */
function shiftFaces(faces: Float32Array, dx: number, dy: number): Float32Array {
  const out = new Float32Array(faces.length);
  for (let face = 0; face < faces.length; face += FACE_SIZE * FACE_SIZE) {
    for (let y = 0; y < FACE_SIZE; y++) {
      const sy = reflectIntoFace(y - dy);
      for (let x = 0; x < FACE_SIZE; x++) out[face + y * FACE_SIZE + x] = faces[face + sy * FACE_SIZE + reflectIntoFace(x - dx)]!;
    }
  }
  return out;
}

const models = await Promise.all(args.model.split(',').map((name) => loadExpressionModel(name)));
const val = (await loadFaces(args.data)).splits.val;
if (!val) throw new Error(`${args.data} has no val split`);
const faces = facesToInput(val, 0, val.labels.length);
const mean = (parts: Float32Array[]) => parts[0]!.map((_, i) => parts.reduce((sum, p) => sum + p[i]!, 0) / parts.length);
const shifts = [
  [0, 0],
  [2, 0],
  [-2, 0],
  [0, 2],
  [0, -2],
].flatMap(([dx, dy]) => {
  const shifted = shiftFaces(faces, dx!, dy!);
  return [shifted, ttaViews(shifted, 'mirror').subarray(shifted.length)];
});
const sets: [string, (model: ExpressionModel) => Promise<Float32Array>][] = [
  ['the face alone', (model) => model.classify(faces)],
  ['mirror (2 views)', (model) => model.classify(faces, { tta: 'mirror' })],
  ['zoom: 44–52 px crops × mirror (10 views, --tta)', (model) => model.classify(faces, { tta: 'zoom' })],
  ['shifts of ±2 px × mirror (10 views)', async (model) => mean(await Promise.all(shifts.map((v) => model.classify(v))))],
];
console.log(`${args.model} on ${val.labels.length} val faces\n\n| views | accuracy | macro-F1 |\n|---|---|---|`);
for (const [name, run] of sets) {
  const probabilities: Float32Array[] = [];
  for (const model of models) probabilities.push(await run(model));
  const e = evaluatePredictions(mean(probabilities), val.labels);
  console.log(`| ${name} | ${(100 * e.accuracy).toFixed(2)} % | ${e.macroF1.toFixed(4)} |`);
}
