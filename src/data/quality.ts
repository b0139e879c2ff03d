import { FACE_SIZE } from '../core/labels.js';
import { datasetSize, faceAt, type FaceDataset } from './dataset.js';

/**
 * Mean absolute Laplacian of a 48×48 face: near 0 for a blurred face, tens for a sharp one. Splits of one data set
 * should be alike; a training split far blurrier than its validation split teaches a model faces it will never see.
 */
export function faceSharpness(face: Uint8Array): number {
  let sum = 0;
  for (let y = 1; y < FACE_SIZE - 1; y++) {
    for (let x = 1; x < FACE_SIZE - 1; x++) {
      const i = y * FACE_SIZE + x;
      sum += Math.abs(4 * face[i]! - face[i - 1]! - face[i + 1]! - face[i - FACE_SIZE]! - face[i + FACE_SIZE]!);
    }
  }
  return sum / (FACE_SIZE - 2) ** 2;
}

/** Median face sharpness of a dataset (NaN when empty). */
export function medianSharpness(d: FaceDataset): number {
  const n = datasetSize(d);
  const values = Float64Array.from({ length: n }, (_, i) => faceSharpness(faceAt(d, i))).sort();
  return n === 0 ? NaN : n % 2 ? values[n >> 1]! : (values[n / 2 - 1]! + values[n / 2]!) / 2;
}

/** How many times blurrier one split may be than another before `mien data stats` warns. */
export const SHARPNESS_RATIO_WARNING = 3;
