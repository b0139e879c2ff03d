/**
 * The detector's input: square windows of the photo, each area-averaged to the model's size and scaled to [-1, 1].
 * Windows are cut from a summed-area table, so shrinking a 1000-px window to 192 px averages every pixel in (no
 * aliasing) and costs the same as shrinking a 200-px one. Windows of one size share the corners of their output
 * pixels when they lie on one grid (the detector places them so): the table is read once per grid corner, not once per
 * corner of every overlapping window's pixels.
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

/** The table of `image`; `reuse` (a table from an earlier call) lends its memory when it is large enough. */
export function summedAreaTable(image: PixelImage, reuse?: SummedAreaTable): SummedAreaTable {
  const { data, width, height } = image;
  const channels = image.channels ?? data.length / (width * height);
  if (![1, 3, 4].includes(channels) || data.length !== width * height * channels) {
    throw new RangeError(`image: ${data.length} bytes do not make a ${width}×${height} image of 1, 3 or 4 channels`);
  }
  const stride = (width + 1) * 3;
  const length = stride * (height + 1);
  const sums = reuse && reuse.sums.length >= length ? reuse.sums.subarray(0, length) : new Float64Array(length);
  sums.fill(0, 0, stride);
  // Gray photos go in as equal R, G and B, which is what the model saw for gray training images.
  const green = channels === 1 ? 0 : 1;
  const blue = channels === 1 ? 0 : 2;
  for (let y = 0; y < height; y++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let p = y * width * channels;
    let above = y * stride;
    let here = above + stride;
    sums[here] = sums[here + 1] = sums[here + 2] = 0;
    for (let x = 0; x < width; x++, p += channels) {
      r += data[p]!;
      g += data[p + green]!;
      b += data[p + blue]!;
      above += 3;
      here += 3;
      sums[here] = sums[above]! + r;
      sums[here + 1] = sums[above + 1]! + g;
      sums[here + 2] = sums[above + 2]! + b;
    }
  }
  return { width, height, sums };
}

/** Where grid lines 0 … count − 1 (at origin + i × step) fall in a table row or column: the entry before each and the fraction past it. */
function gridLines(origin: number, step: number, count: number, limit: number): { index: Int32Array; frac: Float64Array } {
  const index = new Int32Array(count);
  const frac = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const at = Math.min(limit, Math.max(0, origin + i * step));
    const whole = Math.min(Math.floor(at), limit - 1);
    index[i] = whole;
    frac[i] = at - whole;
  }
  return { index, frac };
}

/**
 * Writes each window as size × size × 3 floats (NHWC, RGB, x / 127.5 − 1) into `out`, window i at i × size² × 3.
 * Each value is the mean of the photo over the output pixel's footprint, read from the table with bilinear
 * interpolation at fractional corners, which is exact for a photo seen as constant over each pixel.
 */
export function sampleWindows(table: SummedAreaTable, windows: readonly Window[], size: number, out: Float32Array): void {
  // Windows whose output pixels lie on one grid (same side, origins a whole number of output pixels apart) share it.
  const grids = new Map<string, number[]>();
  windows.forEach((w, i) => {
    const step = w.side / size;
    // Where the origin falls between two grid lines, in millionths of a step (1e6 wraps to 0).
    const phase = (v: number): number => Math.round((v / step - Math.floor(v / step)) * 1e6) % 1e6;
    const key = `${w.side}:${phase(w.x)}:${phase(w.y)}`;
    grids.set(key, [...(grids.get(key) ?? []), i]);
  });
  for (const members of grids.values())
    sampleGrid(
      table,
      members.map((i) => windows[i]!),
      members,
      size,
      out,
    );
}

/** sampleWindows for windows on one grid: the part of the grid they cover is resampled once, then copied out. */
function sampleGrid(table: SummedAreaTable, windows: Window[], slots: number[], size: number, out: Float32Array): void {
  const step = windows[0]!.side / size;
  // Grid line k lies at origin + k × step; each window starts on a whole line.
  const originX = windows[0]!.x;
  const originY = windows[0]!.y;
  const startX = windows.map((w) => Math.round((w.x - originX) / step));
  const startY = windows.map((w) => Math.round((w.y - originY) / step));
  const firstX = Math.min(...startX);
  const firstY = Math.min(...startY);
  const region = {
    x: originX + firstX * step,
    y: originY + firstY * step,
    step,
    width: Math.max(...startX) - firstX + size,
    height: Math.max(...startY) - firstY + size,
  };
  const level = sampleRegion(table, region);
  const rowValues = size * 3;
  windows.forEach((_, w) => {
    const at = slots[w]! * size * rowValues;
    for (let i = 0; i < size; i++) {
      const from = ((startY[w]! - firstY + i) * region.width + startX[w]! - firstX) * 3;
      out.set(level.subarray(from, from + rowValues), at + i * rowValues);
    }
  });
}

