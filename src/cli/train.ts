import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import * as ort from 'onnxruntime-node';
import { EXPRESSIONS, NUM_CLASSES } from '../core/labels.js';
import {
  datasetSize,
  DEFAULT_AUGMENT,
  facesToInput,
  formatAugment,
  parseAugment,
  spreadSubset,
  summarizeProblems,
  type FaceDataset,
} from '../data/index.js';
import { carryWeights, loadModelSpec, loadModelWeights, OnnxExport } from '../export/index.js';
import { getArchitecture } from '../models/index.js';
import { resolveModelPath, SHIPPED_MODELS } from '../recognize/expression-model.js';
import { CurvesCallback } from '../plot/index.js';
import { matchLayers, SpecError, tensorLayout, tensorSize, validateSpec, type ModelSpec } from '../models/spec.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import { classWeightsFor, DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../train/config.js';
import { connectGroup, DEFAULT_GROUP_TIMEOUT_MS, type ProcessGroup } from '../train/engine.js';
import { ConsoleProgress, formatDuration } from '../train/progress.js';
import { bestCheckpointOf, loadResumePoint, removeLeftoverTempFiles } from '../train/run-folder.js';
import { acquireRunLock, type RunLock } from '../train/run-lock.js';
import { TEACHER_VIEWS, type TeacherView } from '../train/callbacks/index.js';
import { RUN_FILES, train, useBf16 } from '../train/trainer.js';
import { loadTrainingData } from '../train/training-data.js';
import { launchLocalGroup, rankPlace, type DistributedFlags, type RankPlace } from './distributed.js';
import { usage, UsageError } from './errors.js';
import { float, int, positiveFloat, positiveInt } from './parse.js';
import { progressPrinter } from './progress.js';

/** An architecture by zoo name, or a ModelSpec JSON file of the user's own. */
export async function resolveArchitecture(arch: string): Promise<ModelSpec> {
  // an unknown name is a mistake in the command; a broken spec file stays a SpecError about that file
  if (!arch.endsWith('.json')) return usage(() => getArchitecture(arch));
  let spec: ModelSpec;
  try {
    spec = JSON.parse(await readFile(arch, 'utf8')) as ModelSpec;
  } catch (err) {
    throw new SpecError(`cannot read architecture file ${arch}: ${(err as Error).message}`);
  }
  validateSpec(spec);
  return spec;
}

interface TrainFlags extends DistributedFlags {
  data?: string;
  val?: string;
  arch?: string;
  init?: string;
  out?: string;
  resume?: string;
  epochs?: number;
  batch?: number;
  lr?: number;
  optimizer?: TrainConfig['optimizer'];
  momentum?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  classWeights?: TrainConfig['classWeights'];
  seed?: number;
  augment?: string;
  valFraction?: number;
  plateauFactor?: number;
  plateauPatience?: number;
  minLr?: number;
  earlyStop?: number;
  schedule?: TrainConfig['schedule'];
  warmupEpochs?: number;
  ema?: number;
  mixup?: number;
  cutmix?: number;
  teacher?: string[];
  kdTemperature?: number;
  kdWeight?: number;
  teacherView?: TeacherView;
  device?: TrainConfig['device'];
  bf16?: boolean;
  threads?: number;
  maxBatches?: number;
  strict?: boolean;
  cache: boolean;
}

const d = DEFAULT_TRAIN_CONFIG;

/** "balanced: angry 1.03, disgust 9.41, …", what the run's loss weighs each class by. */
function classWeightsLine(setting: NonNullable<TrainConfig['classWeights']>, labels: ArrayLike<number>): string {
  const weights = usage(() => classWeightsFor(setting, labels, NUM_CLASSES)!);
  const list = EXPRESSIONS.map((e, c) => `${e} ${weights[c]!.toFixed(2)}`).join(', ');
  return typeof setting === 'string' ? `${setting}: ${list}` : list;
}

