/**
 * Typed wrapper over the native training engine (addon/, libtorch behind N-API). The addon is optional: without
 * libtorch mien still loads, and only training reports what to install.
 *
 * The addon is loaded on first use, not on import, so that importing mien never fails for want of libtorch.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { MienError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';
import { type ModelSpec, type NormalizedSpec, normalizeSpec, tensorLayout } from '../models/spec.js';

export type Device = 'cpu' | 'cuda';

export interface EngineInfo {
  /** True when the native addon loaded. */
  available: boolean;
  /** Why it did not load, with the command that fixes it. */
  reason?: string;
  /** libtorch version the addon was built against, e.g. "1.13.1". */
  torchVersion?: string;
  /** True when the addon was built against a CUDA libtorch and a GPU is visible. */
  cuda: boolean;
  /** Where libtorch came from (e.g. "/usr (Debian libtorch-dev)" or the MIEN_LIBTORCH path). */
  libtorch?: string;
  /** The c10d backends the addon was built with, for `--world-size`/`--procs`: "gloo" (CPUs), "nccl" (CUDA GPUs). */
  distributedBackends: DistributedBackend[];
}

export type DistributedBackend = 'gloo' | 'nccl';

export interface OptimizerConfig {
  type: 'adam' | 'adamw' | 'sgd';
  lr: number;
  /** L2 penalty (adam, sgd) or decoupled decay (adamw). Default 0. */
  weightDecay?: number;
  /** SGD momentum, default 0.9; Nesterov is always on for SGD. */
  momentum?: number;
  /** Adam betas, default [0.9, 0.999]. */
  betas?: [number, number];
}

export interface TrainStepOptions {
  /** Cross-entropy label smoothing in [0, 1). */
  labelSmoothing?: number;
  /** Soft targets (n × classes, rows summing to 1) for the loss, beside or instead of `labels` (mixup, distillation). */
  softTargets?: Float32Array;
  /**
   * Weight w of the soft-target term: loss = (1 − w) · CE(logits, labels) + w · T² · CE(logits / T, softTargets).
   * Default 1 (soft targets only).
   */
  softWeight?: number;
  /** Temperature T of the soft-target term (distillation); default 1. */
  temperature?: number;
  /**
   * A weight per class (class-balanced loss): each face weighs its label's weight in both terms, Σ w_y·CE / Σ w_y.
   * Scaling each soft-target class by its own weight instead would tilt flat teacher distributions toward the heavy
   * classes (a distilled run with `sqrt` weights fell to 19.8 % that way). Default none.
   */
  classWeights?: Float32Array;
}

export interface StepResult {
  /** Mean loss over the batch. */
  loss: number;
  /**
   * Its label term alone, CE(logits, labels) with the same smoothing and class weights: the loss itself without soft
   * targets; beside distillation's T²-scaled term, the part on validation's scale.
   */
  labelLoss: number;
  /** How many argmax predictions equal `labels`. */
  correct: number;
}

export interface Network {
  readonly spec: ModelSpec;
  readonly device: Device;
  /** (Re)creates the optimizer over all trainable parameters; resets its state. */
  setOptimizer(config: OptimizerConfig): void;
  setLearningRate(lr: number): void;
  /**
   * One forward/backward/update on a batch in train mode, computed off the JavaScript thread (the inputs are copied
   * first). images: n×1×48×48 float, labels: n ids 0–6. Other methods throw until the promise settles.
   */
  trainStep(images: Float32Array, labels: Int32Array, options?: TrainStepOptions): Promise<StepResult>;
  /** Logits (n × classes) in eval mode, without gradients, computed off the JavaScript thread. */
  forward(images: Float32Array): Promise<Float32Array>;
  /** All tensors in `tensorLayout(spec)` order (weights and batch-norm running statistics), copied to CPU. */
  getWeights(): Float32Array[];
  /** Sets all tensors, same order and sizes as getWeights; throws on a size mismatch. */
  setWeights(weights: Float32Array[]): void;
  /**
   * Optimizer state (moments, step counts) as opaque bytes, for checkpoints. It carries libtorch's RNG state too, so a
   * run resumed from it draws the same dropout masks as one never interrupted.
   */
  getOptimizerState(): Uint8Array;
  setOptimizerState(state: Uint8Array): void;
  /** Reseeds the generator dropout draws from. */
  manualSeed(seed: number): void;
  /**
   * Makes this network one replica of a data-parallel group, as PyTorch's DistributedDataParallel does: checks that
   * every rank built the same network, copies rank 0's weights and buffers to all, and from then on every trainStep
   * averages the gradients of all ranks (bucketed all-reduce, started during backward) before the optimizer step, and
   * first copies rank 0's batch-norm statistics to every rank. Every rank must call it, and then take the same number
   * of steps.
   */
  joinGroup(group: ProcessGroup): Promise<void>;
  /** Copies rank 0's batch-norm statistics to every rank (before validation); a collective, like joinGroup. */
  syncBuffers(): Promise<void>;
  /** Frees native memory; the object is unusable afterwards. */
  dispose(): void;
}

