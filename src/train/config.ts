import type { AugmentOptions } from '../data/augment.js';
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
   * Gaussian blur (σ in pixels at 48×48) that makes sharp faces look like the training faces, for training data that
   * is blurrier than the faces the model will see: validation faces are blurred by it, and the exported ONNX blurs
   * its input by it. 0 = none.
   */
  inputBlur: number;
  /** Reduce-LR-on-plateau on validation loss: lr ×= factor after `patience` epochs without improvement. */
  plateau: { factor: number; patience: number; minLr: number };
  /** Stop after this many epochs without a better validation accuracy; 0 disables early stopping. */
  earlyStopPatience: number;
  device: Device;
  /** libtorch threads; 0 = all cores. */
  threads: number;
  /** Cap on batches per epoch (quick experiments and tests); 0 = the whole training set. */
  maxBatches: number;
}

/** One row of history.json. */
export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
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
  inputBlur: 0,
  seed: 1,
  plateau: { factor: 0.5, patience: 3, minLr: 1e-6 },
  earlyStopPatience: 10,
  device: 'cpu',
  threads: 0,
  maxBatches: 0,
};
