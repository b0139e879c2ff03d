import type { Callback, EpochEnd, TrainContext } from '../callback.js';
import type { PatienceState } from './schedule.js';

/** Stops training once validation accuracy has not improved for `patience` epochs. */
export class EarlyStopping implements Callback {
  readonly name = 'earlyStopping';
  private state: PatienceState = { best: null, wait: 0 };

  constructor(private readonly patience: number) {}

  onEpochEnd(ctx: TrainContext, { record }: EpochEnd): void {
    if (this.state.best === null || record.valAccuracy > this.state.best) {
      this.state = { best: record.valAccuracy, wait: 0 };
      return;
    }
    this.state.wait++;
    if (this.state.wait >= this.patience) ctx.stop(`val accuracy has not improved for ${this.state.wait} epochs (early stopping)`);
  }

  getState(): PatienceState {
    return { ...this.state };
  }

  setState(state: unknown): void {
    this.state = { ...(state as PatienceState) };
  }
}
