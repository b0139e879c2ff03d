/**
 * The detector's input: square windows of the photo, each area-averaged to the model's size and scaled to [-1, 1].
 * Windows are cut from a summed-area table, so shrinking a 1000-px window to 192 px averages every pixel in (no
 * aliasing) and costs the same as shrinking a 200-px one.
 */
import type { PixelImage } from './haar-image.js';

/** A square region of the photo in photo pixels; it may reach outside the photo, whose outside reads as black. */
export interface Window {
  x: number;
  y: number;
  side: number;
}

/** Per-channel integrals of an RGB view of the photo: entry (x, y) sums the pixels above and left of (x, y). */
export interface SummedAreaTable {
  width: number;
  height: number;
  /** (width + 1) × (height + 1) × 3, interleaved like the pixels. */
  sums: Float64Array;
}

export function summedAreaTable(image: PixelImage): SummedAreaTable {
  const { data, width, height } = image;
  const channels = image.channels ?? data.length / (width * height);
  if (![1, 3, 4].includes(channels) || data.length !== width * height * channels) {
    throw new RangeError(`image: ${data.length} bytes do not make a ${width}×${height} image of 1, 3 or 4 channels`);
  }
  const stride = (width + 1) * 3;
  const sums = new Float64Array(stride * (height + 1));
  const row = new Float64Array(3);
  for (let y = 0; y < height; y++) {
    row.fill(0);
    const above = y * stride;
    const here = above + stride;
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * channels;
      // Gray photos go in as equal R, G and B, which is what the model saw for gray training images.
      for (let c = 0; c < 3; c++) {
        row[c]! += data[p + (channels === 1 ? 0 : c)]!;
        sums[here + (x + 1) * 3 + c] = sums[above + (x + 1) * 3 + c]! + row[c]!;
      }
    }
  }
  return { width, height, sums };
}

/** Where output pixel i of a window spans along one axis: from `start` to `end`, clamped to the photo, in photo pixels. */
function footprints(origin: number, side: number, size: number, limit: number): { start: Float64Array; end: Float64Array } {
  const start = new Float64Array(size);
  const end = new Float64Array(size);
  const step = side / size;
  for (let i = 0; i < size; i++) {
    start[i] = Math.min(limit, Math.max(0, origin + i * step));
    end[i] = Math.min(limit, Math.max(0, origin + (i + 1) * step));
  }
  return { start, end };
}

/**
 * Writes `window` as size × size × 3 floats (NHWC, RGB, x / 127.5 − 1) into `out` at `offset`. Each value is the mean
 * of the photo over the output pixel's footprint, read from the table with bilinear interpolation at fractional
 * corners, which is exact for a photo seen as constant over each pixel.
 */
export function sampleWindow(table: SummedAreaTable, window: Window, size: number, out: Float32Array, offset: number): void {
  const { width, height, sums } = table;
  const stride = (width + 1) * 3;
  const cols = footprints(window.x, window.side, size, width);
  const rows = footprints(window.y, window.side, size, height);
  const area = (window.side / size) ** 2;
  const corner = new Float64Array(12);
  // Integral at fractional (x, y) for the three channels, into corner[at..at+3].
  const integral = (x: number, y: number, at: number): void => {
    const x0 = Math.min(Math.floor(x), width - 1);
    const y0 = Math.min(Math.floor(y), height - 1);
    const fx = x - x0;
    const fy = y - y0;
    const a = y0 * stride + x0 * 3;
    const b = a + stride;
    for (let c = 0; c < 3; c++) {
      const top = sums[a + c]! + (sums[a + 3 + c]! - sums[a + c]!) * fx;
      const bottom = sums[b + c]! + (sums[b + 3 + c]! - sums[b + c]!) * fx;
      corner[at + c] = top + (bottom - top) * fy;
    }
  };
  let o = offset;
  for (let i = 0; i < size; i++) {
    const y0 = rows.start[i]!;
    const y1 = rows.end[i]!;
    for (let j = 0; j < size; j++) {
      const x0 = cols.start[j]!;
      const x1 = cols.end[j]!;
      if (x1 <= x0 || y1 <= y0) {
        out.fill(-1, o, o + 3);
        o += 3;
        continue;
      }
      integral(x0, y0, 0);
      integral(x1, y0, 3);
      integral(x0, y1, 6);
      integral(x1, y1, 9);
      // Dividing by the whole footprint (not its part inside the photo) blends the photo's edge with black padding.
      for (let c = 0; c < 3; c++) out[o++] = (corner[9 + c]! - corner[6 + c]! - corner[3 + c]! + corner[c]!) / area / 127.5 - 1;
    }
  }
}
