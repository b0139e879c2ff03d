import { EXPRESSIONS } from '../core/labels.js';
import type { AugmentOptions } from '../data/augment.js';
import { DataError } from '../data/problems.js';
import type { TeacherView } from './callbacks/distillation.js';
import type { MixingMode } from './callbacks/mixing.js';
import type { Device, OptimizerConfig } from './engine.js';

/** Everything that defines a training run; stored in every checkpoint so `--resume` needs nothing else. */
export interface TrainConfig {
  /** Architecture name from the zoo, or the path of a ModelSpec JSON file. */
  arch: string;
  /** Training data source (CSV or folder) and, when separate, the validation source. */
  data: string;
  val?: string;
  /** Fraction of the training data held out for validation when the source has no validation split. */
  valFraction: number;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig['type'];
  lr: number;
  momentum: number;
  weightDecay: number;
  labelSmoothing: number;
  seed: number;
  augment: AugmentOptions;
  /**
   * "plateau": the rate falls by `plateau.factor` when validation loss stalls (the seeds' recipe); "cosine": a
   * half-cosine from `lr` to `plateau.minLr` over the run, set every batch.
   */
  schedule: 'plateau' | 'cosine';
  /** Linear warm-up of the rate over this many epochs (fractions allowed); 0 = none. */
  warmupEpochs: number;
  /** Reduce-LR-on-plateau on validation loss: lr ×= factor after `patience` epochs without improvement. */
  plateau: { factor: number; patience: number; minLr: number };
  /** Decay of the exponential moving average of the weights that is validated and exported; 0 = no averaging. */
  ema: number;
  /** Mixup or CutMix of each batch's faces and labels, λ ~ Beta(alpha, alpha) (src/train/callbacks/mixing.ts). */
  mixing?: { mode: MixingMode; alpha: number };
  /**
   * Class-balanced loss: "balanced" weighs each class by N / (K · N_c) over the training labels (disgust, FER2013's
   * rarest class, ×9.4), "sqrt" by the square root of that (×3.2), or one weight per class; absent = every class 1.
   * The weights are normalised so the average face still weighs 1, which leaves the learning rate's meaning alone.
   */
  classWeights?: 'balanced' | 'sqrt' | number[];
  /**
   * The model the run started from instead of a random initialisation (`--init`): the absolute path of a mien ONNX
   * model (float, or int8 read back). Only the start of the run reads it; it is kept so the run says where its weights
   * came from.
   */
  init?: string;
  /**
   * Knowledge distillation from trained runs (their best.ckpt): soft targets at `temperature`, weighted by `weight`.
   * `view`: what the teachers see — the student's augmented face, or the same face with its geometry alone (`clean`:
   * soft targets for what the face shows, not for what a blurred or over-exposed copy of it still shows); absent
   * (runs from before the option) = augmented.
   */
  distillation?: { teachers: string[]; temperature: number; weight: number; view?: TeacherView };
  /** Stop after this many epochs without a better validation accuracy; 0 disables early stopping. */
  earlyStopPatience: number;
  device: Device;
  /**
   * bfloat16 convolutions and matrix products (libtorch CPU autocast; weights, optimizer and export stay float32):
   * 1.56× the images per second of float32 on a 2-core AVX-512 BF16 machine (`npm run bench:train`), and the same
   * val accuracy (docs/training.md). `auto`: on when training on a CPU with native bf16 instructions, where it is
   * faster; elsewhere it would be emulated, and slower.
   */
  bf16: boolean | 'auto';
  /** libtorch threads; 0 = all cores. */
  threads: number;
  /** Cap on batches per epoch (quick experiments and tests); 0 = the whole training set. */
  maxBatches: number;
  /**
   * Data-parallel ranks the run trains on (`--world-size`, `--procs`): each steps on `batchSize` faces of every global
   * batch of worldSize × batchSize. 1 = one process.
   */
  worldSize: number;
}

/** One row of history.json. */
export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  /**
   * With distillation, whose loss adds a T²-scaled term for the teacher's probabilities: the label term alone
   * (cross-entropy against the labels, smoothing included), on validation's scale.
   */
  trainLabelLoss?: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  /**
   * With weight averaging (--ema), which validates the average: the trained weights' own figures. Averaging draws no
   * random numbers, so these are what the same run without it would have validated — its gain, measured in one run.
   */
  trainedValLoss?: number;
  trainedValAccuracy?: number;
  seconds: number;
  imagesPerSecond: number;
}

/** The seeds' recipe: Adam 5e-4 with plateau decay and best-checkpoint selection. */
export const DEFAULT_TRAIN_CONFIG: Omit<TrainConfig, 'arch' | 'data' | 'augment'> = {
  valFraction: 0.1,
  epochs: 30,
  batchSize: 64,
  optimizer: 'adam',
  lr: 5e-4,
  momentum: 0.9,
  weightDecay: 0,
  labelSmoothing: 0,
  seed: 1,
  schedule: 'plateau',
  warmupEpochs: 0,
  plateau: { factor: 0.5, patience: 3, minLr: 1e-6 },
  ema: 0,
  earlyStopPatience: 10,
  device: 'cpu',
  bf16: 'auto',
  threads: 0,
  maxBatches: 0,
  worldSize: 1,
};

/**
 * The per-class loss weights `config.classWeights` asks for, for these training labels (−1 = unlabelled, skipped):
 * normalised so that Σ_c (N_c / N) · w_c = 1. Undefined when the config asks for none.
 *
 * @example
 * ```ts
 * classWeightsFor('balanced', Int32Array.of(0, 0, 0, 1), 2); // Float32Array [0.667, 2]
 * ```
 */
export function classWeightsFor(
  setting: TrainConfig['classWeights'],
  labels: ArrayLike<number>,
  classes: number,
): Float32Array | undefined {
  if (setting === undefined) return undefined;
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) if (labels[i]! >= 0) counts[labels[i]!]!++;
  let raw: number[];
  if (Array.isArray(setting)) {
    if (setting.length !== classes) throw new RangeError(`classWeights has ${setting.length} values for ${classes} classes`);
    if (!setting.every((w) => w > 0 && Number.isFinite(w))) throw new RangeError(`classWeights must be positive: ${setting.join(', ')}`);
    raw = setting;
  } else {
    const missing = counts.findIndex((c) => c === 0);
    if (missing >= 0)
      throw new DataError(
        `class weights "${setting}" need training faces of every class; ${EXPRESSIONS[missing] ?? `class ${missing}`} has none`,
      );
    raw = counts.map((c) => (setting === 'balanced' ? 1 / c : 1 / Math.sqrt(c)));
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const meanWeight = raw.reduce((sum, w, c) => sum + (w * counts[c]!) / total, 0);
  return Float32Array.from(raw, (w) => w / meanWeight);
}
