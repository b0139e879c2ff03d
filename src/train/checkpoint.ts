/**
 * Training checkpoints: one self-describing binary file holding the architecture, the run's configuration, the
 * trainer's state (epoch, history, callback state, RNG), every weight tensor and the optimizer's moments — all a
 * resumed run needs, so resuming never depends on a second file that might be older or newer.
 *
 * Layout: "MIENCKPT" | u32 version | u32 header bytes | header JSON | f32 tensors (tensorLayout order) | optimizer bytes |
 * SHA-256 of everything before it. Version 1 files (no checksum) are still read.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-write.js';
import { MienError } from '../core/errors.js';
import { tensorLayout, tensorSize, type ModelSpec, type TensorInfo } from '../models/spec.js';
import type { EpochRecord, TrainConfig } from './config.js';

const MAGIC = 'MIENCKPT';
const VERSION = 2;
/** The first version with the checksum trailer. */
const CHECKSUM_VERSION = 2;
const CHECKSUM_BYTES = 32;

export interface TrainerState {
  /** Epochs finished (the next epoch to run is epoch + 1, 1-based). */
  epoch: number;
  lr: number;
  history: EpochRecord[];
  bestValAccuracy: number;
  bestEpoch: number;
  /** Serialised state of each callback, by callback name. */
  callbacks: Record<string, unknown>;
  /** State of the data RNG (shuffling and augmentation). */
  rng: number[];
  /** True once the run ended (all epochs or early stop); resuming a finished run does nothing. */
  finished: boolean;
}

export interface Checkpoint {
  spec: ModelSpec;
  config: TrainConfig;
  state: TrainerState;
  weights: Float32Array[];
  optimizer: Uint8Array;
  savedAt: string;
}

interface Header {
  spec: ModelSpec;
  config: TrainConfig;
  state: TrainerState;
  optimizerBytes: number;
  savedAt: string;
}

/** A checkpoint file that cannot be read or does not fit the run (another architecture, a torn file). */
export class CheckpointError extends MienError {}

/** The name of the first tensor holding NaN or ±Infinity, if any does; `weights` are in `layout` order. */
function firstNonFiniteTensor(layout: readonly TensorInfo[], weights: readonly Float32Array[]): string | undefined {
  const index = weights.findIndex((w) => !w.every(Number.isFinite));
  return index < 0 ? undefined : layout[index]!.name;
}

export async function saveCheckpoint(path: string, ckpt: Omit<Checkpoint, 'savedAt'>): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(ckpt, `refusing to write ${path}`));
}

/** A checkpoint file's bytes, in parts; `what` begins the message when the weights are not finite. */
export function encodeCheckpoint(ckpt: Omit<Checkpoint, 'savedAt'>, what = 'refusing to save the checkpoint'): Uint8Array[] {
  const layout = tensorLayout(ckpt.spec);
  if (layout.length !== ckpt.weights.length)
    throw new CheckpointError(`checkpoint: ${ckpt.weights.length} tensors, the architecture has ${layout.length}`);
  // A diverged network must never replace the last good checkpoint: resume would only carry on from garbage.
  const nonFinite = firstNonFiniteTensor(layout, ckpt.weights);
  if (nonFinite) throw new CheckpointError(`${what}: tensor ${nonFinite} holds NaN or Infinity (the run diverged)`);
  const header: Header = {
    spec: ckpt.spec,
    config: ckpt.config,
    state: ckpt.state,
    optimizerBytes: ckpt.optimizer.byteLength,
    savedAt: new Date().toISOString(),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(16);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(VERSION, 8);
  prefix.writeUInt32LE(json.byteLength, 12);
  const tensors = ckpt.weights.map((w) => new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  const body = [prefix, json, ...tensors, ckpt.optimizer];
  const checksum = body.reduce((hash, part) => hash.update(part), createHash('sha256')).digest();
  return [...body, checksum];
}

/** Reads a checkpoint, verifying its checksum (version 2 on) and that every weight is finite. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return decodeCheckpoint(file, path);
}

/** The checkpoint in a file's bytes (as encodeCheckpoint made them); `path` names them in errors. */
export function decodeCheckpoint(file: Buffer, path = 'the checkpoint'): Checkpoint {
  if (file.byteLength < 16 || file.toString('ascii', 0, 8) !== MAGIC) throw new CheckpointError(`${path} is not a mien checkpoint`);
  const version = file.readUInt32LE(8);
  if (version < 1 || version > VERSION)
    throw new CheckpointError(`${path}: checkpoint version ${version}, this mien reads versions 1 to ${VERSION}`);
  let bytes = file;
  if (version >= CHECKSUM_VERSION) {
    bytes = file.subarray(0, Math.max(16, file.byteLength - CHECKSUM_BYTES));
    const stored = file.subarray(bytes.byteLength);
    if (stored.byteLength !== CHECKSUM_BYTES || !createHash('sha256').update(bytes).digest().equals(stored))
      throw new CheckpointError(`${path} is damaged: its SHA-256 checksum does not match its contents`);
  }
  const headerBytes = bytes.readUInt32LE(12);
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', 16, 16 + headerBytes)) as Header;
  } catch {
    throw new CheckpointError(`${path}: checkpoint header is damaged`);
  }
  const layout = tensorLayout(header.spec);
  const floats = layout.reduce((n, t) => n + tensorSize(t), 0);
  let offset = 16 + headerBytes;
  if (bytes.byteLength !== offset + floats * 4 + header.optimizerBytes)
    throw new CheckpointError(`${path}: checkpoint is truncated or damaged`);
  // Copy into fresh, aligned buffers: the file buffer's offsets need not be multiples of 4.
  const weights = layout.map((t) => {
    const n = tensorSize(t);
    const w = new Float32Array(n);
    new Uint8Array(w.buffer).set(bytes.subarray(offset, offset + n * 4));
    offset += n * 4;
    return w;
  });
  const nonFinite = firstNonFiniteTensor(layout, weights);
  if (nonFinite)
    throw new CheckpointError(`${path} holds non-finite weights (NaN or Infinity in ${nonFinite}): it was saved from a diverged run`);
  const optimizer = new Uint8Array(bytes.subarray(offset, offset + header.optimizerBytes));
  return { spec: header.spec, config: header.config, state: header.state, weights, optimizer, savedAt: header.savedAt };
}
