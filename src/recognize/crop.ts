import type { Box, Point } from '../core/geometry.js';
import { FACE_SIZE } from '../core/labels.js';
import type { RgbImage } from './image.js';

/** The subject's eyes: `right` is the subject's right eye, on the left of an unmirrored photo. */
export interface Eyes {
  right: Point;
  left: Point;
}

/**
 * How a detected face box becomes the square crop the expression model sees: the square's side is the box's larger
 * side × `scale`, its centre the box centre moved down by `shiftY` × side, turned by the head's roll (the eye line's
 * angle) less `levelBeyond` degrees. FER2013 faces are tight (brows to chin), so the right values depend on the
 * detector's box and are found by measurement.
 */
export interface Framing {
  scale: number;
  shiftY: number;
  /**
   * Roll, in degrees, the crop keeps: a face tilted up to this much is cropped as it is, one tilted further is turned
   * back to this much. 0 levels every face, 180 none. (FER2013's own faces keep their roll, about ±12°.)
   */
  levelBeyond: number;
}

/** Most samples per output pixel along each axis: beyond 4 × 4 bilinear samples, more change the average little. */
const MAX_SUPERSAMPLING = 4;

/**
 * The 48×48 gray face (0–255) for a detected box: when eye positions are known, turned so the eye line's tilt is at
 * most `framing.levelBeyond`; framed as the model was trained; then area-averaged down to 48×48 like the training
 * faces: each output pixel is the mean of k × k bilinear samples spread over its footprint, k the face's size over 48
 * rounded up (at most MAX_SUPERSAMPLING). Pixels outside the image are black, as in the training data's padded faces.
 */
export function cropFace(image: RgbImage, box: Box, framing: Framing, eyes?: Eyes): Uint8Array {
  const { side, cx, cy, cos, sin, region } = cropGeometry(box, framing, eyes);
  const { x: left, y: top } = region;
  const k = Math.max(1, Math.min(MAX_SUPERSAMPLING, Math.ceil(side / FACE_SIZE - 1e-9)));
  const n = FACE_SIZE * k;
  const step = side / n;
  const gray = grayRegion(image, left, top, region.width, region.height);
  const stride = gray.width;
  const sums = new Float64Array(FACE_SIZE * FACE_SIZE);
  for (let v = 0; v < n; v++) {
    const dy = (v + 0.5) * step - side / 2;
    const dx = 0.5 * step - side / 2;
    // position in the region (pixel centres at +0.5), the crop's axes rotated by the eye-line angle
    let x = cx + dx * cos - dy * sin - 0.5 - left;
    let y = cy + dx * sin + dy * cos - 0.5 - top;
    const row = ((v / k) | 0) * FACE_SIZE;
    for (let u = 0; u < n; u++, x += step * cos, y += step * sin) {
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const i = y0 * stride + x0;
      const upper = gray.data[i]! + (gray.data[i + 1]! - gray.data[i]!) * fx;
      const lower = gray.data[i + stride]! + (gray.data[i + stride + 1]! - gray.data[i + stride]!) * fx;
      sums[row + ((u / k) | 0)]! += upper + (lower - upper) * fy;
    }
  }
  const face = new Uint8Array(FACE_SIZE * FACE_SIZE);
  for (let p = 0; p < face.length; p++) face[p] = Math.round(sums[p]! / (k * k));
  return face;
}

/**
 * The pixels `cropFace` reads for this face: a whole-pixel box around the rotated crop square (which may reach beyond
 * the image). A caller that has only part of a frame in memory needs this part of it, and gets the same crop from it.
 */
export function cropRegion(box: Box, framing: Framing, eyes?: Eyes): Box {
  return cropGeometry(box, framing, eyes).region;
}

/** The crop square's side, centre and rotation, and the region holding it with a margin of one pixel for bilinear taps. */
function cropGeometry(box: Box, framing: Framing, eyes?: Eyes) {
  const side = Math.max(box.width, box.height) * framing.scale;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2 + framing.shiftY * side;
  const angle = eyes ? cropTurn(Math.atan2(eyes.left.y - eyes.right.y, eyes.left.x - eyes.right.x), framing.levelBeyond) : 0;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const reach = (side / 2) * (Math.abs(cos) + Math.abs(sin)) + 1;
  const left = Math.floor(cx - reach) - 1;
  const top = Math.floor(cy - reach) - 1;
  const region = { x: left, y: top, width: Math.ceil(cx + reach) + 2 - left, height: Math.ceil(cy + reach) + 2 - top };
  return { side, cx, cy, cos, sin, region };
}

/** How far (radians) the crop turns for eyes at `roll`: not at all within ±levelBeyond degrees, by the excess beyond. */
function cropTurn(roll: number, levelBeyond: number): number {
  const kept = (levelBeyond * Math.PI) / 180;
  return Math.abs(roll) <= kept ? 0 : roll - Math.sign(roll) * kept;
}

/**
 * The image's gray values (ITU-R BT.601 luma, as OpenCV's cvtColor(BGR2GRAY) that made the grayscale FER data sets)
 * in a width × height region from (left, top); outside the image is 0.
 */
function grayRegion(image: RgbImage, left: number, top: number, width: number, height: number): { data: Float32Array; width: number } {
  const data = new Float32Array(width * height);
  const x0 = Math.max(0, left);
  const x1 = Math.min(image.width, left + width);
  for (let y = Math.max(0, top); y < Math.min(image.height, top + height); y++) {
    let o = (y - top) * width + x0 - left;
    for (let i = (y * image.width + x0) * 3, end = (y * image.width + x1) * 3; i < end; i += 3) {
      data[o++] = 0.299 * image.data[i]! + 0.587 * image.data[i + 1]! + 0.114 * image.data[i + 2]!;
    }
  }
  return { data, width };
}
