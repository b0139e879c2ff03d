import { join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic-write.js';
import type { Callback, EpochEnd, TrainContext } from '../callback.js';
import { saveCheckpoint } from '../checkpoint.js';

/** File names inside a run folder. */
export const RUN_FILES = {
  last: 'last.ckpt',
  best: 'best.ckpt',
  history: 'history.json',
  config: 'config.json',
  bestOnnx: 'best.onnx',
} as const;

/** history.json after every epoch: epoch, lr, train/val loss and accuracy, seconds, images/s. */
export class HistoryWriter implements Callback {
  readonly name = 'history';

  async onEpochEnd(ctx: TrainContext): Promise<void> {
    await writeFileAtomic(join(ctx.outDir, RUN_FILES.history), JSON.stringify(ctx.state.history, null, 2) + '\n');
  }
}

/**
 * config.json at the start; best.ckpt (the validated weights — averaged ones when averaging is on) whenever an epoch
 * is the best so far, and last.ckpt (the trained weights, for resume) after every epoch, both written atomically.
 */
export class ModelCheckpoint implements Callback {
  readonly name = 'checkpoint';

  async onTrainStart(ctx: TrainContext): Promise<void> {
    await writeFileAtomic(join(ctx.outDir, RUN_FILES.config), JSON.stringify({ spec: ctx.spec, config: ctx.config }, null, 2) + '\n');
  }

  async onEpochEnd(ctx: TrainContext, { isBest, validatedWeights }: EpochEnd): Promise<void> {
    const ckpt = ctx.checkpoint();
    // best before last: a crash between the two leaves last.ckpt one epoch behind, which resume simply redoes.
    if (isBest) await saveCheckpoint(join(ctx.outDir, RUN_FILES.best), { ...ckpt, weights: validatedWeights });
    await saveCheckpoint(join(ctx.outDir, RUN_FILES.last), ckpt);
  }
}
