import { FACE_PIXELS } from '../core/labels.js';
import { faceToFloat } from './augment.js';

/** A set of 48×48 gray faces held in memory: 2304 bytes per face, about 74 MB for all of FER2013. */
export interface FaceDataset {
  /** size × 48 × 48 gray pixels, row-major, 0–255. */
  images: Uint8Array;
  /** FER2013 label id 0–6 per face, or -1 where the source has no label (Kaggle test.csv). */
  labels: Int8Array;
  /** Per face: the CSV id column or row number, or the image path; used to write predictions and reports. */
  ids: string[];
}

export const datasetSize = (d: FaceDataset): number => d.labels.length;

/** The face at index i as a view (no copy). */
export const faceAt = (d: FaceDataset, i: number): Uint8Array => d.images.subarray(i * FACE_PIXELS, (i + 1) * FACE_PIXELS);

/** A new dataset holding the faces at the given indices, in that order. */
export function subset(d: FaceDataset, indices: ArrayLike<number>): FaceDataset {
  const images = new Uint8Array(indices.length * FACE_PIXELS);
  const labels = new Int8Array(indices.length);
  const ids: string[] = new Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    images.set(faceAt(d, i), k * FACE_PIXELS);
    labels[k] = d.labels[i]!;
    ids[k] = d.ids[i]!;
  }
  return { images, labels, ids };
}

/** `count` faces spread evenly over `d` (every class and every part of the file, not just its start). */
export function spreadSubset(d: FaceDataset, count: number): FaceDataset {
  const n = datasetSize(d);
  const picked = Math.min(n, count);
  return subset(
    d,
    Array.from({ length: picked }, (_, i) => Math.floor(((i + 0.5) * n) / picked)),
  );
}

/** Faces per label id (index 0–6); unlabelled faces are not counted. */
export function classCounts(d: FaceDataset, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const l of d.labels) if (l >= 0) counts[l]!++;
  return counts;
}

/** Faces start…end as the network takes them: n × 1 × 48 × 48 floats in [0, 1]. */
export function facesToInput(d: FaceDataset, start: number, end: number): Float32Array {
  const input = new Float32Array((end - start) * FACE_PIXELS);
  for (let i = start; i < end; i++) faceToFloat(faceAt(d, i), input, (i - start) * FACE_PIXELS);
  return input;
}
