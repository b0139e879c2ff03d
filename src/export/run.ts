import { join } from 'node:path';
import type { Callback, TrainContext } from '../train/callback.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { RUN_FILES } from '../train/callbacks/run-files.js';

/**
 * Writes the ONNX of a run's best checkpoint, with the run's provenance in its metadata.
 *
 * @example
 * ```ts
 * import { exportRun, loadExpressionModel } from 'mien-fer';
 * await exportRun('runs/mienet-s', 'mienet-s.onnx'); // the run's best checkpoint
 * const model = await loadExpressionModel('mienet-s.onnx'); // ready for createRecognizer({ model: 'mienet-s.onnx' })
 * ```
 */
export async function exportRun(runDir: string, outPath: string): Promise<void> {
  const best = await loadCheckpoint(join(runDir, RUN_FILES.best));
  const record = best.state.history.find((r) => r.epoch === best.state.bestEpoch);
  // Loaded here, not with the package: onnx-proto takes ~140 ms to load, and most imports of mien never export.
  const { writeOnnx } = await import('./onnx.js');
  await writeOnnx(outPath, best.spec, best.weights, {
    'mien.training_data': best.config.data + (best.config.val ? ` (val: ${best.config.val})` : ''),
    'mien.training_date': best.savedAt,
    'mien.training_recipe': JSON.stringify({ ...best.config, data: undefined, val: undefined }),
    'mien.epoch': String(best.state.bestEpoch),
    ...(record ? { 'mien.val_accuracy': record.valAccuracy.toFixed(4) } : {}),
    // The curves travel with the model, so an evaluation report can show how it was trained.
    'mien.history': JSON.stringify(best.state.history),
  });
}

/** The last step of a run: its best checkpoint as `best.onnx` in the run folder. */
export class OnnxExport implements Callback {
  readonly name = 'onnxExport';

  async onTrainEnd(ctx: TrainContext): Promise<void> {
    await exportRun(ctx.outDir, join(ctx.outDir, RUN_FILES.bestOnnx));
  }
}