/** A rectangle of the photo seen at one scale: `width` × `height` output pixels of `step` × `step` photo pixels from (x, y). */
export interface Region {
  x: number;
  y: number;
  step: number;
  width: number;
  height: number;
}

/**
 * The region as width × height × 3 floats (HWC, RGB, x / 127.5 − 1), each the mean of the photo over the output
 * pixel's footprint; outside the photo is black. The table is interpolated once at every corner of the output pixels.
 */
export function sampleRegion(table: SummedAreaTable, region: Region): Float32Array {
  const { width, height, sums } = table;
  const stride = (width + 1) * 3;
  const { step } = region;
  const cols = region.width + 1;
  const rows = region.height + 1;
  const xs = gridLines(region.x, step, cols, width);
  const ys = gridLines(region.y, step, rows, height);
  // The photo's integral at every corner, 3 channels each.
  const corners = new Float64Array(rows * cols * 3);
  for (let r = 0; r < rows; r++) {
    const top = ys.index[r]! * stride;
    const bottom = top + stride;
    const fy = ys.frac[r]!;
    let o = r * cols * 3;
    for (let c = 0; c < cols; c++, o += 3) {
      const a = top + xs.index[c]! * 3;
      const b = bottom + xs.index[c]! * 3;
      const fx = xs.frac[c]!;
      for (let k = 0; k < 3; k++) {
        const upper = sums[a + k]! + (sums[a + 3 + k]! - sums[a + k]!) * fx;
        const lower = sums[b + k]! + (sums[b + 3 + k]! - sums[b + k]!) * fx;
        corners[o + k] = upper + (lower - upper) * fy;
      }
    }
  }
  // Dividing by the whole footprint (not its part inside the photo) blends the photo's edge with black padding.
  const scale = 1 / (step * step * 127.5);
  const pixels = new Float32Array(region.height * region.width * 3);
  for (let r = 0, o = 0; r < region.height; r++) {
    let top = r * cols * 3;
    let bottom = top + cols * 3;
    for (let j = 0; j < region.width * 3; j++, top++, bottom++)
      pixels[o++] = (corners[bottom + 3]! - corners[bottom]! - corners[top + 3]! + corners[top]!) * scale - 1;
  }
  return pixels;
}

/**
 * `image` shrunk by `factor` (≥ 1) to RGB, each output pixel the mean of the photo under it (area averaging, exact
 * for fractional factors). Memory: the output and two rows of sums, whatever the photo's size.
 */
export function shrinkImage(image: PixelImage, factor: number): PixelImage & { channels: 3 } {
  const { data, width, height } = image;
  const channels = image.channels ?? data.length / (width * height);
  const outWidth = Math.max(1, Math.round(width / factor));
  const outHeight = Math.max(1, Math.round(height / factor));
  const spanX = width / outWidth;
  const spanY = height / outHeight;
  // Gray photos go in as equal R, G and B, as in summedAreaTable.
  const offsets = channels === 1 ? [0, 0, 0] : [0, 1, 2];
  // For output column c: the input columns it covers and how much of each.
  const columns = Array.from({ length: outWidth }, (_, c) => coverage(c * spanX, (c + 1) * spanX, width));
  const row = new Float64Array(outWidth * 3);
  const sums = new Float64Array(outWidth * 3);
  const out = new Uint8Array(outWidth * outHeight * 3);
  const norm = 1 / (spanX * spanY);
  for (let r = 0; r < outHeight; r++) {
    sums.fill(0);
    for (const [y, wy] of coverage(r * spanY, (r + 1) * spanY, height)) {
      row.fill(0);
      const base = y * width * channels;
      columns.forEach((cover, c) => {
        for (const [x, wx] of cover) {
          const p = base + x * channels;
          for (let k = 0; k < 3; k++) row[c * 3 + k]! += wx * data[p + offsets[k]!]!;
        }
      });
      for (let i = 0; i < row.length; i++) sums[i]! += wy * row[i]!;
    }
    for (let i = 0; i < row.length; i++) out[r * outWidth * 3 + i] = Math.round(sums[i]! * norm);
  }
  return { data: out, width: outWidth, height: outHeight, channels: 3 };
}

/** The input pixels [from, to) covers along an axis of `limit` pixels, each with the length of it covered. */
function coverage(from: number, to: number, limit: number): [number, number][] {
  const cover: [number, number][] = [];
  for (let i = Math.floor(from); i < Math.min(Math.ceil(to), limit); i++) cover.push([i, Math.min(to, i + 1) - Math.max(from, i)]);
  return cover;
}
