import type { Callback, TrainContext } from '../callback.js';
import type { Checkpoint } from '../checkpoint.js';

export interface EmaState {
  updates: number;
  /** Averaged tensors, base64 of their float32 bytes (the checkpoint header is JSON). */
  weights: string[];
}

const toBase64 = (w: Float32Array): string => Buffer.from(w.buffer, w.byteOffset, w.byteLength).toString('base64');
function fromBase64(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/**
 * Exponential moving average of the weights (and batch-norm statistics), updated after every step; validation, the
 * best checkpoint and the export use the average. The decay ramps up as min(decay, (1 + t) / (10 + t)) so the average
 * is not dominated by the random initial weights early on (as in timm's ModelEma).
 */
export class WeightAverage implements Callback {
  static readonly callbackName = 'ema';
  readonly name = WeightAverage.callbackName;
  private average: Float32Array[] | undefined;
  private updates = 0;
  private trained: Float32Array[] | undefined;

  constructor(private readonly decay: number) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`EMA decay must be in (0, 1), got ${decay}`);
  }

  onBatchEnd(ctx: TrainContext): void {
    const current = ctx.net.getWeights();
    if (!this.average) {
      this.average = current;
      this.updates = 1;
      return;
    }
    const d = Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
    this.updates++;
    for (let t = 0; t < current.length; t++) {
      const avg = this.average[t]!;
      const w = current[t]!;
      for (let i = 0; i < avg.length; i++) avg[i] = d * avg[i]! + (1 - d) * w[i]!;
    }
  }

  onValidationStart(ctx: TrainContext): void {
    if (!this.average) return;
    this.trained = ctx.net.getWeights();
    ctx.net.setWeights(this.average);
  }

  onValidationEnd(ctx: TrainContext): void {
    if (this.trained) ctx.net.setWeights(this.trained);
    this.trained = undefined;
  }

  getState(): EmaState | undefined {
    return this.average && { updates: this.updates, weights: this.average.map(toBase64) };
  }

  setState(state: unknown): void {
    const s = state as EmaState;
    this.updates = s.updates;
    this.average = s.weights.map(fromBase64);
  }
}

/**
 * The weights validated at a checkpoint's epoch: with --ema the average (best.ckpt holds it as its weights; last.ckpt
 * holds the trained weights for resuming and the average in this callback's state), else the trained ones.
 */
export function validatedWeights(checkpoint: Checkpoint): Float32Array[] {
  const state = checkpoint.state.callbacks[WeightAverage.callbackName] as EmaState | undefined;
  return state ? state.weights.map(fromBase64) : checkpoint.weights;
}
