/**
 * The training loop. TypeScript owns everything but the math: batches, augmentation, callbacks and state; the native
 * engine only runs steps and forward passes. Everything else a run does — schedules, averaging, distillation, early
 * stopping, history, checkpoints, curves, export, progress — is a callback (see callback.ts and callbacks/).
 */
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { augmentFace } from '../data/augment.js';
import { datasetSize, faceAt, facesToInput, type FaceDataset } from '../data/dataset.js';
import { DataError } from '../data/problems.js';
import { Rng } from '../data/random.js';
import { MienError } from '../core/errors.js';
import { FACE_PIXELS } from '../core/labels.js';
import type { ModelSpec } from '../models/spec.js';
import type { Batch, Callback, TrainContext } from './callback.js';
import { policyCallbacks, runFileCallbacks } from './callbacks/index.js';
import type { Checkpoint, TrainerState } from './checkpoint.js';
import { classWeightsFor, type EpochRecord, type TrainConfig } from './config.js';
import { cpuHasBf16, createNetwork, setThreads, type Network, type ProcessGroup } from './engine.js';

export { RUN_FILES } from './callbacks/run-files.js';

export interface TrainOptions {
  spec: ModelSpec;
  config: TrainConfig;
  train: FaceDataset;
  val: FaceDataset;
  /** Run folder: checkpoints, history.json, best.onnx. */
  outDir: string;
  /** Continue from this checkpoint (of the same run) instead of starting fresh. */
  resume?: Checkpoint;
  /**
   * Start from these weights (`tensorLayout(spec)` order) instead of a random initialisation: fine-tuning a trained
   * model, or a second schedule on top of a finished run; an undefined tensor keeps its random initialisation (layers
   * carried from another architecture, see carryWeights). A resumed run takes its weights from `resume` instead.
   */
  initialWeights?: (Float32Array | undefined)[];
  /** Extra callbacks (progress, curves, …), run after the ones the config asks for and before the run-file writers. */
  callbacks?: Callback[];
  /** Where callbacks' log lines go (default: nowhere). */
  log?: (message: string) => void;
  /**
   * Train data-parallel in this group (see connectGroup): every rank runs train() with the same spec and config; each
   * steps on its own `config.batchSize` share of every global batch of worldSize × batchSize faces, the gradients are
   * averaged across ranks, validation is split between them, and only rank 0 writes the run folder (its run-file
   * callbacks run on rank 0 alone; give `callbacks` such as progress on rank 0 only).
   */
  group?: ProcessGroup;
  /** This rank's GPU when training data-parallel on several GPUs of one host (its local rank); default 0. */
  deviceIndex?: number;
}

export interface TrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  bestValAccuracy: number;
  /** Why training ended before the last epoch, if it did. */
  stoppedEarly?: string;
}

/**
 * The loss became NaN or infinite. Nothing of the diverged network is saved, so the run folder keeps the checkpoints
 * of the last good epoch.
 */
export class TrainingDivergedError extends MienError {
  override readonly code = 'training_diverged';
}

/** Mean cross-entropy and accuracy of logits (n × classes) against labels. */
export function lossAndAccuracy(logits: Float32Array, labels: ArrayLike<number>, classes: number): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < classes; c++) {
      if (row[c]! > max) {
        max = row[c]!;
        argmax = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(row[c]! - max);
    loss += Math.log(sum) + max - row[labels[i]!]!;
    if (argmax === labels[i]) correct++;
  }
  return { loss: loss / labels.length, correct };
}

/** Summed loss and correct count over faces [from, to) of `d`, with the network in eval mode. */
async function validationSums(net: Network, d: FaceDataset, from: number, to: number, batchSize = 256): Promise<Float64Array> {
  let lossSum = 0;
  let correct = 0;
  for (let start = from; start < to; start += batchSize) {
    const end = Math.min(to, start + batchSize);
    const r = lossAndAccuracy(await net.forward(facesToInput(d, start, end)), d.labels.subarray(start, end), net.spec.classes);
    lossSum += r.loss * (end - start);
    correct += r.correct;
  }
  return Float64Array.of(lossSum, correct, to - from);
}

