/**
 * What the Haar evaluator reads, made exactly as OpenCV's CascadeClassifier makes it: the gray image
 * (cvtColor BGR2GRAY's fixed-point weights), each pyramid level (resize INTER_LINEAR_EXACT) and its integral images
 * (cv::integral). Matching OpenCV bit for bit here is what makes the detections match OpenCV's.
 */

/** A gray, RGB or RGBA image, row-major, 8 bits per channel. */
export interface PixelImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** Inferred from the data length when left out. */
  channels?: 1 | 3 | 4;
}

// OpenCV's BT.601 luma weights in 14-bit fixed point (they sum to 1 << 14).
const R_WEIGHT = 4899;
const G_WEIGHT = 9617;
const B_WEIGHT = 1868;

/** The image as 8-bit gray; RGB(A) is weighted as OpenCV weighs it, alpha is ignored. */
export function toGray(image: PixelImage, out: Uint8Array): void {
  const { data, width, height } = image;
  const pixels = width * height;
  const channels = image.channels ?? data.length / pixels;
  if (channels === 1) {
    out.set(data.subarray(0, pixels));
    return;
  }
  for (let i = 0, j = 0; i < pixels; i++, j += channels) {
    out[i] = (data[j]! * R_WEIGHT + data[j + 1]! * G_WEIGHT + data[j + 2]! * B_WEIGHT + (1 << 13)) >> 14;
  }
}

/** Where each output pixel reads along one axis: two source indices and the second one's weight in 1/256. */
interface LinearTaps {
  first: Int32Array;
  second: Int32Array;
  weight: Int32Array;
}

function linearTaps(size: number, outSize: number): LinearTaps {
  const scale = size / outSize;
  const first = new Int32Array(outSize);
  const second = new Int32Array(outSize);
  const weight = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    const at = (i + 0.5) * scale - 0.5;
    const index = Math.floor(at);
    if (index < 0 || size === 1) {
      // Before the first pixel centre (or a 1-pixel source): the edge pixel, unmixed.
      first[i] = second[i] = 0;
    } else if (index >= size - 1) {
      first[i] = second[i] = size - 1;
    } else {
      first[i] = index;
      second[i] = index + 1;
      weight[i] = Math.round((at - index) * 256);
    }
  }
  return { first, second, weight };
}

/**
 * Bilinear resize as OpenCV's INTER_LINEAR_EXACT: pixel centres aligned, weights rounded to 1/256 on each axis, the
 * 16-bit fraction rounded once at the end. Cheap for the pyramid: each output pixel reads four source pixels.
 * `row0`/`row1` hold one horizontally interpolated row each (outWidth entries).
 */
export function resizeBilinear(
  src: Uint8Array,
  width: number,
  height: number,
  out: Uint8Array,
  outWidth: number,
  outHeight: number,
  row0: Int32Array,
  row1: Int32Array,
): void {
  if (outWidth === width && outHeight === height) {
    out.set(src.subarray(0, width * height));
    return;
  }
  const cols = linearTaps(width, outWidth);
  const rows = linearTaps(height, outHeight);
  const interpolateRow = (y: number, into: Int32Array) => {
    const base = y * width;
    for (let x = 0; x < outWidth; x++) {
      const w = cols.weight[x]!;
      into[x] = src[base + cols.first[x]!]! * (256 - w) + src[base + cols.second[x]!]! * w;
    }
  };
  let row0Source = -1;
  let row1Source = -1;
  for (let y = 0; y < outHeight; y++) {
    const top = rows.first[y]!;
    const bottom = rows.second[y]!;
    // Consecutive output rows mostly share source rows when enlarging; when shrinking they rarely do, so this only
    // saves the work where it repeats.
    if (row0Source !== top) {
      if (row1Source === top) row0.set(row1.subarray(0, outWidth));
      else interpolateRow(top, row0);
      row0Source = top;
    }
    if (row1Source !== bottom) {
      interpolateRow(bottom, row1);
      row1Source = bottom;
    }
    const w = rows.weight[y]!;
    const base = y * outWidth;
    for (let x = 0; x < outWidth; x++) out[base + x] = (row0[x]! * (256 - w) + row1[x]! * w + (1 << 15)) >> 16;
  }
}

/**
 * cv::integral of a gray image: `sum[(y+1)·stride + x+1]` is the sum of the pixels above and left of (x+1, y+1),
 * with a zero first row and column; `squares` the same of the squared pixels. Rows are `stride` entries apart so that
 * all pyramid levels share one buffer and one set of feature offsets. The sums are kept modulo 2³² as OpenCV's 32-bit
 * ones are: a rectangle's sum, `(a - b - c + d) | 0`, is exact whatever the image size.
 */
export function integralImages(
  src: Uint8Array,
  width: number,
  height: number,
  stride: number,
  sum: Int32Array,
  squares: Float64Array,
): void {
  sum.fill(0, 0, width + 1);
  squares.fill(0, 0, width + 1);
  for (let y = 0; y < height; y++) {
    const above = y * stride;
    const here = above + stride;
    sum[here] = 0;
    squares[here] = 0;
    let rowSum = 0;
    let rowSquares = 0;
    const srcRow = y * width;
    for (let x = 0; x < width; x++) {
      const v = src[srcRow + x]!;
      rowSum += v;
      rowSquares += v * v;
      sum[here + x + 1] = sum[above + x + 1]! + rowSum;
      squares[here + x + 1] = squares[above + x + 1]! + rowSquares;
    }
  }
}

/**
 * cv::integral's tilted (45°) sum: `tilted[Y·stride + X]` is the sum of pixel (x, y) over y < Y and
 * |x − X + 1| ≤ Y − y − 1, a triangle with its apex at (X−1, Y−1) opening upwards. Built with Lienhart's recurrence
 * T(X,Y) = T(X−1,Y−1) + T(X+1,Y−1) − T(X,Y−2) + I(X−1,Y−1) + I(X−1,Y−2) on rows padded by height+1 columns on both
 * sides, where the triangles leave the image and T is zero. `scratch` holds 3·(width + 2·height + 3) entries.
 */
export function tiltedIntegral(
  src: Uint8Array,
  width: number,
  height: number,
  stride: number,
  tilted: Int32Array,
  scratch: Float64Array,
): void {
  const pad = height + 1;
  const span = width + 2 * pad + 1;
  let older = scratch.subarray(0, span); // row Y−2
  let previous = scratch.subarray(span, 2 * span); // row Y−1
  let current = scratch.subarray(2 * span, 3 * span);
  older.fill(0);
  previous.fill(0);
  current.fill(0);
  tilted.fill(0, 0, width + 1);
  const pixel = (x: number, y: number) => (x >= 0 && x < width && y >= 0 ? src[y * width + x]! : 0);
  for (let y = 1; y <= height; y++) {
    // Padded index p is column X = p − pad; the first and last stay zero.
    for (let p = 1; p < span - 1; p++) {
      const x = p - pad;
      current[p] = previous[p - 1]! + previous[p + 1]! - older[p]! + pixel(x - 1, y - 1) + pixel(x - 1, y - 2);
    }
    const row = y * stride;
    for (let x = 0; x <= width; x++) tilted[row + x] = current[x + pad]!;
    [older, previous, current] = [previous, current, older];
  }
}