function parseClassWeights(value: string): NonNullable<TrainConfig['classWeights']> {
  if (value === 'balanced' || value === 'sqrt') return value;
  const weights = value.split(',').map((w) => positiveFloat(w));
  if (weights.length !== NUM_CLASSES)
    throw new InvalidArgumentError(`"${value}": give "balanced", "sqrt" or ${NUM_CLASSES} comma-separated weights, one per class.`);
  return weights;
}
/** Hinton et al.'s usual distillation settings: soft targets at T = 4 carry most of the loss. */
const KD_DEFAULTS = { temperature: 4, weight: 0.7 };

export const trainCommand = new Command('train')
  .description('train an expression network on FER2013 (CSV) or class folders; writes checkpoints, history.json and best.onnx')
  .option('--data <csv|dir>', 'training data: FER2013 CSV (Usage column), Kaggle train.csv, or class folders')
  .option('--val <csv|dir>', "validation data (default: the source's val split, else a held-out fraction)")
  .option('--arch <name|spec.json>', 'architecture (see `mien models`) or a ModelSpec JSON file')
  .option(
    '--init <model>',
    `start from a trained model's weights instead of random ones (fine-tuning): a run folder, a mien .onnx model, or ${SHIPPED_MODELS.join(' or ')}; --arch defaults to its architecture, another one takes the layers it shares with it`,
  )
  .option('--out <dir>', 'run folder (default runs/<arch>)')
  .option('--resume <dir>', 'continue the run in <dir> from its last checkpoint')
  .option('--epochs <n>', `epochs (default ${d.epochs}; with --resume: extend the run to n epochs)`, positiveInt)
  .option('--batch <n>', `batch size (default ${d.batchSize})`, positiveInt)
  .option('--lr <x>', `learning rate (default ${d.lr})`, float)
  .addOption(new Option('--optimizer <name>', `optimizer (default ${d.optimizer})`).choices(['adam', 'adamw', 'sgd']))
  .option('--momentum <x>', `SGD momentum, Nesterov (default ${d.momentum})`, float)
  .option('--weight-decay <x>', `weight decay (default ${d.weightDecay})`, float)
  .option('--label-smoothing <x>', `label smoothing (default ${d.labelSmoothing})`, float)
  .option(
    '--class-weights <how>',
    'class-balanced loss: "balanced" (N / (K · N_c), disgust ×9.4 on FER2013), "sqrt" (its square root) or 7 comma-separated weights (default: none)',
    parseClassWeights,
  )
  .option('--seed <n>', `seed for init, shuffling and augmentation (default ${d.seed})`, int)
  .option(
    '--augment <spec>',
    `"none", "default", "camera" (default plus webcam/phone effects: blur=1.2,gamma=0.3,jpeg=0.5,noise=6) or e.g. "shift=4,flip,rotate=10,scale=0.1,brightness=0.2,contrast=0.2,erase=0.25,blur=1,gamma=0.3,jpeg=0.5,noise=6"; a list may start with "default" or "camera" (default: ${formatAugment(DEFAULT_AUGMENT)})`,
  )
  .option('--val-fraction <x>', `held-out fraction when the data has no val split (default ${d.valFraction})`, float)
  .option('--plateau-factor <x>', `reduce-LR-on-plateau factor (default ${d.plateau.factor})`, float)
  .option('--plateau-patience <n>', `epochs without val-loss improvement before reducing LR (default ${d.plateau.patience})`, int)
  .option('--min-lr <x>', `lowest learning rate (default ${d.plateau.minLr})`, float)
  .addOption(
    new Option('--schedule <name>', `learning-rate schedule: plateau (reduce on plateau) or cosine (default ${d.schedule})`).choices([
      'plateau',
      'cosine',
    ]),
  )
  .option('--warmup-epochs <x>', `linear learning-rate warm-up over x epochs (default ${d.warmupEpochs})`, float)
  .option('--ema <decay>', `validate and export an exponential moving average of the weights, e.g. 0.999 (default ${d.ema} = off)`, float)
  .option('--mixup <alpha>', 'blend each face with another of its batch, and their labels, λ ~ Beta(alpha, alpha), e.g. 0.2', float)
  .option('--cutmix <alpha>', 'paste a rectangle of another face of the batch into each face, labels in proportion, e.g. 1', float)
  .option(
    '--teacher <model...>',
    'distil from these: trained runs (their best.ckpt), .ckpt files, .onnx models or shipped model names (several = an ensemble teacher)',
  )
  .option('--kd-temperature <x>', `distillation temperature (default ${KD_DEFAULTS.temperature})`, float)
  .option('--kd-weight <x>', `weight of the distillation term, the labels get 1 − x (default ${KD_DEFAULTS.weight})`, float)
  .addOption(
    new Option(
      '--teacher-view <view>',
      "what the teachers see: the student's augmented face, or the same face with its geometry alone (no brightness, contrast, camera effects or erasing) (default augmented)",
    ).choices(TEACHER_VIEWS),
  )
  .option('--early-stop <n>', `stop after n epochs without better val accuracy, 0 = never (default ${d.earlyStopPatience})`, int)
  .addOption(new Option('--device <device>', 'cpu or cuda (default cpu)').choices(['cpu', 'cuda']))
  .option(
    '--bf16',
    'bfloat16 convolutions on the CPU (autocast; weights and the exported model stay float32); default: on where the CPU has bf16 instructions',
  )
  .option('--no-bf16', 'float32 throughout')
  .option('--threads <n>', 'libtorch threads (default: all cores)', positiveInt)
  .option('--max-batches <n>', 'at most n batches per epoch (quick experiments)', positiveInt)
  .option('--strict', 'fail on the first bad row or image instead of skipping it')
  .option('--no-cache', 'do not read or write the decoded-data cache')
  .option('--world-size <n>', 'ranks of a data-parallel run (default: WORLD_SIZE, else 1); every rank runs this command', positiveInt)
  .option('--rank <r>', "this process's rank, 0 to world size − 1 (default: RANK); rank 0 writes the run folder", int)
  .option('--master <host:port>', "rank 0's address, where the ranks meet (default: MASTER_ADDR:MASTER_PORT)")
  .option(
    '--group-timeout <s>',
    `seconds to wait for every rank to join, and for any exchange between them (default ${DEFAULT_GROUP_TIMEOUT_MS / 1000})`,
    positiveInt,
  )
  .option('--procs <n>', 'start n data-parallel ranks on this machine (cores split between them; one GPU each)', positiveInt)
  .action(async (flags: TrainFlags) => {
    if (flags.procs !== undefined && flags.procs > 1) {
      process.exitCode = await launchLocalGroup(flags.procs);
      return;
    }
    const place = rankPlace(flags);
    if (!place) {
      const plan = await planRun(flags);
      await withLockedRunFolder(plan.outDir, async () => runTraining(await openRun(plan), flags));
      return;
    }
    if (place.rank !== 0) {
      // The other ranks take the run from rank 0, so that every rank trains exactly the same model and recipe.
      const group = await joinRun(place, flags);
      try {
        await runTraining(await receiveRun(group), flags, { group, place });
      } finally {
        group.destroy();
      }
      return;
    }
    const plan = await planRun(flags);
    await withLockedRunFolder(plan.outDir, async () => {
      const opened = await openRun(plan);
      if (opened.resume && opened.config.worldSize !== place.worldSize)
        warn(
          `${opened.outDir} was trained on ${opened.config.worldSize} rank(s) and resumes on ${place.worldSize}: ` +
            'its global batch changes, so the batches differ from an uninterrupted run',
        );
      opened.config = { ...opened.config, worldSize: place.worldSize };
      const group = await joinRun(place, flags);
      try {
        await shareRun(group, opened);
        await runTraining(opened, flags, { group, place });
      } finally {
        group.destroy();
      }
    });
  });