/** Where a rank finds the group: rank 0 listens on host:port (libtorch's TCPStore) and the others connect to it. */
export interface GroupOptions {
  rank: number;
  worldSize: number;
  host: string;
  port: number;
  /** How long to wait for every rank to join, and for any collective; default 300 000 ms. */
  timeoutMs?: number;
  /** Default gloo; nccl for CUDA tensors (a CUDA libtorch build). */
  backend?: DistributedBackend;
  /** This rank's GPU for nccl, e.g. "cuda:1"; default "cuda:0". */
  device?: string;
}

/** One rank's membership of a c10d process group (Gloo or NCCL over libtorch's TCP rendezvous store). */
export interface ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: DistributedBackend;
  /** Element-wise sums over all ranks. */
  allReduceSum(values: Float64Array): Promise<Float64Array>;
  /** Rank 0's bytes on every rank: rank 0 passes them, the others nothing. */
  broadcast(bytes?: Uint8Array): Promise<Uint8Array>;
  barrier(): Promise<void>;
  /** Leaves the group (closes its connections). */
  destroy(): void;
}

/** A rank lost its group: another rank stopped, or the network between them failed. */
export class GroupError extends MienError {
  override readonly code = 'group_failed';
}

export interface CreateNetworkOptions {
  device?: Device;
  /** The GPU on a multi-GPU host (a group's local rank); default 0. */
  deviceIndex?: number;
  /** Seeds libtorch's RNG (weight init, dropout) for deterministic runs. */
  seed?: number;
  /** Numerics of the native forward and backward; default float32, NCHW. */
  precision?: Partial<Precision>;
}

