import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { softmaxRows } from '../../core/tensor.js';
import type { Batch, Callback } from '../callback.js';
import { loadCheckpoint } from '../checkpoint.js';
import { createNetwork, type Device, type Network } from '../engine.js';
import { RUN_FILES } from './run-files.js';

/**
 * Knowledge distillation (Hinton et al. 2015): every batch, the teachers (trained mien runs) see the same augmented
 * faces, their probabilities at `temperature` are averaged (an ensemble teacher), and the loss becomes
 * (1 − weight) · CE(labels) + weight · T² · CE(student / T, teacher / T).
 */
export class Distillation implements Callback {
  readonly name = 'distillation';

  private constructor(
    private readonly teachers: Network[],
    private readonly temperature: number,
    private readonly weight: number,
  ) {}

  /** `sources`: run folders (their best.ckpt) or checkpoint files. */
  static async load(sources: readonly string[], temperature: number, weight: number, device: Device): Promise<Distillation> {
    const teachers: Network[] = [];
    try {
      for (const source of sources) {
        const file = existsSync(source) && statSync(source).isDirectory() ? join(source, RUN_FILES.best) : source;
        const ckpt = await loadCheckpoint(file);
        const teacher = createNetwork(ckpt.spec, { device });
        teachers.push(teacher);
        teacher.setWeights(ckpt.weights);
      }
    } catch (err) {
      for (const t of teachers) t.dispose();
      throw err;
    }
    return new Distillation(teachers, temperature, weight);
  }

  async onBatchStart(_ctx: unknown, batch: Batch): Promise<void> {
    const classes = this.teachers[0]!.spec.classes;
    const soft = new Float32Array(batch.labels.length * classes);
    for (const teacher of this.teachers) {
      const probabilities = softmaxRows(await teacher.forward(batch.images), classes, this.temperature);
      for (let i = 0; i < soft.length; i++) soft[i]! += probabilities[i]! / this.teachers.length;
    }
    batch.softTargets = soft;
    batch.softWeight = this.weight;
    batch.temperature = this.temperature;
  }

  dispose(): void {
    for (const t of this.teachers) t.dispose();
  }
}