interface OpenedRun {
  config: TrainConfig;
  spec: ModelSpec;
  resume?: Checkpoint;
  outDir: string;
}

/** Connects to the group; rank 0 says where it waits. */
async function joinRun(place: RankPlace, flags: TrainFlags): Promise<ProcessGroup> {
  const device = flags.device ?? d.device;
  if (place.rank === 0) console.log(`rank 0 of ${place.worldSize}: waiting for the other ranks on port ${place.port}`);
  return connectGroup({
    ...place,
    timeoutMs: flags.groupTimeout === undefined ? undefined : flags.groupTimeout * 1000,
    backend: device === 'cuda' ? 'nccl' : 'gloo',
    device: `cuda:${place.localRank}`,
  });
}

/** Rank 0 sends the run (config, architecture, the checkpoint it resumes from) to the other ranks. */
async function shareRun(group: ProcessGroup, run: OpenedRun): Promise<void> {
  const { config, spec, outDir, resume } = run;
  await group.broadcast(Buffer.from(JSON.stringify({ config, spec, outDir }), 'utf8'));
  await group.broadcast(resume ? Buffer.concat(encodeCheckpoint(resume)) : new Uint8Array(0));
}

async function receiveRun(group: ProcessGroup): Promise<OpenedRun> {
  const header = JSON.parse(Buffer.from(await group.broadcast()).toString('utf8')) as Omit<OpenedRun, 'resume'>;
  const checkpoint = await group.broadcast();
  return { ...header, resume: checkpoint.byteLength > 0 ? decodeCheckpoint(Buffer.from(checkpoint), "rank 0's checkpoint") : undefined };
}

