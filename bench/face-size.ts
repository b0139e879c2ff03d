/**
 * How well the expression model reads faces smaller than FER2013's 48 px, as a group photo's faces are: each val face
 * is shrunk to `side` px (bilinear) and scaled back up to 48 (bilinear), as the crop of a face that small is, then
 * classified. With `--min-face` below 48, these are the faces the detector adds (README, "Face detection, measured").
 *
 *   npm run bench:face-size -- [--data ../shared/data/fer2013] [--model fast] [--sides 48,40,32,24,16]
 */
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';
import { faceAt } from '../src/data/dataset.js';
import { loadFaces } from '../src/data/index.js';
import { evaluatePredictions } from '../src/eval/metrics.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013' },
    model: { type: 'string', default: 'fast' },
    sides: { type: 'string', default: '48,40,32,24,16' },
  },
});

/** A gray side × side image scaled to width × height, gray (sharp would make it sRGB). */
async function resizeGray(pixels: Uint8Array, side: number, to: number): Promise<Buffer> {
  return sharp(pixels, { raw: { width: side, height: side, channels: 1 } })
    .resize(to, to, { kernel: 'linear' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
}

const model = await loadExpressionModel(args.model);
const val = (await loadFaces(args.data)).splits.val;
if (!val) throw new Error(`${args.data} has no val split`);
const n = val.labels.length;
console.log(`${args.model} on ${n} val faces shown at a lower resolution\n\n| face side | accuracy | macro-F1 |\n|---|---|---|`);
for (const side of args.sides.split(',').map(Number)) {
  const shown = new Float32Array(n * FACE_PIXELS);
  for (let i = 0; i < n; i++) {
    const back = await resizeGray(await resizeGray(faceAt(val, i), FACE_SIZE, side), side, FACE_SIZE);
    for (let j = 0; j < FACE_PIXELS; j++) shown[i * FACE_PIXELS + j] = back[j]! / 255;
  }
  const e = evaluatePredictions(await model.classify(shown), val.labels);
  console.log(`| ${side} px | ${(100 * e.accuracy).toFixed(2)} % | ${e.macroF1.toFixed(4)} |`);
}
