import type { Callback, EpochEnd, TrainContext } from '../callback.js';

/**
 * The best figure so far and the epochs since it, for callbacks that wait out a plateau. `best` is null until the first
 * epoch (not ±Infinity, which JSON — and so a checkpoint — cannot hold).
 */
export interface PatienceState {
  best: number | null;
  wait: number;
}

/** Multiplies the learning rate by `factor` once validation loss has not improved for `patience` epochs. */
export class ReduceLrOnPlateau implements Callback {
  readonly name = 'reduceLrOnPlateau';
  private state: PatienceState = { best: null, wait: 0 };

  constructor(
    private readonly factor: number,
    private readonly patience: number,
    private readonly minLr: number,
    /** Relative improvement below which a new loss does not count as better (as Keras' min_delta, relative). */
    private readonly minDelta = 1e-4,
  ) {}

  onEpochEnd(ctx: TrainContext, { record }: EpochEnd): void {
    if (this.state.best === null || record.valLoss < this.state.best * (1 - this.minDelta)) {
      this.state = { best: record.valLoss, wait: 0 };
      return;
    }
    this.state.wait++;
    if (this.state.wait >= this.patience && ctx.state.lr > this.minLr) {
      const lr = Math.max(this.minLr, ctx.state.lr * this.factor);
      ctx.setLearningRate(lr);
      ctx.log(`val loss has not improved for ${this.state.wait} epochs: learning rate → ${lr.toExponential(2)}`);
      this.state.wait = 0;
    }
  }

  getState(): PatienceState {
    return { ...this.state };
  }

  setState(state: unknown): void {
    this.state = { ...(state as PatienceState) };
  }
}

/**
 * Linear warm-up over the first `warmupEpochs`, then (schedule "cosine") a half-cosine from the base rate down to
 * `minLr` at the last step of the run, set before every batch. With schedule "plateau" only the warm-up is applied
 * and the plateau callback owns the rate afterwards. The rate is a function of the step alone, so resume needs no state.
 */
export class LrSchedule implements Callback {
  readonly name = 'lrSchedule';

  constructor(
    private readonly kind: 'plateau' | 'cosine',
    private readonly baseLr: number,
    private readonly minLr: number,
    private readonly warmupEpochs: number,
  ) {}

  /** The rate for optimizer step `step` (0-based) of a run of `totalSteps`. */
  rateAt(step: number, stepsPerEpoch: number, totalSteps: number): number | undefined {
    const warmup = Math.round(this.warmupEpochs * stepsPerEpoch);
    // Warm-up starts at base/warmup, not 0: a zero step wastes a batch.
    if (step < warmup) return (this.baseLr * (step + 1)) / warmup;
    if (this.kind === 'plateau') return step === warmup ? this.baseLr : undefined;
    const progress = Math.min(1, (step - warmup) / Math.max(1, totalSteps - warmup - 1));
    return this.minLr + (this.baseLr - this.minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  }

  onBatchStart(ctx: TrainContext): void {
    const lr = this.rateAt(ctx.step, ctx.batchesPerEpoch, ctx.config.epochs * ctx.batchesPerEpoch);
    if (lr !== undefined && lr !== ctx.state.lr) ctx.setLearningRate(lr);
  }
}