/**
 * Loads the data and trains. Alone or on rank 0 it prints the run and its progress, and writes the run folder; the
 * other ranks of a group print nothing but warnings and errors.
 */
async function runTraining(run: OpenedRun, flags: TrainFlags, distributed?: { group: ProcessGroup; place: RankPlace }): Promise<void> {
  const { spec, resume, outDir } = run;
  // Threads are this machine's business: each rank keeps its own --threads.
  const config: TrainConfig = distributed && flags.threads !== undefined ? { ...run.config, threads: flags.threads } : run.config;
  const lead = !distributed || distributed.place.rank === 0;
  const say = lead ? (line: string) => console.log(line) : () => {};
  const progress = new ConsoleProgress();
  const data = await loadTrainingData(config, {
    strict: flags.strict,
    cache: flags.cache,
    onProgress: lead ? progressPrinter('loading images') : undefined,
  });
  const skipped = summarizeProblems(data.problems);
  if (skipped && lead) process.stderr.write(`${skipped}\n`);
  for (const line of data.description) say(line);
  const ranks = distributed ? `  ranks: ${distributed.place.worldSize} × batch ${config.batchSize} (${distributed.group.backend})` : '';
  say(
    `arch: ${spec.name}  optimizer: ${config.optimizer} lr ${config.lr}  batch ${config.batchSize}  augment: ${formatAugment(config.augment)}  device: ${config.device}${useBf16(config) ? ' (bf16)' : ''}${ranks}`,
  );
  const extras = [
    config.schedule === 'cosine' && 'schedule: cosine',
    config.warmupEpochs > 0 && `warm-up ${config.warmupEpochs} epochs`,
    config.ema > 0 && `ema ${config.ema}`,
    config.mixing && `${config.mixing.mode} α ${config.mixing.alpha}`,
    config.classWeights && `class weights ${classWeightsLine(config.classWeights, data.train.labels)}`,
    config.distillation &&
      `distilling from ${config.distillation.teachers.join(', ')} (T ${config.distillation.temperature}, weight ${config.distillation.weight}${config.distillation.view === 'clean' ? ', teachers see the clean faces' : ''})`,
  ].filter(Boolean);
  if (extras.length > 0) say(extras.join('  '));
  if (resume) say(`resuming ${outDir} after epoch ${resume.state.epoch}`);
  else if (config.init) say(`starting from the weights of ${config.init}`);
  // Only rank 0 reads them: joining the group gives every rank rank 0's weights.
  const initialWeights = config.init && !resume && lead ? await initialWeightsFor(spec, config.init, data.train, say) : undefined;
  const started = performance.now();
  const callbacks = lead ? [progress, new CurvesCallback(), new OnnxExport()] : [];
  const result = await train({
    spec,
    config,
    train: data.train,
    val: data.val,
    outDir,
    resume,
    initialWeights,
    callbacks,
    log: lead ? (m) => progress.log(m) : undefined,
    group: distributed?.group,
    deviceIndex: distributed?.place.localRank,
  });
  const best = result.history.find((r) => r.epoch === result.bestEpoch);
  say(
    `best val accuracy ${best ? (100 * best.valAccuracy).toFixed(2) : '-'}% at epoch ${result.bestEpoch}` +
      ` · ${formatDuration((performance.now() - started) / 1000)} · ${join(outDir, RUN_FILES.best)} · ${join(outDir, RUN_FILES.bestOnnx)}`,
  );
}

