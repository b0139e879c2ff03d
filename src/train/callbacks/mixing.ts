import { FACE_SIZE } from '../../core/labels.js';
import { Rng } from '../../data/random.js';
import type { Batch, Callback, TrainContext } from '../callback.js';

export type MixingMode = 'mixup' | 'cutmix';

/** Keeps the mixing draws apart from the augmentation's and the dropout's, which are seeded by the same run seed. */
const MIXING_STREAM = 0x6d1c5a3b;
/** Batches per epoch are far fewer; the product keeps every (epoch, batch) pair's stream distinct. */
const BATCH_STRIDE = 1 << 20;

/**
 * Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019): every face of a batch is blended with (mixup) or gets a
 * rectangle of (cutmix) another face of the same batch, and its target becomes the two labels in proportion λ, one λ
 * per batch from Beta(α, α). The network is taught to interpolate between expressions rather than to be sure of each
 * training face, which regularises it. The draws depend only on the seed, epoch and batch, so a resumed run mixes
 * exactly as an uninterrupted one; in a data-parallel run the partners come from the same rank's share.
 * The training accuracy the loop reports is then against each face's own label.
 */
export class Mixing implements Callback {
  readonly name = 'mixing';

  constructor(
    private readonly mode: MixingMode,
    private readonly alpha: number,
    private readonly seed: number,
  ) {
    if (!(alpha > 0)) throw new RangeError(`${mode} needs a positive alpha, got ${alpha}`);
  }

  onBatchStart(ctx: TrainContext, batch: Batch): void {
    const rng = Rng.forItem((this.seed ^ MIXING_STREAM) >>> 0, batch.epoch * BATCH_STRIDE + batch.index);
    const n = batch.labels.length;
    const partner = Int32Array.from({ length: n }, (_, i) => i);
    rng.shuffle(partner);
    let lambda = rng.beta(this.alpha, this.alpha);
    const source = batch.images.slice();
    const pixels = FACE_SIZE * FACE_SIZE;
    if (this.mode === 'mixup') {
      for (let i = 0; i < n; i++) {
        const own = i * pixels;
        const other = partner[i]! * pixels;
        for (let p = 0; p < pixels; p++) batch.images[own + p] = lambda * source[own + p]! + (1 - lambda) * source[other + p]!;
      }
    } else {
      // A rectangle of (1 − λ) of the face at a uniform centre, clipped to the face; λ then is what is left uncovered.
      const side = FACE_SIZE * Math.sqrt(1 - lambda);
      const cx = rng.uniform(0, FACE_SIZE);
      const cy = rng.uniform(0, FACE_SIZE);
      const x0 = Math.max(0, Math.round(cx - side / 2));
      const x1 = Math.min(FACE_SIZE, Math.round(cx + side / 2));
      const y0 = Math.max(0, Math.round(cy - side / 2));
      const y1 = Math.min(FACE_SIZE, Math.round(cy + side / 2));
      lambda = 1 - ((x1 - x0) * (y1 - y0)) / pixels;
      for (let i = 0; i < n; i++) {
        for (let y = y0; y < y1; y++) {
          const row = y * FACE_SIZE;
          batch.images.set(source.subarray(partner[i]! * pixels + row + x0, partner[i]! * pixels + row + x1), i * pixels + row + x0);
        }
      }
    }
    const classes = ctx.spec.classes;
    const targets = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) {
      targets[i * classes + batch.labels[i]!]! += lambda;
      targets[i * classes + batch.labels[partner[i]!]!]! += 1 - lambda;
    }
    batch.softTargets = targets;
    batch.softWeight = 1;
    batch.temperature = 1;
  }
}
