import { FACE_SIZE } from '../labels.js';
import { datasetSize, faceAt, type FaceDataset } from './dataset.js';

/**
 * Normalised 1-D Gaussian taps for standard deviation `sigma` pixels, radius ⌈3σ⌉. The same taps are used by
 * blurFace and by the blur the ONNX exporter puts in front of a network, so the two agree.
 */
export function gaussianTaps(sigma: number): Float32Array {
  if (!(sigma > 0)) throw new RangeError(`blur sigma must be > 0, got ${sigma}`);
  const radius = Math.ceil(3 * sigma);
  const taps = Float32Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

/** One separable pass along x (step 1) or y (step FACE_SIZE), edges clamped (ONNX Pad mode "edge"). */
function blurPass(src: Float32Array, dst: Float32Array, taps: Float32Array, alongX: boolean): void {
  const radius = taps.length >> 1;
  for (let y = 0; y < FACE_SIZE; y++) {
    for (let x = 0; x < FACE_SIZE; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) {
        const xx = alongX ? Math.min(FACE_SIZE - 1, Math.max(0, x + k)) : x;
        const yy = alongX ? y : Math.min(FACE_SIZE - 1, Math.max(0, y + k));
        acc += taps[k + radius]! * src[yy * FACE_SIZE + xx]!;
      }
      dst[y * FACE_SIZE + x] = acc;
    }
  }
}

/** A 48×48 gray face blurred by a Gaussian of `sigma` pixels (edges clamped), rounded back to 0–255. */
export function blurFace(face: Uint8Array, sigma: number): Uint8Array {
  const taps = gaussianTaps(sigma);
  const a = Float32Array.from(face);
  const b = new Float32Array(a.length);
  blurPass(a, b, taps, true);
  blurPass(b, a, taps, false);
  return Uint8Array.from(a, (v) => Math.round(v));
}

/** Every face of a dataset blurred by `sigma` (labels and ids shared with the input). */
export function blurDataset(d: FaceDataset, sigma: number): FaceDataset {
  const images = new Uint8Array(d.images.length);
  for (let i = 0; i < datasetSize(d); i++) images.set(blurFace(faceAt(d, i), sigma), i * FACE_SIZE * FACE_SIZE);
  return { ...d, images };
}
