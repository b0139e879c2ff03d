import type { EpochRecord } from './config.js';

/** What a callback may change at the end of an epoch. */
export interface TrainingControl {
  readonly lr: number;
  setLearningRate(lr: number): void;
  stop(reason: string): void;
  /** One line for the log (e.g. "reducing lr to 2.5e-4"). */
  log(message: string): void;
}

/**
 * Hooks into the training loop. Callbacks that keep state across epochs expose it through getState/setState so
 * that a resumed run behaves exactly like an uninterrupted one.
 */
export interface Callback {
  readonly name: string;
  onEpochEnd(record: EpochRecord, control: TrainingControl): void | Promise<void>;
  getState?(): unknown;
  setState?(state: unknown): void;
}

/** `best` is null until the first epoch (not ±Infinity, which JSON — and so a checkpoint — cannot hold). */
interface PlateauState {
  best: number | null;
  wait: number;
}

/** Multiplies the learning rate by `factor` once validation loss has not improved for `patience` epochs. */
export class ReduceLrOnPlateau implements Callback {
  readonly name = 'reduceLrOnPlateau';
  private state: PlateauState = { best: null, wait: 0 };

  constructor(
    private readonly factor: number,
    private readonly patience: number,
    private readonly minLr: number,
    /** Relative improvement below which a new loss does not count as better (as Keras' min_delta, relative). */
    private readonly minDelta = 1e-4,
  ) {}

  onEpochEnd(record: EpochRecord, control: TrainingControl): void {
    if (this.state.best === null || record.valLoss < this.state.best * (1 - this.minDelta)) {
      this.state = { best: record.valLoss, wait: 0 };
      return;
    }
    this.state.wait++;
    if (this.state.wait >= this.patience && control.lr > this.minLr) {
      const lr = Math.max(this.minLr, control.lr * this.factor);
      control.setLearningRate(lr);
      control.log(`val loss has not improved for ${this.state.wait} epochs: learning rate → ${lr.toExponential(2)}`);
      this.state.wait = 0;
    }
  }

  getState(): PlateauState {
    return { ...this.state };
  }

  setState(state: unknown): void {
    this.state = { ...(state as PlateauState) };
  }
}

/** Stops training once validation accuracy has not improved for `patience` epochs. */
export class EarlyStopping implements Callback {
  readonly name = 'earlyStopping';
  private state: PlateauState = { best: null, wait: 0 };

  constructor(private readonly patience: number) {}

  onEpochEnd(record: EpochRecord, control: TrainingControl): void {
    if (this.state.best === null || record.valAccuracy > this.state.best) {
      this.state = { best: record.valAccuracy, wait: 0 };
      return;
    }
    this.state.wait++;
    if (this.state.wait >= this.patience) control.stop(`val accuracy has not improved for ${this.state.wait} epochs (early stopping)`);
  }

  getState(): PlateauState {
    return { ...this.state };
  }

  setState(state: unknown): void {
    this.state = { ...(state as PlateauState) };
  }
}
