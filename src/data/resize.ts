/**
 * Area-averaging resize of a gray image (OpenCV INTER_AREA for shrinking): each output pixel is the mean of the source
 * pixels under its footprint, weighted by how much of each pixel the footprint covers. Unlike bilinear sampling it
 * never skips source pixels, so shrinking a large photo to 48×48 keeps the detail averaged in instead of aliased.
 * The same rule is used for enlarging (then a footprint covers one or two source pixels), which keeps one exact
 * definition; an input already at the output size comes back unchanged.
 */
export function resizeArea(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  if (src.length !== width * height) throw new RangeError(`resizeArea: ${src.length} pixels is not ${width}×${height}`);
  if (width === outWidth && height === outHeight) return src.slice();
  // The weights factor into a horizontal and a vertical part, so two 1-D passes give the exact 2-D result.
  const cols = coverage(width, outWidth);
  const rows = coverage(height, outHeight);
  const across = new Float64Array(height * outWidth);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < outWidth; x++) {
      const { first, weights } = cols[x]!;
      let sum = 0;
      for (let k = 0; k < weights.length; k++) sum += weights[k]! * src[row + first + k]!;
      across[y * outWidth + x] = sum;
    }
  }
  const out = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const { first, weights } = rows[y]!;
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (let k = 0; k < weights.length; k++) sum += weights[k]! * across[(first + k) * outWidth + x]!;
      out[y * outWidth + x] = Math.min(255, Math.max(0, Math.round(sum)));
    }
  }
  return out;
}

interface Footprint {
  /** First source pixel the output pixel overlaps. */
  first: number;
  /** Share of the output pixel covered by each overlapped source pixel, summing to 1. */
  weights: Float64Array;
}

/** For each of `outSize` output pixels along one axis, which of `size` source pixels it covers and by how much. */
function coverage(size: number, outSize: number): Footprint[] {
  const step = size / outSize;
  return Array.from({ length: outSize }, (_, i) => {
    const start = i * step;
    const end = (i + 1) * step;
    const first = Math.floor(start);
    const last = Math.min(size - 1, Math.ceil(end) - 1);
    const weights = new Float64Array(last - first + 1);
    for (let j = first; j <= last; j++) weights[j - first] = (Math.min(end, j + 1) - Math.max(start, j)) / step;
    return { first, weights };
  });
}