/** Validation loss and accuracy with the network in eval mode. */
export async function evaluateNetwork(net: Network, d: FaceDataset, batchSize = 256): Promise<{ loss: number; accuracy: number }> {
  const [lossSum, correct, n] = await validationSums(net, d, 0, datasetSize(d), batchSize);
  return { loss: lossSum! / n!, accuracy: correct! / n! };
}

/** The seed of rank `rank`'s dropout in `epoch` of a data-parallel run: its own stream, the same again on resume. */
const dropoutSeed = (seed: number, epoch: number, rank: number): number => Rng.forItem(seed, epoch * 65_536 + rank).uint32();

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

/** Runs every callback's hook, in order, awaiting each. */
async function fire<K extends keyof Callback>(callbacks: readonly Callback[], hook: K, ...args: unknown[]): Promise<void> {
  for (const cb of callbacks) await (cb[hook] as ((...a: unknown[]) => unknown) | undefined)?.call(cb, ...args);
}

/** Whether the run computes in bfloat16: as configured, `auto` meaning on a CPU that has the instructions for it. */
export const useBf16 = (config: Pick<TrainConfig, 'bf16' | 'device'>): boolean =>
  config.bf16 === 'auto' ? config.device === 'cpu' && cpuHasBf16() : config.bf16;

