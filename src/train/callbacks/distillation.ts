import { readFile } from 'node:fs/promises';
import { MienError } from '../../core/errors.js';
import { FACE_PIXELS, FACE_SIZE } from '../../core/labels.js';
import { INPUT_NAME, LOGITS_NAME } from '../../core/model-format.js';
import { nodeSessionOptions } from '../../core/onnx-runtime.js';
import { softmaxRows } from '../../core/tensor.js';
import type { Batch, Callback } from '../callback.js';
import { loadCheckpoint } from '../checkpoint.js';
import { createNetwork, type Device } from '../engine.js';
import { validatedWeights } from './ema.js';
import { bestCheckpointOf } from '../run-folder.js';

/** A teacher that cannot be used: an .onnx file that onnxruntime cannot load or that has no `logits` output. */
export class TeacherError extends MienError {
  override name = 'TeacherError';
}

/**
 * What a teacher sees of each training face: the student's augmented face, or the same face with its geometry alone
 * (flip, rotation, zoom, shift) — its soft targets then say what the face shows, not what survives of it after the
 * camera effects the student is being taught to see through.
 */
export const TEACHER_VIEWS = ['augmented', 'clean'] as const;
export type TeacherView = (typeof TEACHER_VIEWS)[number];

/** What the student learns from: a trained network's logits (n × classes) for a batch of n × 1 × 48 × 48 faces. */
interface Teacher {
  logits(images: Float32Array): Promise<Float32Array>;
  dispose(): void | Promise<void>;
}

/** A mien run's network in libtorch, from a run folder (its best.ckpt) or a checkpoint file. */
async function checkpointTeacher(source: string, device: Device): Promise<Teacher> {
  const ckpt = await loadCheckpoint(bestCheckpointOf(source));
  const network = createNetwork(ckpt.spec, { device });
  try {
    network.setWeights(validatedWeights(ckpt));
  } catch (err) {
    network.dispose();
    throw err;
  }
  return { logits: (images) => network.forward(images), dispose: () => network.dispose() };
}

/**
 * An exported mien model in onnxruntime-node: a shipped model (`models/accurate-fp32.onnx`) outlives the run folder it
 * came from, so a student can be distilled from it on any machine. Its raw `logits` are read: the distillation
 * temperature replaces the calibration temperature in its metadata.
 */
async function onnxTeacher(file: string, threads: number): Promise<Teacher> {
  const ort = await import('onnxruntime-node');
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(await readFile(file), nodeSessionOptions(threads));
  } catch (err) {
    throw new TeacherError(`teacher ${file}: onnxruntime cannot load it (${(err as Error).message.split('\n')[0]})`);
  }
  if (!session.inputNames.includes(INPUT_NAME) || !session.outputNames.includes(LOGITS_NAME)) {
    await session.release();
    throw new TeacherError(
      `teacher ${file} is not a mien expression model: it needs an '${INPUT_NAME}' input and a '${LOGITS_NAME}' output`,
    );
  }
  return {
    async logits(images) {
      const input = new ort.Tensor('float32', images, [images.length / FACE_PIXELS, 1, FACE_SIZE, FACE_SIZE]);
      return (await session.run({ [INPUT_NAME]: input }, [LOGITS_NAME]))[LOGITS_NAME]!.data as Float32Array;
    },
    dispose: () => session.release(),
  };
}

/**
 * Knowledge distillation (Hinton et al. 2015): every batch, the teachers see the same faces as the student (or their
 * clean views, see TeacherView), their probabilities at `temperature` are averaged (an ensemble teacher), and the loss
 * becomes (1 − weight) · CE(labels) + weight · T² · CE(student / T, teacher / T).
 */
export class Distillation implements Callback {
  readonly name = 'distillation';

  private constructor(
    private readonly teachers: Teacher[],
    private readonly temperature: number,
    private readonly weight: number,
    private readonly view: TeacherView,
  ) {}

  /**
   * `sources`: mien runs (a run folder, whose best.ckpt is used, or a .ckpt file) or exported models (.onnx files,
   * run on `threads` onnxruntime threads; 0 = onnxruntime's default).
   */
  static async load(
    sources: readonly string[],
    { temperature, weight, view = 'augmented' }: { temperature: number; weight: number; view?: TeacherView },
    { device, threads }: { device: Device; threads: number },
  ): Promise<Distillation> {
    const teachers: Teacher[] = [];
    try {
      for (const source of sources) {
        teachers.push(source.endsWith('.onnx') ? await onnxTeacher(source, threads) : await checkpointTeacher(source, device));
      }
    } catch (err) {
      await Promise.all(teachers.map((t) => t.dispose()));
      throw err;
    }
    return new Distillation(teachers, temperature, weight, view);
  }

  async onBatchStart(_ctx: unknown, batch: Batch): Promise<void> {
    const images = this.view === 'clean' ? batch.cleanImages : batch.images;
    if (!images) throw new Error('distillation: the teachers are to see clean faces, but the batch has none');
    let soft: Float32Array | undefined;
    for (const teacher of this.teachers) {
      const logits = await teacher.logits(images);
      const probabilities = softmaxRows(logits, logits.length / batch.labels.length, this.temperature);
      soft ??= new Float32Array(probabilities.length);
      for (let i = 0; i < soft.length; i++) soft[i]! += probabilities[i]! / this.teachers.length;
    }
    batch.softTargets = soft;
    batch.softWeight = this.weight;
    batch.temperature = this.temperature;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.teachers.map((t) => t.dispose()));
  }
}
