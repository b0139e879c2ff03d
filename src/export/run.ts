import { join } from 'node:path';
import type { Callback, TrainContext } from '../train/callback.js';
import { validatedWeights } from '../train/callbacks/ema.js';
import { RUN_FILES } from '../train/callbacks/run-files.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { bestCheckpointOf } from '../train/run-folder.js';

/**
 * Writes the ONNX of a run's best checkpoint — or of the checkpoint file given, e.g. `runs/x/last.ckpt` — with the
 * run's provenance in its metadata. The weights are the ones validated at that epoch (the average, with --ema).
 *
 * @example
 * ```ts
 * import { exportRun, loadExpressionModel } from 'mien-fer';
 * await exportRun('runs/mienet-s', 'mienet-s.onnx'); // the run's best checkpoint
 * const model = await loadExpressionModel('mienet-s.onnx'); // ready for createRecognizer({ model: 'mienet-s.onnx' })
 * ```
 */
export async function exportRun(run: string, outPath: string): Promise<void> {
  const checkpoint = await loadCheckpoint(bestCheckpointOf(run));
  const { config, state } = checkpoint;
  const record = state.history.find((r) => r.epoch === state.epoch);
  // Loaded here, not with the package: onnx-proto takes ~140 ms to load, and most imports of mien never export.
  const { writeOnnx } = await import('./onnx.js');
  await writeOnnx(outPath, checkpoint.spec, validatedWeights(checkpoint), {
    'mien.training_data': config.data + (config.val ? ` (val: ${config.val})` : ''),
    'mien.training_date': checkpoint.savedAt,
    'mien.training_recipe': JSON.stringify({ ...config, data: undefined, val: undefined }),
    'mien.epoch': String(state.epoch),
    ...(record ? { 'mien.val_accuracy': record.valAccuracy.toFixed(4) } : {}),
    // The curves travel with the model, so an evaluation report can show how it was trained.
    'mien.history': JSON.stringify(state.history),
  });
}

/** The last step of a run: its best checkpoint as `best.onnx` in the run folder. */
export class OnnxExport implements Callback {
  readonly name = 'onnxExport';

  async onTrainEnd(ctx: TrainContext): Promise<void> {
    await exportRun(ctx.outDir, join(ctx.outDir, RUN_FILES.bestOnnx));
  }
}
