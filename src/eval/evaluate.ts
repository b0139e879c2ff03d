/** Running an expression model over a loaded data set, and choosing which of the source's splits to run it on. */
import { FACE_PIXELS, NUM_CLASSES } from '../core/labels.js';
import { facesToInput } from '../data/dataset.js';
import { DataError, datasetSize, subset, type FaceDataset } from '../data/index.js';
import { parseSplitName } from '../data/names.js';
import { LOGITS_NAME } from '../core/model-format.js';
import { ModelError, type ExpressionModel } from '../recognize/expression-classifier.js';
import type { TtaOption } from '../recognize/tta.js';
import { evaluatePredictions, type Evaluation } from './metrics.js';

/** Faces converted to floats at a time: bounds memory (FER2013's 28 k training faces would take 265 MB at once). */
const CHUNK = 4096;

export interface ClassifyDatasetOptions {
  /** Test-time augmentation: `zoom` (or `true`) or `mirror` (src/recognize/tta.ts). */
  tta?: TtaOption;
  onProgress?: (done: number, total: number) => void;
}

/** `run` on every face of `data`, CHUNK faces at a time; its n × 7 results in order. */
async function runDataset(
  data: FaceDataset,
  onProgress: ClassifyDatasetOptions['onProgress'],
  run: (faces: Float32Array, onChunkProgress?: (done: number) => void) => Promise<Float32Array>,
): Promise<Float32Array> {
  const n = datasetSize(data);
  const results = new Float32Array(n * NUM_CLASSES);
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK);
    const chunk = await run(facesToInput(data, start, end), onProgress && ((done) => onProgress(start + done, n)));
    results.set(chunk, start * NUM_CLASSES);
  }
  return results;
}

/** The model's probabilities (n × 7) for every face of `data`, in order. */
export async function classifyDataset(
  model: ExpressionModel,
  data: FaceDataset,
  options: ClassifyDatasetOptions = {},
): Promise<Float32Array> {
  return runDataset(data, options.onProgress, (faces, onProgress) => model.classify(faces, { tta: options.tta, onProgress }));
}

/**
 * The model's raw logits (n × 7) for every face of `data`, in order, before any temperature it was calibrated with.
 * A ModelError when the model has no `logits` output.
 */
export async function datasetLogits(
  model: ExpressionModel,
  data: FaceDataset,
  options: Pick<ClassifyDatasetOptions, 'onProgress'> = {},
): Promise<Float32Array> {
  const logits = model.logits?.bind(model);
  if (!logits) throw new ModelError(`${model.path} has no '${LOGITS_NAME}' output, so there are no logits to calibrate`);
  return runDataset(data, options.onProgress, (faces, onProgress) => logits(faces, { onProgress }));
}

/**
 * Classifies every face of `data` and scores the predictions against its labels, which must all be known.
 *
 * @example
 * ```ts
 * import { evaluateModel, loadExpressionModel, loadFaces } from 'mien-fer';
 * const { splits } = await loadFaces('../shared/data/fer2013');
 * const e = await evaluateModel(await loadExpressionModel('fast'), splits.val);
 * console.log(e.n, e.accuracy.toFixed(4), e.macroF1.toFixed(4), e.ece.toFixed(4)); // 3589 0.6707 0.6380 0.0263
 * ```
 */
export async function evaluateModel(model: ExpressionModel, data: FaceDataset, options: ClassifyDatasetOptions = {}): Promise<Evaluation> {
  if (data.labels.some((l) => l < 0)) throw new DataError('cannot evaluate faces without labels');
  return evaluatePredictions(await classifyDataset(model, data, options), data.labels);
}

/** Every face of the source: its splits one after another, in source order when the ids are CSV row numbers. */
export function allFaces(splits: Record<string, FaceDataset>): FaceDataset {
  const parts = Object.values(splits);
  if (parts.length === 1) return parts[0]!;
  const ids = parts.flatMap((p) => p.ids);
  const labels = Int8Array.from(parts.flatMap((p) => Array.from(p.labels)));
  const images = new Uint8Array(labels.length * FACE_PIXELS);
  let offset = 0;
  for (const p of parts) {
    images.set(p.images, offset);
    offset += p.images.length;
  }
  const merged = { images, labels, ids };
  // A FER2013 CSV's Usage splits are separate data sets; its row-number ids put the rows back in file order.
  if (!ids.every((id) => /^\d+$/.test(id))) return merged;
  const order = ids.map((_, i) => i).sort((a, b) => Number(ids[a]) - Number(ids[b]));
  return subset(merged, order);
}

/** Names `--split` accepts besides the source's own: `all` means every face. */
export const ALL_SPLITS = 'all';

export interface ChosenSplit<T = FaceDataset> {
  /** `train`, `val`, `test` or `all`. */
  name: string;
  data: T;
}

/**
 * The split to evaluate: `requested` by Usage name (Training, PublicTest, PrivateTest), split name (train, val, test)
 * or `all`; without one, `test` if the source has it, else `val`, else every face. A name that is not a split, or a
 * split the source (named in messages) lacks, is a DataError listing what there is.
 */
export function chooseSplit(source: string, splits: Record<string, FaceDataset>, requested?: string): ChosenSplit {
  return pickSplit(source, splits, requested, allFaces);
}

/** chooseSplit for splits of any kind (face sets, lists of photos); `mergeAll` makes the `all` split. */
export function pickSplit<T>(
  source: string,
  splits: Record<string, T>,
  requested: string | undefined,
  mergeAll: (splits: Record<string, T>) => T,
): ChosenSplit<T> {
  const available = Object.keys(splits);
  if (requested === undefined) {
    const name = ['test', 'val'].find((s) => s in splits);
    return name ? { name, data: splits[name]! } : { name: ALL_SPLITS, data: mergeAll(splits) };
  }
  if (requested.trim().toLowerCase() === ALL_SPLITS) return { name: ALL_SPLITS, data: mergeAll(splits) };
  const name = parseSplitName(requested);
  if (!name) {
    throw new DataError(`unknown split '${requested}': use Training, PublicTest, PrivateTest, train, val, test or all`);
  }
  const data = splits[name];
  if (!data) {
    const has = available.includes(ALL_SPLITS)
      ? 'no splits (all its faces are one set; use --split all)'
      : `the splits ${available.join(', ')}`;
    throw new DataError(`${source} has no ${name} split (--split ${requested}); it has ${has}`);
  }
  return { name, data };
}