/** The --init model's weights for `spec`: all of them, or, for another architecture, those of the layers they share. */
async function initialWeightsFor(
  spec: ModelSpec,
  init: string,
  faces: FaceDataset,
  say: (line: string) => void,
): Promise<(Float32Array | undefined)[]> {
  const trained = await loadModelWeights(init, { calibration: calibrationFaces(faces), runtime: ort });
  if (sameLayout(spec, trained.spec)) return trained.weights;
  const carried = carryWeights(trained, spec);
  say(
    `${spec.name} takes ${carried.pairs.length} layers from ${trained.spec.name} (${carried.pairs.map(([to, from]) => `${to} ← ${from}`).join(', ')})` +
      (carried.fresh.length > 0 ? `; fresh: ${carried.fresh.join(', ')}` : ''),
  );
  return carried.weights;
}

/** Training faces an int8 --init model's batch norms are measured again on, as `mien quantize` measures its ranges. */
const calibrationFaces = (faces: FaceDataset): Float32Array => {
  const picked = spreadSubset(faces, 512);
  return facesToInput(picked, 0, datasetSize(picked));
};

const warn = (message: string) => void process.stderr.write(`mien: warning: ${message}\n`);

/** Removes `dir` and its parents up to `created` (the first folder mkdir made) while they are empty. */
function removeEmptyFolders(dir: string, created: string): void {
  for (let folder = resolve(dir); ; folder = dirname(folder)) {
    try {
      rmdirSync(folder);
    } catch {
      return;
    }
    if (folder === resolve(created)) return;
  }
}

/**
 * Runs `body` holding the lock of run folder `dir` (made if need be), after removing what a killed run left there. The
 * lock goes on every way out: return, error, SIGINT or SIGTERM. A folder made here that the run left empty (it failed
 * before writing anything, e.g. on a missing --data file) is removed again.
 */
async function withLockedRunFolder(dir: string, body: () => Promise<void>): Promise<void> {
  const created = mkdirSync(dir, { recursive: true });
  let lock: RunLock | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    lock?.release();
    const resumable = existsSync(join(dir, RUN_FILES.last)) ? `; continue with mien train --resume ${dir}` : '';
    process.stderr.write(`mien: ${signal}: training stopped${resumable}\n`);
    // The handler was a `once`: re-raised, the signal ends the process the default way, at once.
    process.kill(process.pid, signal);
  };
  try {
    lock = acquireRunLock(dir, { onStale: warn });
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const leftovers = await removeLeftoverTempFiles(dir);
    if (leftovers.length > 0) warn(`removed what interrupted writes left in ${dir}: ${leftovers.join(', ')}`);
    await body();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    lock?.release();
    if (created) removeEmptyFolders(dir, created);
  }
}

type RunPlan = { outDir: string; resume: true; epochs?: number } | { outDir: string; resume: false; config: TrainConfig; spec: ModelSpec };

