/**
 * The training loop. TypeScript owns everything but the math: batches, augmentation, schedule, callbacks,
 * checkpoints and history; the native engine only runs steps and forward passes.
 */
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { augmentFace, faceToFloat } from '../data/augment.js';
import { datasetSize, faceAt, type FaceDataset } from '../data/dataset.js';
import { blurDataset } from '../data/blur.js';
import { Rng } from '../data/random.js';
import { writeOnnx } from '../export/onnx.js';
import { FACE_PIXELS } from '../labels.js';
import type { ModelSpec } from '../models/spec.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { EarlyStopping, ReduceLrOnPlateau, type Callback, type TrainingControl } from './callbacks.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint, type TrainerState } from './checkpoint.js';
import type { EpochRecord, TrainConfig } from './config.js';
import { createNetwork, setThreads, type Network } from './engine.js';
import { silentReporter, type TrainReporter } from './progress.js';

/** File names inside a run folder. */
export const RUN_FILES = {
  last: 'last.ckpt',
  best: 'best.ckpt',
  history: 'history.json',
  config: 'config.json',
  bestOnnx: 'best.onnx',
} as const;

export interface TrainOptions {
  spec: ModelSpec;
  config: TrainConfig;
  train: FaceDataset;
  val: FaceDataset;
  /** Run folder: checkpoints, history.json, best.onnx. */
  outDir: string;
  /** Continue from this checkpoint (of the same run) instead of starting fresh. */
  resume?: Checkpoint;
  reporter?: TrainReporter;
  /** Extra callbacks, run after the built-in plateau and early-stopping ones. */
  callbacks?: Callback[];
}

export interface TrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  bestValAccuracy: number;
  /** Why training ended before the last epoch, if it did. */
  stoppedEarly?: string;
  bestOnnx: string;
}

/** Faces as the network takes them: n × 1 × 48 × 48 floats in [0, 1]. */
export function facesToInput(d: FaceDataset, start: number, end: number): Float32Array {
  const input = new Float32Array((end - start) * FACE_PIXELS);
  for (let i = start; i < end; i++) faceToFloat(faceAt(d, i), input, (i - start) * FACE_PIXELS);
  return input;
}

/** Mean cross-entropy and accuracy of logits (n × classes) against labels. */
export function lossAndAccuracy(logits: Float32Array, labels: ArrayLike<number>, classes: number): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < classes; c++) if (row[c]! > max) (max = row[c]!), (argmax = c);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(row[c]! - max);
    loss += Math.log(sum) + max - row[labels[i]!]!;
    if (argmax === labels[i]) correct++;
  }
  return { loss: loss / labels.length, correct };
}

/** Validation loss and accuracy with the network in eval mode. */
export function evaluateNetwork(net: Network, d: FaceDataset, batchSize = 256): { loss: number; accuracy: number } {
  const n = datasetSize(d);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const r = lossAndAccuracy(net.forward(facesToInput(d, start, end)), d.labels.subarray(start, end), net.spec.classes);
    lossSum += r.loss * (end - start);
    correct += r.correct;
  }
  return { loss: lossSum / n, accuracy: correct / n };
}

function freshState(config: TrainConfig): TrainerState {
  return {
    epoch: 0,
    lr: config.lr,
    history: [],
    bestValAccuracy: -1,
    bestEpoch: 0,
    callbacks: {},
    rng: new Rng(config.seed).getState(),
    finished: false,
  };
}

