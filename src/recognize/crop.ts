import { resizeArea } from '../data/resize.js';
import { FACE_SIZE } from '../labels.js';
import type { RgbImage } from './image.js';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Intersection over union of two boxes: 0 when apart, 1 when identical. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const intersection = w * h;
  return intersection / (a.width * a.height + b.width * b.height - intersection);
}

export interface Point {
  x: number;
  y: number;
}

/** The subject's eyes: `right` is the subject's right eye, on the left of an unmirrored photo. */
export interface Eyes {
  right: Point;
  left: Point;
}

/**
 * How a detected face box becomes the square crop the expression model sees: the square's side is the box's larger
 * side × `scale`, its centre the box centre moved down by `shiftY` × side. FER2013 faces are tight (brows to chin),
 * so the right values depend on the detector's box and are found by measurement.
 */
export interface Framing {
  scale: number;
  shiftY: number;
}

/** Largest side sampled at full resolution before the area-averaging resize; bigger faces are sampled at this size. */
const MAX_SAMPLE_SIDE = 512;

/**
 * The 48×48 gray face (0–255) for a detected box: rotated so the eyes are level when eye positions are known,
 * framed as the model was trained, sampled bilinearly, then area-averaged down to 48×48 like the training faces.
 * Pixels outside the image are black, as in the training data's padded faces.
 */
export function cropFace(image: RgbImage, box: Box, framing: Framing, eyes?: Eyes): Uint8Array {
  const side = Math.max(box.width, box.height) * framing.scale;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2 + framing.shiftY * side;
  const angle = eyes ? Math.atan2(eyes.left.y - eyes.right.y, eyes.left.x - eyes.right.x) : 0;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const n = Math.max(FACE_SIZE, Math.min(MAX_SAMPLE_SIDE, Math.round(side)));
  const step = side / n;
  const sampled = new Uint8Array(n * n);
  const { data, width, height } = image;
  for (let v = 0; v < n; v++) {
    const dy = (v + 0.5) * step - side / 2;
    for (let u = 0; u < n; u++) {
      const dx = (u + 0.5) * step - side / 2;
      // position in the image (pixel centres at +0.5), the crop's axes rotated by the eye-line angle
      const x = cx + dx * cos - dy * sin - 0.5;
      const y = cy + dx * sin + dy * cos - 0.5;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      let gray = 0;
      for (let k = 0; k < 4; k++) {
        const px = x0 + (k & 1);
        const py = y0 + (k >> 1);
        if (px < 0 || py < 0 || px >= width || py >= height) continue;
        const w = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
        const i = (py * width + px) * 3;
        // ITU-R BT.601 luma, as OpenCV's cvtColor(BGR2GRAY) that made the grayscale FER data sets
        gray += w * (0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!);
      }
      sampled[v * n + u] = Math.round(gray);
    }
  }
  return n === FACE_SIZE ? sampled : resizeArea(sampled, n, n, FACE_SIZE, FACE_SIZE);
}