/** What the flags ask for, checked before the run folder is locked: nothing here reads the folder's checkpoints. */
async function planRun(flags: TrainFlags): Promise<RunPlan> {
  if (flags.resume) {
    if (!existsSync(join(flags.resume, RUN_FILES.last)) && !existsSync(join(flags.resume, RUN_FILES.best)))
      throw new UsageError(`${flags.resume} has no ${RUN_FILES.last} to resume from`);
    return { outDir: flags.resume, resume: true, epochs: flags.epochs };
  }
  if (!flags.data) throw new UsageError('train needs --data <csv|dir> (or --resume <run dir>)');
  if (!flags.arch && !flags.init) throw new UsageError('train needs --arch <name> (see `mien models`) or --init <model>');
  const init = flags.init === undefined ? undefined : await initialModel(flags.init);
  const spec = flags.arch ? await resolveArchitecture(flags.arch) : init!.spec;
  if (init && flags.arch) checkCarriesOver(spec, init.spec, flags.init!);
  const config: TrainConfig = {
    ...d,
    arch: flags.arch ?? spec.name,
    ...(init && { init: init.path }),
    data: flags.data,
    val: flags.val,
    valFraction: flags.valFraction ?? d.valFraction,
    epochs: flags.epochs ?? d.epochs,
    batchSize: flags.batch ?? d.batchSize,
    optimizer: flags.optimizer ?? d.optimizer,
    lr: flags.lr ?? d.lr,
    momentum: flags.momentum ?? d.momentum,
    weightDecay: flags.weightDecay ?? d.weightDecay,
    labelSmoothing: flags.labelSmoothing ?? d.labelSmoothing,
    ...(flags.classWeights && { classWeights: flags.classWeights }),
    seed: flags.seed ?? d.seed,
    augment: flags.augment ? usage(() => parseAugment(flags.augment!)) : DEFAULT_AUGMENT,
    plateau: {
      factor: flags.plateauFactor ?? d.plateau.factor,
      patience: flags.plateauPatience ?? d.plateau.patience,
      minLr: flags.minLr ?? d.plateau.minLr,
    },
    earlyStopPatience: flags.earlyStop ?? d.earlyStopPatience,
    schedule: flags.schedule ?? d.schedule,
    warmupEpochs: flags.warmupEpochs ?? d.warmupEpochs,
    ema: flags.ema ?? d.ema,
    ...(flags.mixup !== undefined && { mixing: { mode: 'mixup' as const, alpha: flags.mixup } }),
    ...(flags.cutmix !== undefined && { mixing: { mode: 'cutmix' as const, alpha: flags.cutmix } }),
    ...(flags.teacher && {
      distillation: {
        teachers: flags.teacher,
        temperature: flags.kdTemperature ?? KD_DEFAULTS.temperature,
        weight: flags.kdWeight ?? KD_DEFAULTS.weight,
        view: flags.teacherView ?? 'augmented',
      },
    }),
    device: flags.device ?? d.device,
    bf16: flags.bf16 ?? d.bf16,
    threads: flags.threads ?? d.threads,
    maxBatches: flags.maxBatches ?? d.maxBatches,
  };
  if (config.labelSmoothing < 0 || config.labelSmoothing >= 1) throw new UsageError('--label-smoothing must be in [0, 1)');
  if (config.lr <= 0) throw new UsageError('--lr must be positive');
  if (flags.valFraction !== undefined && !(flags.valFraction > 0 && flags.valFraction < 1))
    throw new UsageError(`--val-fraction must be between 0 and 1, got ${flags.valFraction}`);
  if (config.bf16 === true && config.device !== 'cpu') throw new UsageError('--bf16 is CPU autocast; on cuda leave it out');
  if (!(config.warmupEpochs >= 0 && config.warmupEpochs < config.epochs))
    throw new UsageError('--warmup-epochs must be at least 0 and below --epochs');
  if (!(config.ema === 0 || (config.ema > 0 && config.ema < 1)))
    throw new UsageError('--ema must be between 0 and 1 (0 = off), e.g. 0.999');
  if (flags.mixup !== undefined && flags.cutmix !== undefined) throw new UsageError('--mixup and --cutmix: choose one');
  if (config.mixing && !(config.mixing.alpha > 0)) throw new UsageError(`--${config.mixing.mode} must be a positive alpha, e.g. 0.2`);
  // Both replace the loss's soft targets: mixed labels, or the teacher's probabilities.
  if (config.mixing && flags.teacher) throw new UsageError(`--${config.mixing.mode} and --teacher cannot be combined yet`);
  if ((flags.kdTemperature !== undefined || flags.kdWeight !== undefined || flags.teacherView !== undefined) && !flags.teacher)
    throw new UsageError('--kd-temperature, --kd-weight and --teacher-view need --teacher <run>');
  if (config.distillation) {
    const { teachers, temperature, weight } = config.distillation;
    if (!(temperature > 0)) throw new UsageError('--kd-temperature must be positive');
    if (!(weight >= 0 && weight <= 1)) throw new UsageError('--kd-weight must be between 0 and 1');
    config.distillation.teachers = teachers.map(teacherFile);
  }
  return { outDir: flags.out ?? join('runs', spec.name), resume: false, config, spec };
}

