/**
 * How well the expression model reads faces smaller than FER2013's 48 px, as a group photo's faces are: each val face
 * is shrunk to `side` px and scaled back up to 48 (both by mien's area-averaging resize, the one its data loader uses),
 * as the crop of a face that small is, then classified. With `--min-face` below 48, these are the faces the detector
 * adds (README, "Face detection, measured").
 *
 *   npm run bench:face-size -- [--data ../shared/data/fer2013] [--model fast] [--sides 48,40,32,24,16]
 */
import { parseArgs } from 'node:util';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';
import { faceToFloat } from '../src/data/augment.js';
import { faceAt } from '../src/data/dataset.js';
import { loadFaces } from '../src/data/index.js';
import { resizeArea } from '../src/data/resize.js';
import { evaluatePredictions } from '../src/eval/metrics.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013' },
    model: { type: 'string', default: 'fast' },
    sides: { type: 'string', default: '48,40,32,24,16' },
  },
});

const model = await loadExpressionModel(args.model);
const val = (await loadFaces(args.data)).splits.val;
if (!val) throw new Error(`${args.data} has no val split`);
const n = val.labels.length;
console.log(`${args.model} on ${n} val faces shown at a lower resolution\n\n| face side | accuracy | macro-F1 |\n|---|---|---|`);
for (const side of args.sides.split(',').map(Number)) {
  const shown = new Float32Array(n * FACE_PIXELS);
  for (let i = 0; i < n; i++) {
    const small = resizeArea(faceAt(val, i), FACE_SIZE, FACE_SIZE, side, side);
    const back = resizeArea(small, side, side, FACE_SIZE, FACE_SIZE);
    faceToFloat(back, shown, i * FACE_PIXELS);
  }
  const e = evaluatePredictions(await model.classify(shown), val.labels);
  console.log(`| ${side} px | ${(100 * e.accuracy).toFixed(2)} % | ${e.macroF1.toFixed(4)} |`);
}