/**
 * Trains `spec` on `train`, validating on `val` every epoch; checkpoints, history and the best ONNX go to `outDir` (the callbacks of the config and `callbacks` run at every hook).
 *
 * @example
 * ```ts
 * import { DEFAULT_TRAIN_CONFIG, getArchitecture, loadFaces, train } from 'mien-fer';
 * import { DEFAULT_AUGMENT } from 'mien-fer/data';
 * const { splits } = await loadFaces('../shared/data/fer2013');
 * const result = await train({
 *   spec: getArchitecture('mienet-s'),
 *   config: { ...DEFAULT_TRAIN_CONFIG, arch: 'mienet-s', data: '../shared/data/fer2013', augment: DEFAULT_AUGMENT,
 *             epochs: 2, maxBatches: 50 }, // a 2-minute taste; the real recipes are in docs/training.md
 *   train: splits.train, val: splits.val, outDir: 'runs/api-demo',
 * });
 * console.log(result.bestEpoch, result.bestValAccuracy.toFixed(4)); // 2 0.2661
 * ```
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { spec, config, train: trainSet, val, outDir } = options;
  if (datasetSize(trainSet) < 2) throw new Error('training needs at least 2 labelled faces');
  if (datasetSize(val) < 1) throw new Error('validation needs at least 1 labelled face');
  const { group } = options;
  const rank = group?.rank ?? 0;
  const worldSize = group?.worldSize ?? 1;
  if (rank === 0) await mkdir(outDir, { recursive: true });
  setThreads(config.threads > 0 ? config.threads : availableParallelism());

  const n = datasetSize(trainSet);
  const globalBatch = worldSize * config.batchSize;
  // A batch of one cannot be batch-normalised in train mode, so a lone leftover face waits for the next epoch. Across
  // ranks only whole global batches are used (as DistributedSampler with drop_last): every rank's share is then the
  // same size, and the mean of their mean gradients is the gradient of the whole batch.
  const batchesInData =
    worldSize > 1 ? Math.floor(n / globalBatch) : Math.floor(n / config.batchSize) + (n % config.batchSize >= 2 ? 1 : 0);
  if (batchesInData === 0)
    throw new DataError(
      `${n} training faces do not fill one global batch of ${worldSize} ranks × ${config.batchSize}: give a smaller --batch`,
    );
  const batches = config.maxBatches > 0 ? Math.min(config.maxBatches, batchesInData) : batchesInData;
  const classWeights = classWeightsFor(config.classWeights, trainSet.labels, spec.classes);
  // Teachers that judge the clean face read each face's geometric augmentation alone, drawn with the student's.
  const cleanViews = config.distillation?.view === 'clean';

  // Run files come last, so the checkpoint holds every other callback's state as of the end of the epoch.
  const callbacks = [...(await policyCallbacks(config)), ...(options.callbacks ?? []), ...(rank === 0 ? runFileCallbacks() : [])];
  let net: Network | undefined;
  try {
    const network = (net = createNetwork(spec, {
      device: config.device,
      deviceIndex: options.deviceIndex,
      seed: config.seed,
      precision: { bf16: useBf16(config) },
    }));
    network.setOptimizer({ type: config.optimizer, lr: config.lr, weightDecay: config.weightDecay, momentum: config.momentum });
    const state = options.resume ? structuredClone(options.resume.state) : freshState(config);
    if (options.resume) {
      network.setWeights(options.resume.weights);
      network.setOptimizerState(options.resume.optimizer);
      network.setLearningRate(state.lr);
    } else if (options.initialWeights) {
      const random = network.getWeights();
      network.setWeights(options.initialWeights.map((w, i) => w ?? random[i]!));
    }
    // Joining checks that every rank built the same network, gives them rank 0's weights (a resumed run's are the same
    // everywhere; --init's only rank 0 read) and starts the gradient all-reduce.
    if (group) await network.joinGroup(group);
    for (const cb of callbacks) if (state.callbacks[cb.name] !== undefined) cb.setState?.(state.callbacks[cb.name]);
    const rng = Rng.fromState(state.rng);
    let stopReason: string | undefined;
    let step = state.epoch * batches;
    const diverged = (where: string, loss: number) =>
      new TrainingDivergedError(
        `training diverged at ${where} (loss ${loss}), most likely because the learning rate ${state.lr} is too high: ` +
          `try a lower --lr; the diverged weights were not saved` +
          (state.epoch > 0 ? `, ${outDir} keeps its checkpoints of epoch ${state.epoch}` : ''),
      );

    const ctx: TrainContext = {
      spec,
      config,
      outDir,
      net: network,
      state,
      batchesPerEpoch: batches,
      get step() {
        return step;
      },
      setLearningRate(lr) {
        state.lr = lr;
        network.setLearningRate(lr);
      },
      stop(reason) {
        stopReason ??= reason;
      },
      get stopReason() {
        return stopReason;
      },
      log: options.log ?? (() => {}),
      checkpoint() {
        for (const cb of callbacks) if (cb.getState) state.callbacks[cb.name] = cb.getState();
        state.rng = rng.getState();
        state.finished = stopReason !== undefined || state.epoch >= config.epochs;
        return { spec, config, state: structuredClone(state), weights: network.getWeights(), optimizer: network.getOptimizerState() };
      },
    };

    // Validated with rank 0's batch-norm statistics (the ones it saves), each rank a slice of the validation set.
    const validate = async () => {
      if (group) await network.syncBuffers();
      const valSize = datasetSize(val);
      const sums = await validationSums(
        network,
        val,
        Math.floor((rank * valSize) / worldSize),
        Math.floor(((rank + 1) * valSize) / worldSize),
      );
      const [loss, correct, seen] = group ? await group.allReduceSum(sums) : sums;
      return { loss: loss! / seen!, accuracy: correct! / seen! };
    };
    await fire(callbacks, 'onTrainStart', ctx);
    const order = new Int32Array(n);
    while (!state.finished && state.epoch < config.epochs) {
      const epoch = state.epoch + 1;
      await fire(callbacks, 'onEpochStart', ctx, epoch);
      // Shuffle from the identity, not from last epoch's order: an epoch's batches then depend only on the RNG state,
      // which the checkpoint holds, so a resumed run sees exactly the batches an uninterrupted one would.
      order.forEach((_, i) => (order[i] = i));
      rng.shuffle(order);
      // Each face of the epoch augments from its own generator, keyed by its place in the epoch: the batches do not
      // depend on how they are split between ranks.
      const augmentSeed = rng.uint32();
      if (group) network.manualSeed(dropoutSeed(config.seed, epoch, rank));
      const started = performance.now();
      let lossSum = 0;
      let labelLossSum = 0;
      // Whether some batch's loss mixed the labels' term with soft targets' (distillation).
      let mixedLoss = false;
      let correct = 0;
      let seen = 0;
      for (let b = 0; b < batches; b++) {
        const start = b * globalBatch + rank * config.batchSize;
        const size = Math.min(config.batchSize, n - start);
        const batch: Batch = { epoch, index: b, images: new Float32Array(size * FACE_PIXELS), labels: new Int32Array(size) };
        if (cleanViews) batch.cleanImages = new Float32Array(size * FACE_PIXELS);
        for (let k = 0; k < size; k++) {
          const i = order[start + k]!;
          const faceRng = Rng.forItem(augmentSeed, start + k);
          augmentFace(faceAt(trainSet, i), batch.images, k * FACE_PIXELS, config.augment, faceRng, batch.cleanImages);
          batch.labels[k] = trainSet.labels[i]!;
        }
        await fire(callbacks, 'onBatchStart', ctx, batch);
        const result = await network.trainStep(batch.images, batch.labels, {
          labelSmoothing: config.labelSmoothing,
          softTargets: batch.softTargets,
          softWeight: batch.softWeight,
          temperature: batch.temperature,
          classWeights,
        });
        if (!Number.isFinite(result.loss)) throw diverged(`epoch ${epoch}, batch ${b + 1} of ${batches}`, result.loss);
        step++;
        lossSum += result.loss * size;
        labelLossSum += result.labelLoss * size;
        mixedLoss ||= batch.softTargets !== undefined && (batch.softWeight ?? 1) < 1;
        correct += result.correct;
        seen += size;
        await fire(callbacks, 'onBatchEnd', ctx, batch, result);
      }
      const trainSeconds = (performance.now() - started) / 1000;
      // Every rank reports the whole group's figures, so every rank's schedule and stopping decide alike.
      const [groupLoss, groupLabelLoss, groupCorrect, groupSeen] = group
        ? await group.allReduceSum(Float64Array.of(lossSum, labelLossSum, correct, seen))
        : [lossSum, labelLossSum, correct, seen];

      // A callback that hooks validation swaps other weights in (the average): the trained ones are validated first.
      const trained = callbacks.some((cb) => cb.onValidationStart) ? await validate() : undefined;
      await fire(callbacks, 'onValidationStart', ctx);
      const v = await validate();
      // The last step can break the weights with a finite loss of its own; validation is the first to see it.
      if (!Number.isFinite(v.loss)) throw diverged(`epoch ${epoch}, validation after its last batch`, v.loss);
      const validatedWeights = network.getWeights();
      await fire(callbacks, 'onValidationEnd', ctx);

      const record: EpochRecord = {
        epoch,
        lr: state.lr,
        trainLoss: groupLoss! / groupSeen!,
        ...(mixedLoss && { trainLabelLoss: groupLabelLoss! / groupSeen! }),
        trainAccuracy: groupCorrect! / groupSeen!,
        valLoss: v.loss,
        valAccuracy: v.accuracy,
        ...(trained && { trainedValLoss: trained.loss, trainedValAccuracy: trained.accuracy }),
        seconds: (performance.now() - started) / 1000,
        imagesPerSecond: groupSeen! / trainSeconds,
      };
      const isBest = record.valAccuracy > state.bestValAccuracy;
      state.history.push(record);
      state.epoch = epoch;
      if (isBest) {
        state.bestValAccuracy = record.valAccuracy;
        state.bestEpoch = epoch;
      }
      await fire(callbacks, 'onEpochEnd', ctx, { record, isBest, validatedWeights });
      state.finished = stopReason !== undefined || epoch >= config.epochs;
      if (stopReason !== undefined) ctx.log(stopReason);
    }
    await fire(callbacks, 'onTrainEnd', ctx);
    // Rank 0 has written the run folder when the others return.
    await group?.barrier();
    return { history: state.history, bestEpoch: state.bestEpoch, bestValAccuracy: state.bestValAccuracy, stoppedEarly: stopReason };
  } finally {
    for (const cb of callbacks) await cb.dispose?.();
    net?.dispose();
  }
}
