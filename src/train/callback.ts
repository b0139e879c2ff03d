/**
 * The training loop's hooks, after PyTorch Lightning: everything the loop does besides stepping the network —
 * learning-rate schedules, weight averaging, distillation targets, early stopping, history, checkpoints, curves, the
 * final export, progress — is a callback, so a new training trick is one class and one line where the list is built.
 */
import type { ModelSpec } from '../models/spec.js';
import type { Checkpoint, TrainerState } from './checkpoint.js';
import type { EpochRecord, TrainConfig } from './config.js';
import type { Network, StepResult } from './engine.js';

/** What every hook sees: the run, the network, the trainer's state (history included), and the loop's controls. */
export interface TrainContext {
  readonly spec: ModelSpec;
  readonly config: TrainConfig;
  /** Run folder. */
  readonly outDir: string;
  readonly net: Network;
  /** Epoch counter, history, best epoch, learning rate: read-only to callbacks except through the methods below. */
  readonly state: Readonly<TrainerState>;
  readonly batchesPerEpoch: number;
  /** Optimizer steps taken so far in the run (across resumes). */
  readonly step: number;
  setLearningRate(lr: number): void;
  /** Ends the run after the current epoch. The first reason given is kept. */
  stop(reason: string): void;
  readonly stopReason: string | undefined;
  /** One line for the log (e.g. "reducing lr to 2.5e-4"). */
  log(message: string): void;
  /** Everything a resumed run needs, as of now: spec, config, state (callbacks' state included), weights, optimizer. */
  checkpoint(): Omit<Checkpoint, 'savedAt'>;
}

/** One training batch before its step: callbacks may rewrite the images or give soft targets (mixup, distillation). */
export interface Batch {
  epoch: number;
  /** 0-based index within the epoch. */
  index: number;
  images: Float32Array;
  /**
   * The same faces with only their geometric augmentation (flip, rotation, zoom, shift): no brightness, contrast,
   * camera effects or erasing. Present when the run's teachers judge the clean face (`distillation.view: 'clean'`).
   */
  cleanImages?: Float32Array;
  labels: Int32Array;
  /** n × classes targets, rows summing to 1, used by the loss in place of (or beside, see softWeight) the labels. */
  softTargets?: Float32Array;
  /** Weight of the soft-target term; the hard labels get 1 − softWeight. Default 1. */
  softWeight?: number;
  /** Temperature of the soft-target term (distillation); default 1. */
  temperature?: number;
}

/** How an epoch ended: its record, whether it is the best so far, and the weights that were validated. */
export interface EpochEnd {
  record: EpochRecord;
  isBest: boolean;
  /** The weights the validation figures belong to (averaged ones, when a callback swapped them in). */
  validatedWeights: Float32Array[];
}

/** A callback hook: called with the context and the hook's own arguments; the trainer awaits it. */
export type Hook<A extends unknown[]> = (ctx: TrainContext, ...args: A) => void | Promise<void>;

/**
 * Hooks into the training loop, all optional, called in the order the callbacks are listed. Callbacks that keep state
 * across epochs expose it through getState/setState (JSON-serialisable) so a resumed run behaves exactly like an
 * uninterrupted one.
 */
export interface Callback {
  readonly name: string;
  onTrainStart?: Hook<[]>;
  onEpochStart?: Hook<[epoch: number]>;
  onBatchStart?: Hook<[batch: Batch]>;
  onBatchEnd?: Hook<[batch: Batch, result: StepResult]>;
  /**
   * Before validation: swap other weights in (the average). With such a hook present the trainer validates the trained
   * weights first and records their figures beside the validated ones (`trainedValAccuracy`).
   */
  onValidationStart?: Hook<[]>;
  /** After validation: undo what onValidationStart did. */
  onValidationEnd?: Hook<[]>;
  onEpochEnd?: Hook<[end: EpochEnd]>;
  onTrainEnd?: Hook<[]>;
  getState?(): unknown;
  setState?(state: unknown): void;
  /** Frees what the callback holds outside the JS heap (a teacher network); called once, whether the run ended or failed. */
  dispose?(): void | Promise<void>;
}