function builtInCallbacks(config: TrainConfig): Callback[] {
  const callbacks: Callback[] = [new ReduceLrOnPlateau(config.plateau.factor, config.plateau.patience, config.plateau.minLr)];
  if (config.earlyStopPatience > 0) callbacks.push(new EarlyStopping(config.earlyStopPatience));
  return callbacks;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { spec, config, train: trainSet, outDir } = options;
  // Checkpoints written before the option existed have no inputBlur.
  const inputBlur = config.inputBlur ?? 0;
  const val = inputBlur > 0 ? blurDataset(options.val, inputBlur) : options.val;
  const reporter = options.reporter ?? silentReporter;
  if (datasetSize(trainSet) < 2) throw new Error('training needs at least 2 labelled faces');
  if (datasetSize(val) < 1) throw new Error('validation needs at least 1 labelled face');
  await mkdir(outDir, { recursive: true });
  setThreads(config.threads > 0 ? config.threads : availableParallelism());

  const net = createNetwork(spec, { device: config.device, seed: config.seed });
  try {
    net.setOptimizer({ type: config.optimizer, lr: config.lr, weightDecay: config.weightDecay, momentum: config.momentum });
    const state = options.resume ? structuredClone(options.resume.state) : freshState(config);
    if (options.resume) {
      net.setWeights(options.resume.weights);
      net.setOptimizerState(options.resume.optimizer);
      net.setLearningRate(state.lr);
    }
    const callbacks = [...builtInCallbacks(config), ...(options.callbacks ?? [])];
    for (const cb of callbacks) if (state.callbacks[cb.name] !== undefined) cb.setState?.(state.callbacks[cb.name]);
    await writeFileAtomic(join(outDir, RUN_FILES.config), JSON.stringify({ spec, config }, null, 2) + '\n');

    const rng = Rng.fromState(state.rng);
    const n = datasetSize(trainSet);
    // A batch of one cannot be batch-normalised in train mode, so a lone leftover face waits for the next epoch.
    const batchesInData = Math.floor(n / config.batchSize) + (n % config.batchSize >= 2 ? 1 : 0);
    const batches = config.maxBatches > 0 ? Math.min(config.maxBatches, batchesInData) : batchesInData;
    const order = new Int32Array(n);
    let stoppedEarly: string | undefined;

    while (!state.finished && state.epoch < config.epochs) {
      const epoch = state.epoch + 1;
      reporter.epochStart(epoch, config.epochs, batches);
      // Shuffle from the identity, not from last epoch's order: an epoch's batches then depend only on the RNG state,
      // which the checkpoint holds, so a resumed run sees exactly the batches an uninterrupted one would.
      order.forEach((_, i) => (order[i] = i));
      rng.shuffle(order);
      const started = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let b = 0; b < batches; b++) {
        const start = b * config.batchSize;
        const size = Math.min(config.batchSize, n - start);
        const images = new Float32Array(size * FACE_PIXELS);
        const labels = new Int32Array(size);
        for (let k = 0; k < size; k++) {
          const i = order[start + k]!;
          augmentFace(faceAt(trainSet, i), images, k * FACE_PIXELS, config.augment, rng);
          labels[k] = trainSet.labels[i]!;
        }
        const step = net.trainStep(images, labels, { labelSmoothing: config.labelSmoothing });
        if (!Number.isFinite(step.loss)) throw new Error(`training diverged at epoch ${epoch}, batch ${b + 1} (loss ${step.loss}); try a lower --lr`);
        lossSum += step.loss * size;
        correct += step.correct;
        seen += size;
        const elapsed = (performance.now() - started) / 1000;
        reporter.batchEnd(b + 1, { loss: lossSum / seen, accuracy: correct / seen, imagesPerSecond: seen / elapsed });
      }
      const trainSeconds = (performance.now() - started) / 1000;
      const v = evaluateNetwork(net, val);
      const record: EpochRecord = {
        epoch,
        lr: state.lr,
        trainLoss: lossSum / seen,
        trainAccuracy: correct / seen,
        valLoss: v.loss,
        valAccuracy: v.accuracy,
        seconds: (performance.now() - started) / 1000,
        imagesPerSecond: seen / trainSeconds,
      };
      const isBest = record.valAccuracy > state.bestValAccuracy;
      state.history.push(record);
      state.epoch = epoch;
      if (isBest) {
        state.bestValAccuracy = record.valAccuracy;
        state.bestEpoch = epoch;
      }
      reporter.epochEnd(record, config.epochs, isBest);

      const control: TrainingControl = {
        get lr() {
          return state.lr;
        },
        setLearningRate(lr) {
          state.lr = lr;
          net.setLearningRate(lr);
        },
        stop(reason) {
          stoppedEarly ??= reason;
        },
        log: (message) => reporter.log(message),
      };
      for (const cb of callbacks) {
        await cb.onEpochEnd(record, control);
        if (cb.getState) state.callbacks[cb.name] = cb.getState();
      }
      if (stoppedEarly) reporter.log(stoppedEarly);
      state.finished = stoppedEarly !== undefined || epoch >= config.epochs;
      state.rng = rng.getState();

      // best before last: a crash between the two leaves last.ckpt one epoch behind, which resume simply redoes.
      const ckpt = { spec, config, state, weights: net.getWeights(), optimizer: net.getOptimizerState() };
      if (isBest) await saveCheckpoint(join(outDir, RUN_FILES.best), ckpt);
      await saveCheckpoint(join(outDir, RUN_FILES.last), ckpt);
      await writeFileAtomic(join(outDir, RUN_FILES.history), JSON.stringify(state.history, null, 2) + '\n');
    }

    const bestOnnx = join(outDir, RUN_FILES.bestOnnx);
    await exportRun(outDir, bestOnnx);
    return { history: state.history, bestEpoch: state.bestEpoch, bestValAccuracy: state.bestValAccuracy, stoppedEarly, bestOnnx };
  } finally {
    net.dispose();
  }
}

/** Writes the ONNX of a run's best checkpoint, with the run's provenance in its metadata. */
export async function exportRun(runDir: string, outPath: string): Promise<void> {
  const best = await loadCheckpoint(join(runDir, RUN_FILES.best));
  const record = best.state.history.find((r) => r.epoch === best.state.bestEpoch);
  const inputBlur = best.config.inputBlur ?? 0;
  await writeOnnx(
    outPath,
    best.spec,
    best.weights,
    {
    'mien.training_data': best.config.data + (best.config.val ? ` (val: ${best.config.val})` : ''),
    'mien.training_date': best.savedAt,
    'mien.training_recipe': JSON.stringify({ ...best.config, data: undefined, val: undefined }),
    'mien.epoch': String(best.state.bestEpoch),
    ...(record ? { 'mien.val_accuracy': record.valAccuracy.toFixed(4) } : {}),
    // The curves travel with the model, so an evaluation report can show how it was trained.
    'mien.history': JSON.stringify(best.state.history),
    },
    { inputBlur },
  );
}