/** Whether this CPU has any of these instruction-set flags, read from Linux's /proc/cpuinfo; false elsewhere. */
function cpuHasAny(flags: readonly string[]): boolean {
  try {
    return new RegExp(`\\b(${flags.join('|')})\\b`).test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/** Whether this CPU has bfloat16 instructions (AVX-512 BF16 or AMX). */
export const cpuHasBf16 = (): boolean => cpuHasAny(['avx512_bf16', 'amx_bf16']);

/**
 * Why this network cannot train channels-last in float32 here, if it cannot: on a CPU without AVX-512 (measured on an
 * AVX2 EPYC), libtorch 1.13's float32 channels-last convolution backward writes past its buffers when a convolution
 * reads 2 to 7 channels, and the process dies of heap corruption. mien's architectures read 1 or ≥ 16 channels.
 */
function channelsLastRefusal(spec: ModelSpec, precision: Precision): string | undefined {
  if (!precision.channelsLast || precision.bf16 || cpuHasAny(['avx512f'])) return undefined;
  const narrow = tensorLayout(spec).find((t) => t.shape.length === 4 && t.shape[1]! >= 2 && t.shape[1]! < 8);
  return (
    narrow &&
    `float32 channels-last on a CPU without AVX-512 corrupts libtorch's heap when a convolution reads 2–7 channels ` +
      `(${narrow.name} reads ${narrow.shape[1]}): train it in the default layout, or with bf16`
  );
}

/** How the network computes; `npm run bench:train` measures each against float32 NCHW. */
export interface Precision {
  /** bfloat16 convolutions and matrix products under libtorch's CPU autocast; weights and optimizer stay float32. */
  bf16: boolean;
  /** Channels-last (NHWC) weights and activations. */
  channelsLast: boolean;
}

/** Training needs the native addon, and it is missing, failed to load, or lacks what was asked for (CUDA). */
export class EngineUnavailableError extends MienError {
  override name = 'EngineUnavailableError';
  override readonly status = 500;
  override readonly code = 'engine_unavailable';
}

/** The addon's surface (addon/mien_torch.cc); only this file talks to it. */
interface NativeNetwork {
  setOptimizer(type: OptimizerConfig['type'], lr: number, weightDecay: number, momentum: number, beta1: number, beta2: number): void;
  setLearningRate(lr: number): void;
  trainStep(
    images: Float32Array,
    labels: Int32Array,
    softTargets: Float32Array | undefined,
    labelSmoothing: number,
    softWeight: number,
    temperature: number,
    classWeights: Float32Array | undefined,
  ): Promise<StepResult>;
  forward(images: Float32Array): Promise<Float32Array>;
  getWeights(): Float32Array[];
  setWeights(weights: Float32Array[]): void;
  getOptimizerState(): Uint8Array;
  setOptimizerState(state: Uint8Array): void;
  manualSeed(seed: number): void;
  joinGroup?(group: NativeProcessGroup): Promise<void>;
  syncBuffers?(): Promise<void>;
  dispose(): void;
}

interface NativeProcessGroup {
  allReduceSum(values: Float64Array): Promise<Float64Array>;
  broadcast(bytes: Uint8Array | undefined): Promise<Uint8Array>;
  barrier(): Promise<void>;
  destroy(): void;
}

interface NativeAddon {
  /** Takes the normalised spec: the addon reads every field as required and knows no defaults. */
  Network: new (spec: NormalizedSpec, device: string, seed: number | undefined, precision: Precision) => NativeNetwork;
  info(): {
    torchVersion: string;
    builtWithCuda: boolean;
    cudaAvailable: boolean;
    libtorch: string;
    distributedBackends: DistributedBackend[];
  };
  setThreads(n: number): void;
  /** Present when the addon was built with c10d. */
  connectGroup?(options: Required<GroupOptions>): Promise<NativeProcessGroup>;
}

const BUILD_HINT = 'install libtorch (sudo apt-get install -y libtorch-dev), then run `npm run build:addon` in the mien package';

type AddonLoad = { addon: NativeAddon } | { reason: string };

/** Loaded (or failed) once per process: a native module cannot be unloaded and retried. */
let loaded: AddonLoad | undefined;

function loadAddon(): AddonLoad {
  if (loaded) return loaded;
  const file = join(packageRoot(), 'build', 'Release', 'mien_torch.node');
  if (!existsSync(file)) {
    loaded = { reason: `the native training engine is not built (${file} is missing): ${BUILD_HINT}` };
    return loaded;
  }
  // libgomp reads this once, when libtorch loads; its default (spinning idle threads) starves a busy machine.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    loaded = { addon: createRequire(import.meta.url)(file) as NativeAddon };
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    loaded = { reason: `the native training engine failed to load (${why}): ${BUILD_HINT}` };
  }
  return loaded;
}

function requireAddon(): NativeAddon {
  const result = loadAddon();
  if ('reason' in result) throw new EngineUnavailableError(result.reason);
  return result.addon;
}

export function engineInfo(): EngineInfo {
  const result = loadAddon();
  if ('reason' in result) return { available: false, reason: result.reason, cuda: false, distributedBackends: [] };
  const info = result.addon.info();
  return {
    available: true,
    torchVersion: info.torchVersion,
    cuda: info.builtWithCuda && info.cudaAvailable,
    libtorch: info.libtorch,
    distributedBackends: info.distributedBackends,
  };
}

/** How long ranks wait for each other by default: to join, and in any collective. */
export const DEFAULT_GROUP_TIMEOUT_MS = 300_000;

/**
 * Joins (rank 0: opens) a c10d process group; resolves once all `worldSize` ranks have arrived. Throws
 * EngineUnavailableError when the addon lacks the backend, GroupError when the ranks do not all arrive in time.
 */
export async function connectGroup(options: GroupOptions): Promise<ProcessGroup> {
  const addon = requireAddon();
  const backend = options.backend ?? 'gloo';
  const { rank, worldSize, host, port } = options;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`world size must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`rank must be in 0–${worldSize - 1}, got ${rank}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be in 1–65535, got ${port}`);
  const built = addon.info().distributedBackends;
  if (!addon.connectGroup || !built.includes(backend)) {
    const fix =
      backend === 'gloo'
        ? 'install Gloo (sudo apt-get install -y libgloo-dev), then run `npm run build:addon`'
        : 'rebuild against a CUDA libtorch: MIEN_LIBTORCH=/path/to/torch npm run build:addon';
    throw new EngineUnavailableError(
      `this mien build has no ${backend} backend for distributed training (it has: ${built.join(', ') || 'none'}): ${fix}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_GROUP_TIMEOUT_MS;
  let native: NativeProcessGroup;
  try {
    native = await addon.connectGroup({ rank, worldSize, host, port, timeoutMs, backend, device: options.device ?? 'cuda:0' });
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    throw new GroupError(
      rank === 0
        ? `rank 0 could not gather the ${worldSize} ranks on port ${port} within ${timeoutMs / 1000} s (${why})`
        : `rank ${rank} could not join rank 0 at ${host}:${port} within ${timeoutMs / 1000} s (${why})`,
    );
  }
  return new TorchProcessGroup(rank, worldSize, backend, native);
}

/** The message of a collective that failed because a peer went away, naming what to do next. */
const groupFailure = (rank: number, worldSize: number, err: unknown): GroupError =>
  new GroupError(
    `rank ${rank} of ${worldSize} lost its group (${(err as Error).message.split('\n')[0]}): another rank stopped or ` +
      'the connection between them failed; start every rank again with --resume to continue from the last checkpoint',
  );

class TorchProcessGroup implements ProcessGroup {
  constructor(
    readonly rank: number,
    readonly worldSize: number,
    readonly backend: DistributedBackend,
    readonly native: NativeProcessGroup,
  ) {}

  private async guard<T>(operation: Promise<T>): Promise<T> {
    try {
      return await operation;
    } catch (err) {
      throw groupFailure(this.rank, this.worldSize, err);
    }
  }

  allReduceSum(values: Float64Array): Promise<Float64Array> {
    return this.guard(this.native.allReduceSum(values));
  }

  broadcast(bytes?: Uint8Array): Promise<Uint8Array> {
    if (this.rank === 0 && !bytes) throw new Error('rank 0 broadcasts: give it the bytes');
    return this.guard(this.native.broadcast(this.rank === 0 ? bytes : undefined));
  }

  barrier(): Promise<void> {
    return this.guard(this.native.barrier());
  }

  destroy(): void {
    this.native.destroy();
  }
}

/** Threads libtorch uses for intra-op parallelism (default: all cores). */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  requireAddon().setThreads(n);
}

