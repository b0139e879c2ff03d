/**
 * Test-time augmentation: the views of each 48×48 face that the expression model classifies and averages. Pure
 * arithmetic on gray faces, no runtime, so Node and the browser share it.
 */
import { FACE_PIXELS, FACE_SIZE } from '../core/labels.js';
import { reflectIntoFace } from '../data/augment.js';

/**
 * - `mirror`: the face and its mirror image (2 views);
 * - `zoom`: centred crops of 44, 46, 48, 50 and 52 px scaled to 48, each with its mirror image (10 views). The model
 *   was trained on faces scaled by up to ±10 % (the augmentation's `scale=0.1`), so these are faces it knows; on val,
 *   `fast` gains 0.56 points with them against 0.06 with the mirror alone; five shifts of ±2 px (each mirrored) gain
 *   the same within 3 faces, and both together no more (`npm run bench:tta`, docs/training.md).
 */
export const TTA_MODES = ['mirror', 'zoom'] as const;
export type TtaMode = (typeof TTA_MODES)[number];

/**
 * What callers pass: a mode, `true` for the most accurate (`zoom`, what `--tta` does), or `false` (or nothing) for the
 * face alone.
 */
export type TtaOption = boolean | TtaMode;

/** Crop sides of the `zoom` views, in pixels of the 48-px face. */
const ZOOM_CROPS = [48, 44, 46, 50, 52];

export const isTtaMode = (s: unknown): s is TtaMode => (TTA_MODES as readonly unknown[]).includes(s);

/** The mode an option stands for; undefined = no augmentation. */
export function ttaMode(option: TtaOption | undefined): TtaMode | undefined {
  if (option === true) return 'zoom';
  return option || undefined;
}

/** How many views of each face the option classifies. */
export function ttaViewCount(option: TtaOption | undefined): number {
  const mode = ttaMode(option);
  return mode === undefined ? 1 : mode === 'mirror' ? 2 : ZOOM_CROPS.length * 2;
}

/**
 * The views of `faces` (n × 2304 gray values) for the option, as one array of (views × n) faces, view by view: the
 * faces themselves first, so an onnxruntime call classifies every view in one batch.
 */
export function ttaViews(faces: Float32Array, option: TtaOption | undefined): Float32Array {
  const mode = ttaMode(option);
  if (mode === undefined) return faces;
  const crops = mode === 'mirror' ? [FACE_SIZE] : ZOOM_CROPS;
  const out = new Float32Array(faces.length * crops.length * 2);
  crops.forEach((crop, i) => {
    const plain = out.subarray(2 * i * faces.length, (2 * i + 1) * faces.length);
    if (crop === FACE_SIZE) plain.set(faces);
    else zoomFaces(faces, crop, plain);
    mirrorFaces(plain, out.subarray((2 * i + 1) * faces.length, (2 * i + 2) * faces.length));
  });
  return out;
}

/** Each face mirrored left–right, into `out`. */
function mirrorFaces(faces: Float32Array, out: Float32Array): void {
  for (let row = 0; row < faces.length; row += FACE_SIZE) {
    for (let x = 0; x < FACE_SIZE; x++) out[row + x] = faces[row + FACE_SIZE - 1 - x]!;
  }
}

/**
 * Each face's centred `crop` × `crop` square scaled to 48 × 48 (bilinear, pixel centres aligned), into `out`; a crop
 * larger than the face reads its mirror image beyond the edge, as the training augmentation's zoom-out does.
 */
function zoomFaces(faces: Float32Array, crop: number, out: Float32Array): void {
  const ratio = crop / FACE_SIZE;
  const offset = (FACE_SIZE - crop) / 2;
  // The source coordinates and weights are the same for every face and for x and y.
  const lo = new Int32Array(FACE_SIZE);
  const hi = new Int32Array(FACE_SIZE);
  const weight = new Float32Array(FACE_SIZE);
  for (let i = 0; i < FACE_SIZE; i++) {
    const s = reflectIntoFace(offset + (i + 0.5) * ratio - 0.5);
    lo[i] = Math.floor(s);
    hi[i] = Math.min(FACE_SIZE - 1, lo[i]! + 1);
    weight[i] = s - lo[i]!;
  }
  for (let face = 0; face < faces.length; face += FACE_PIXELS) {
    for (let y = 0; y < FACE_SIZE; y++) {
      const top = face + lo[y]! * FACE_SIZE;
      const bottom = face + hi[y]! * FACE_SIZE;
      const wy = weight[y]!;
      for (let x = 0; x < FACE_SIZE; x++) {
        const x0 = lo[x]!;
        const x1 = hi[x]!;
        const wx = weight[x]!;
        const upper = faces[top + x0]! + wx * (faces[top + x1]! - faces[top + x0]!);
        const lower = faces[bottom + x0]! + wx * (faces[bottom + x1]! - faces[bottom + x0]!);
        out[face + y * FACE_SIZE + x] = upper + wy * (lower - upper);
      }
    }
  }
}