/**
 * The --init model's file (absolute) and architecture: a run folder (its best.onnx), an .onnx export, or a shipped
 * model (its float original `models/<name>-fp32.onnx` where the repository keeps one, as for `lite`, exact where the
 * int8 file is dequantised).
 */
async function initialModel(source: string): Promise<{ path: string; spec: ModelSpec }> {
  let file = existsSync(join(source, RUN_FILES.bestOnnx)) ? join(source, RUN_FILES.bestOnnx) : source;
  if ((SHIPPED_MODELS as readonly string[]).includes(source) && !existsSync(source)) {
    const shipped = usage(() => resolveModelPath(source).path);
    const float = shipped.replace(/\.onnx$/, '-fp32.onnx');
    file = existsSync(float) ? float : shipped;
  } else if (!existsSync(file) || statSync(file).isDirectory()) {
    const what = existsSync(file) ? `a folder without ${RUN_FILES.bestOnnx}` : 'no such file';
    throw new UsageError(`--init ${source}: ${what} (give a run folder, a mien .onnx model, or ${SHIPPED_MODELS.join(' or ')})`);
  }
  const path = resolve(file);
  return { path, spec: await loadModelSpec(path) };
}

/** Whether two architectures name the same tensors of the same sizes, so weights pass from one to the other as they are. */
function sameLayout(a: ModelSpec, b: ModelSpec): boolean {
  const [x, y] = [tensorLayout(a), tensorLayout(b)];
  return x.length === y.length && x.every((t, i) => t.name === y[i]!.name && tensorSize(t) === tensorSize(y[i]!));
}

/** --arch must share at least one layer with the --init model (see matchLayers; its own architecture shares all). */
function checkCarriesOver(spec: ModelSpec, initSpec: ModelSpec, source: string): void {
  if (matchLayers(initSpec, spec).pairs.length === 0)
    throw new UsageError(
      `--init ${source} is a ${initSpec.name}, which shares no layer with --arch ${spec.name}: leave --arch out to train its own architecture`,
    );
}

/**
 * A --teacher as the file the trainer loads: a run folder's best.ckpt, a .ckpt or .onnx file, or a shipped model's
 * .onnx (`accurate`). Kept absolute in the run's config, so a resumed run finds it from any directory.
 */
function teacherFile(teacher: string): string {
  if ((SHIPPED_MODELS as readonly string[]).includes(teacher) && !existsSync(teacher)) return usage(() => resolveModelPath(teacher).path);
  const file = bestCheckpointOf(teacher);
  if (!existsSync(file)) {
    throw new UsageError(`--teacher ${teacher}: no ${file} (give a run folder, a .ckpt or .onnx file, or ${SHIPPED_MODELS.join(' or ')})`);
  }
  return resolve(file);
}

/** The run's configuration, architecture and checkpoint to resume from, read with the run folder locked. */
async function openRun(plan: RunPlan): Promise<OpenedRun> {
  const { outDir } = plan;
  if (!plan.resume) {
    // best.ckpt alone is a run too: one killed between the two checkpoint writes of its first epoch.
    if (existsSync(join(outDir, RUN_FILES.last)) || existsSync(join(outDir, RUN_FILES.best)))
      throw new UsageError(`${outDir} already holds a run: continue it with --resume ${outDir}, or choose another --out`);
    return { config: plan.config, spec: plan.spec, outDir };
  }
  const { checkpoint: resume, warning } = await loadResumePoint(outDir);
  if (warning) warn(warning);
  // Runs saved before an option existed lack it: they ran with its default.
  const config: TrainConfig = { ...d, ...resume.config };
  if (plan.epochs !== undefined && plan.epochs > resume.state.epoch) {
    config.epochs = plan.epochs;
    resume.state.finished = false;
  }
  return { config, spec: resume.spec, resume, outDir };
}