/** Throws EngineUnavailableError (with the install command) when the addon is missing, or a clear error for cuda without CUDA. */
export function createNetwork(spec: ModelSpec, options: CreateNetworkOptions = {}): Network {
  const addon = requireAddon();
  const device = options.device ?? 'cpu';
  if (device === 'cuda') {
    const info = addon.info();
    if (!info.builtWithCuda) {
      throw new EngineUnavailableError(
        `this mien build has no CUDA: its libtorch is ${info.libtorch}; ` +
          'rebuild against a CUDA libtorch with MIEN_LIBTORCH=/path/to/torch npm run build:addon',
      );
    }
    if (!info.cudaAvailable) throw new EngineUnavailableError(`mien was built with CUDA (libtorch ${info.libtorch}) but no GPU is visible`);
  }
  if (options.seed !== undefined && !(Number.isSafeInteger(options.seed) && options.seed >= 0)) {
    throw new RangeError(`seed must be a non-negative integer, got ${options.seed}`);
  }
  const precision: Precision = { bf16: false, channelsLast: false, ...options.precision };
  const refusal = device === 'cpu' ? channelsLastRefusal(spec, precision) : undefined;
  if (refusal) throw new EngineUnavailableError(refusal);
  const nativeDevice = device === 'cuda' && options.deviceIndex ? `cuda:${options.deviceIndex}` : device;
  return new TorchNetwork(spec, device, new addon.Network(normalizeSpec(spec), nativeDevice, options.seed, precision));
}

