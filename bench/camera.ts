/**
 * How well the expression models read faces from worse cameras than FER2013's: every val face put through one
 * degradation at a time — JPEG at low quality, blur, sensor noise, under- and over-exposure, low contrast, tone
 * curves — then classified. The degradations are libvips' own (sharp: libjpeg-turbo's encoder and decoder, its
 * Gaussian blur and linear/gamma operations) and a seeded Gaussian noise, not the training augmentation's code, so a
 * model is not tested on the very functions it was trained with. Each row says whether its strength lies inside the
 * range `--augment camera` trains on (JPEG 20–90, blur σ ≤ 1.2 px, noise σ ≤ 6, |log γ| ≤ 0.3, brightness and
 * contrast ±20 %) or beyond it.
 *
 *   npm run bench:camera -- [--data ../shared/data/fer2013] [--model fast,accurate,lite]
 */
import { parseArgs } from 'node:util';
import sharp, { type Sharp } from 'sharp';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';
import { faceToFloat } from '../src/data/augment.js';
import { faceAt } from '../src/data/dataset.js';
import { loadFaces } from '../src/data/index.js';
import { Rng } from '../src/data/random.js';
import { evaluatePredictions } from '../src/eval/metrics.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013' },
    model: { type: 'string', default: 'fast,accurate,lite' },
  },
});

const RAW = { raw: { width: FACE_SIZE, height: FACE_SIZE, channels: 1 as const } };
const gray = async (image: Sharp): Promise<Uint8Array> => new Uint8Array(await image.extractChannel(0).raw().toBuffer());

interface Condition {
  name: string;
  /** Whether `--augment camera` trains on this strength. */
  trained: boolean;
  apply(face: Uint8Array, index: number): Promise<Uint8Array> | Uint8Array;
}

const jpeg = (quality: number): Condition => ({
  name: `JPEG quality ${quality}`,
  trained: quality >= 20,
  apply: async (face) => gray(sharp(await sharp(face, RAW).jpeg({ quality }).toBuffer())),
});
const blur = (sigma: number): Condition => ({
  name: `Gaussian blur σ ${sigma} px`,
  trained: sigma <= 1.2,
  apply: (face) => gray(sharp(face, RAW).blur(sigma)),
});
const noise = (sigma: number): Condition => ({
  name: `sensor noise σ ${sigma} levels`,
  trained: sigma <= 6,
  apply: (face, index) => {
    const rng = Rng.forItem(sigma, index);
    return face.map((v) => Math.min(255, Math.max(0, Math.round(v + sigma * rng.normal()))));
  },
});
/** level → a · level + b, as an exposure (a, b = 0) or a contrast change about mid-gray; trained within ±20 %. */
const linear = (name: string, a: number, b: number): Condition => ({
  name,
  trained: Math.abs(a - 1) <= 0.2,
  apply: (face) => gray(sharp(face, RAW).linear(a, b)),
});
/** level → 255 · (level / 255)^γ. */
const tone = (gamma: number): Condition => ({
  name: `tone curve γ ${gamma}`,
  trained: Math.abs(Math.log(gamma)) <= 0.3,
  apply: (face) => face.map((v) => Math.round(255 * (v / 255) ** gamma)),
});

const CONDITIONS: Condition[] = [
  { name: 'as captured', trained: true, apply: (face) => face },
  jpeg(50),
  jpeg(20),
  jpeg(10),
  blur(1),
  blur(2),
  noise(6),
  noise(12),
  linear('under-exposed ×0.5', 0.5, 0),
  linear('over-exposed ×1.5', 1.5, 0),
  linear('contrast ×0.5 about mid-gray', 0.5, 64),
  tone(0.6),
  tone(1.6),
];

const models = args.model.split(',');
const loaded = await Promise.all(models.map((name) => loadExpressionModel(name)));
const val = (await loadFaces(args.data)).splits.val;
if (!val) throw new Error(`${args.data} has no val split`);
const n = val.labels.length;
console.log(`accuracy on the ${n} val faces, one degradation at a time\n`);
console.log(`| condition | in \`--augment camera\`'s range | ${models.join(' | ')} |`);
console.log(`|---|---|${models.map(() => '---|').join('')}`);
for (const condition of CONDITIONS) {
  const shown = new Float32Array(n * FACE_PIXELS);
  for (let i = 0; i < n; i++) faceToFloat(await condition.apply(faceAt(val, i), i), shown, i * FACE_PIXELS);
  const cells: string[] = [];
  for (const model of loaded) cells.push(`${(100 * evaluatePredictions(await model.classify(shown), val.labels).accuracy).toFixed(2)} %`);
  console.log(`| ${condition.name} | ${condition.trained ? 'yes' : 'beyond'} | ${cells.join(' | ')} |`);
}
for (const model of loaded) await model.dispose();