class TorchNetwork implements Network {
  private group: TorchProcessGroup | undefined;

  constructor(
    readonly spec: ModelSpec,
    readonly device: Device,
    private readonly native: NativeNetwork,
  ) {}

  setOptimizer(config: OptimizerConfig): void {
    const [beta1, beta2] = config.betas ?? [0.9, 0.999];
    this.native.setOptimizer(config.type, config.lr, config.weightDecay ?? 0, config.momentum ?? 0.9, beta1, beta2);
  }

  setLearningRate(lr: number): void {
    this.native.setLearningRate(lr);
  }

  async trainStep(images: Float32Array, labels: Int32Array, options: TrainStepOptions = {}): Promise<StepResult> {
    const { labelSmoothing = 0, softWeight = 1, temperature = 1 } = options;
    if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new RangeError(`labelSmoothing must be in [0, 1), got ${labelSmoothing}`);
    if (!(softWeight >= 0 && softWeight <= 1)) throw new RangeError(`softWeight must be in [0, 1], got ${softWeight}`);
    if (!(temperature > 0)) throw new RangeError(`temperature must be positive, got ${temperature}`);
    const { classWeights } = options;
    if (classWeights && !classWeights.every((w) => w > 0 && Number.isFinite(w)))
      throw new RangeError(`classWeights must be positive numbers, got ${[...classWeights].join(', ')}`);
    const step = this.native.trainStep(images, labels, options.softTargets, labelSmoothing, softWeight, temperature, classWeights);
    if (!this.group) return step;
    try {
      return await step;
    } catch (err) {
      throw groupFailure(this.group.rank, this.group.worldSize, err);
    }
  }

  async forward(images: Float32Array): Promise<Float32Array> {
    return this.native.forward(images);
  }

  getWeights(): Float32Array[] {
    return this.native.getWeights();
  }

  setWeights(weights: Float32Array[]): void {
    this.native.setWeights(weights);
  }

  getOptimizerState(): Uint8Array {
    return this.native.getOptimizerState();
  }

  setOptimizerState(state: Uint8Array): void {
    this.native.setOptimizerState(state);
  }

  manualSeed(seed: number): void {
    if (!(Number.isSafeInteger(seed) && seed >= 0)) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    this.native.manualSeed(seed);
  }

  async joinGroup(group: ProcessGroup): Promise<void> {
    if (!(group instanceof TorchProcessGroup) || !this.native.joinGroup) throw new Error('joinGroup takes a group from connectGroup()');
    try {
      await this.native.joinGroup(group.native);
    } catch (err) {
      // The ranks agree that their networks differ: a mistake in how they were started, not a lost group.
      if (/different networks/.test((err as Error).message)) throw new GroupError((err as Error).message);
      throw groupFailure(group.rank, group.worldSize, err);
    }
    this.group = group;
  }

  async syncBuffers(): Promise<void> {
    if (!this.group || !this.native.syncBuffers) throw new Error('syncBuffers needs joinGroup first');
    try {
      await this.native.syncBuffers();
    } catch (err) {
      throw groupFailure(this.group.rank, this.group.worldSize, err);
    }
  }

  dispose(): void {
    this.native.dispose();
  }
}
