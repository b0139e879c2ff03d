/**
 * Training-time augmentation of 48×48 gray faces, written straight into the float batch buffer. It runs on every
 * training image, so it works on flat typed arrays with no allocation (a few µs per face; the camera effects —
 * blur, tone curve, JPEG, sensor noise — add some tens of µs when they fire).
 */
import { FACE_PIXELS, FACE_SIZE } from '../core/labels.js';
import { DataError } from './problems.js';
import type { Rng } from './random.js';

/** Every switch is off at 0 / false. */
export interface AugmentOptions {
  /** Largest shift in whole pixels along each axis (the usual pad-and-crop), borders filled by reflection. */
  shift: number;
  /** Mirror left–right with probability 0.5 (expressions are left–right symmetric). */
  flip: boolean;
  /** Largest rotation in degrees, either way. */
  rotate: number;
  /** Largest zoom change as a fraction: 0.1 → 0.9–1.1×. */
  scale: number;
  /** Largest brightness change as a fraction: 0.2 → pixels × 0.8–1.2. */
  brightness: number;
  /** Largest contrast change as a fraction: 0.2 → deviations from the face's mean × 0.8–1.2. */
  contrast: number;
  /** Probability of erasing one random rectangle (2–20 % of the face, aspect 0.3–3.3) with uniform noise. */
  erase: number;
  // Camera effects, so that a model trained on FER2013 crops also copes with webcams, phones and compressed photos.
  // A checkpoint written before they existed has no such keys; augmentFace reads a missing one as 0 (off).
  /**
   * Largest Gaussian blur σ in pixels (low-resolution webcams, soft focus, upscaled small faces): with probability
   * BLUR_PROBABILITY a face is blurred by a σ uniform in (0, blur].
   */
  blur: number;
  /** Largest tone-curve change: pixels x ∈ [0, 1] become x^γ with ln γ uniform in [−gamma, gamma]. */
  gamma: number;
  /** Probability of a baseline-JPEG round trip at a quality uniform in JPEG_QUALITY (20–90). */
  jpeg: number;
  /** Largest sensor noise: additive Gaussian noise with a standard deviation uniform in [0, noise] gray levels (of 255). */
  noise: number;
}

export const NO_AUGMENT: AugmentOptions = {
  shift: 0,
  flip: false,
  rotate: 0,
  scale: 0,
  brightness: 0,
  contrast: 0,
  erase: 0,
  blur: 0,
  gamma: 0,
  jpeg: 0,
  noise: 0,
};

/** Moderate settings that suit FER2013's small, roughly aligned crops. */
export const DEFAULT_AUGMENT: AugmentOptions = {
  ...NO_AUGMENT,
  shift: 4,
  flip: true,
  rotate: 10,
  scale: 0.1,
  brightness: 0.2,
  contrast: 0.2,
  erase: 0.25,
};

/**
 * DEFAULT_AUGMENT plus the camera effects, for models that must also work on faces from other cameras: half the faces
 * JPEG-compressed, some softly blurred, a little sensor noise and a different tone curve.
 */
export const CAMERA_AUGMENT: AugmentOptions = { ...DEFAULT_AUGMENT, blur: 1.2, gamma: 0.3, jpeg: 0.5, noise: 6 };

/**
 * Share of faces that `blur` blurs. Most faces a model meets are reasonably sharp (and FER2013 itself is already
 * soft), so blurring every face would shift the whole training set blurrier and teach the model to ignore fine
 * detail it can use; 0.3 shows it enough soft faces to cope with them while 70 % keep their own sharpness.
 */
export const BLUR_PROBABILITY = 0.3;

/** Qualities (libjpeg's 1–100 scale, both ends included) that `jpeg` compresses at: from very blocky to nearly clean. */
export const JPEG_QUALITY = { min: 20, max: 90 } as const;

type NumericOption = Exclude<keyof AugmentOptions, 'flip'>;

/** Accepted range per numeric option: beyond these a face is more border, black or noise than face. */
const LIMITS: Record<NumericOption, { max: number; integer?: boolean; below?: boolean }> = {
  shift: { max: FACE_SIZE / 2, integer: true },
  rotate: { max: 180 },
  scale: { max: 1, below: true },
  brightness: { max: 1 },
  contrast: { max: 1 },
  erase: { max: 1 },
  blur: { max: 3 },
  gamma: { max: 1 },
  jpeg: { max: 1 },
  noise: { max: 50 },
};

const KEYS = ['shift', 'flip', 'rotate', 'scale', 'brightness', 'contrast', 'erase', 'blur', 'gamma', 'jpeg', 'noise'] as const;

const PRESETS: Record<string, AugmentOptions> = { none: NO_AUGMENT, default: DEFAULT_AUGMENT, camera: CAMERA_AUGMENT };

/**
 * Parses `none`, `default`, `camera`, or a comma list such as `shift=4,flip,rotate=10,scale=0.1,brightness=0.2,
 * contrast=0.2,erase=0.5,blur=1,gamma=0.3,jpeg=0.5,noise=6`; a list may start with `default` or `camera` to change
 * only some settings (`default,erase=0`, `camera,jpeg=0.3`). Keys not given are off. Throws a DataError with a
 * one-line reason for anything else.
 */
export function parseAugment(text: string): AugmentOptions {
  const fail = (why: string): never => {
    throw new DataError(`bad augmentation ${JSON.stringify(text)}: ${why}`);
  };
  const tokens = text.split(',').map((t) => t.trim().toLowerCase());
  const base = Object.hasOwn(PRESETS, tokens[0]!) ? tokens.shift() : undefined;
  const options: AugmentOptions = { ...(base ? PRESETS[base]! : NO_AUGMENT) };
  if (!base && tokens.length === 1 && tokens[0] === '') fail('empty (use "none" for no augmentation)');
  for (const token of tokens) {
    const [key, value, extra] = token.split('=').map((t) => t.trim());
    if (extra !== undefined) fail(`${JSON.stringify(token)} has more than one "="`);
    if (key === 'flip') {
      if (value === undefined || value === 'true' || value === '1') options.flip = true;
      else if (value === 'false' || value === '0') options.flip = false;
      else fail(`flip takes no value, or true/false, got ${JSON.stringify(value)}`);
      continue;
    }
    if (!Object.hasOwn(LIMITS, key!))
      fail(`unknown setting ${JSON.stringify(key)} (known: ${KEYS.join(', ')}, or "none"/"default"/"camera" first)`);
    const name = key as NumericOption;
    const { max, integer, below } = LIMITS[name];
    const n = value === undefined || value === '' ? NaN : Number(value);
    const range = `${integer ? 'an integer ' : ''}from 0 to ${below ? 'below ' : ''}${max}`;
    if (!(n >= 0 && (below ? n < max : n <= max)) || (integer && !Number.isInteger(n))) {
      fail(`${name} must be ${range}, got ${JSON.stringify(value ?? '')}`);
    }
    options[name] = n;
  }
  return options;
}

/** The shortest text parseAugment reads back as the same options: "none", or the switches that are on. */
export function formatAugment(o: AugmentOptions): string {
  const on = KEYS.filter((k) => o[k]).map((k) => (k === 'flip' ? 'flip' : `${k}=${o[k]}`));
  return on.length ? on.join(',') : 'none';
}

const LAST = FACE_SIZE - 1;
const CENTRE = LAST / 2;
const TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);
const INV_255 = 1 / 255;

/** Writes one face as floats in [0, 1] (pixel / 255, the network's input scale) into out at offset. */
export function faceToFloat(src: Uint8Array, out: Float32Array, offset: number): void {
  for (let i = 0; i < FACE_PIXELS; i++) out[offset + i] = TO_UNIT[src[i]!]!;
}

/**
 * Writes one 48×48 face as float [0, 1] into out at offset, augmented with random draws from `rng`: flip, rotation,
 * zoom and shift as ONE affine warp with bilinear sampling (one resampling, not four blurs), brightness and contrast
 * applied in the same pass; then the camera effects in the order a camera applies them, as far as each can be
 * separated: blur (optics, focus, upscaling), the tone curve, JPEG, and noise; then random erasing. With every
 * switch off it equals faceToFloat.
 *
 * Blur comes after brightness and contrast although the lens acts first: blur is linear and they are affine, so the
 * two orders differ only where levels clip. Noise comes after JPEG rather than before it (where sensor noise
 * physically arises) so that its strength is what was asked for: a low-quality JPEG would quantise most of it away,
 * tying `noise` to the JPEG quality drawn. Erasing stays last, as before: it is a regulariser, not a camera effect.
 *
 * Each effect draws from `rng` only when it is on (in the order above, after the geometry and levels draws and
 * before erasing's), so runs without them see exactly the draws, and faces, they did before these effects existed.
 *
 * `clean`, when given, receives at the same offset the face with its geometry alone (the flip, rotation, zoom and
 * shift drawn for `out`; no brightness, contrast, camera effect or erasing): what a distillation teacher sees when it
 * is to judge the face before the camera degraded it. It draws nothing, so `out` is the same with or without it.
 */
export function augmentFace(src: Uint8Array, out: Float32Array, offset: number, o: AugmentOptions, rng: Rng, clean?: Float32Array): void {
  const flip = o.flip && rng.next() < 0.5;
  const angle = o.rotate > 0 ? (rng.uniform(-o.rotate, o.rotate) * Math.PI) / 180 : 0;
  const zoom = o.scale > 0 ? 1 + rng.uniform(-o.scale, o.scale) : 1;
  const dx = o.shift > 0 ? rng.int(2 * o.shift + 1) - o.shift : 0;
  const dy = o.shift > 0 ? rng.int(2 * o.shift + 1) - o.shift : 0;
  const { gain, bias } = o.brightness > 0 || o.contrast > 0 ? jitter(src, o, rng) : IDENTITY;
  const warped = flip || angle !== 0 || zoom !== 1 || dx !== 0 || dy !== 0;
  if (warped) warp(src, out, offset, flip, angle, zoom, dx, dy, gain, bias);
  else if (gain !== IDENTITY.gain) level(src, out, offset, gain, bias);
  else faceToFloat(src, out, offset);
  if (clean && warped) warp(src, clean, offset, flip, angle, zoom, dx, dy, IDENTITY.gain, IDENTITY.bias);
  else if (clean) faceToFloat(src, clean, offset);
  // `> 0` is false for a key that is missing (a checkpoint from before it existed): off, and no draw.
  if (o.blur > 0 && rng.next() < BLUR_PROBABILITY) gaussianBlur(out, offset, o.blur * (1 - rng.next()));
  if (o.gamma > 0) toneCurve(out, offset, Math.exp(rng.uniform(-o.gamma, o.gamma)));
  if (o.jpeg > 0 && rng.next() < o.jpeg) jpegRoundTrip(out, offset, JPEG_QUALITY.min + rng.int(JPEG_QUALITY.max - JPEG_QUALITY.min + 1));
  if (o.noise > 0) addNoise(out, offset, (o.noise * rng.next()) / 255, rng);
  if (o.erase > 0 && rng.next() < o.erase) erase(out, offset, rng);
}

/** The intensity map pixel → gain · pixel + bias (then clamped to [0, 1]) that brightness and contrast reduce to. */
interface Levels {
  gain: number;
  bias: number;
}

const IDENTITY: Levels = { gain: INV_255, bias: 0 };

/**
 * Random brightness and contrast as torchvision's ColorJitter does them: scale by the brightness factor, then scale
 * deviations from the mean by the contrast factor. The mean is the source face's (not the warped one's, which
 * differs only by the reflected border), so both fold into one gain and bias applied while warping.
 */
function jitter(src: Uint8Array, o: AugmentOptions, rng: Rng): Levels {
  const brightness = 1 + (o.brightness > 0 ? rng.uniform(-o.brightness, o.brightness) : 0);
  const contrast = 1 + (o.contrast > 0 ? rng.uniform(-o.contrast, o.contrast) : 0);
  let sum = 0;
  if (contrast !== 1) for (let i = 0; i < FACE_PIXELS; i++) sum += src[i]!;
  const mean = sum / FACE_PIXELS;
  return { gain: brightness * contrast * INV_255, bias: brightness * mean * (1 - contrast) * INV_255 };
}

/** Brightness and contrast alone, without a warp. */
function level(src: Uint8Array, out: Float32Array, offset: number, gain: number, bias: number): void {
  for (let i = 0; i < FACE_PIXELS; i++) {
    const v = src[i]! * gain + bias;
    out[offset + i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/**
 * Samples the source through the inverse of (flip, rotate, zoom about the centre, then shift). Points outside the
 * face read its mirror image (reflect-101, as OpenCV's default border), which continues the face's texture instead
 * of drawing streaks or black corners.
 */
function warp(
  src: Uint8Array,
  out: Float32Array,
  offset: number,
  flip: boolean,
  angle: number,
  zoom: number,
  dx: number,
  dy: number,
  gain: number,
  bias: number,
): void {
  const cos = Math.cos(angle) / zoom;
  const sin = Math.sin(angle) / zoom;
  const mirror = flip ? -1 : 1;
  const stepX = mirror * cos;
  const stepY = -sin;
  const u0 = -CENTRE - dx;
  for (let y = 0; y < FACE_SIZE; y++) {
    const v = y - CENTRE - dy;
    // The source position of (x, y) is linear in x: start at x = 0 and step.
    const sx0 = CENTRE + mirror * (cos * u0 + sin * v);
    const sy0 = CENTRE - sin * u0 + cos * v;
    const row = offset + y * FACE_SIZE;
    // Most of a row samples strictly inside the face, where all four neighbours exist: that stretch gets a loop
    // without reflection or edge tests (the hot path), the rest the general one.
    const [from, to] = insideSpan(sx0, stepX, sy0, stepY);
    for (let x = 0; x < from; x++) {
      const value = sampleReflected(src, sx0 + x * stepX, sy0 + x * stepY) * gain + bias;
      out[row + x] = value < 0 ? 0 : value > 1 ? 1 : value;
    }
    let sx = sx0 + from * stepX;
    let sy = sy0 + from * stepY;
    for (let x = from; x < to; x++, sx += stepX, sy += stepY) {
      const x0 = sx | 0;
      const y0 = sy | 0;
      const fx = sx - x0;
      const top = y0 * FACE_SIZE + x0;
      const upper = src[top]! + fx * (src[top + 1]! - src[top]!);
      const lower = src[top + FACE_SIZE]! + fx * (src[top + FACE_SIZE + 1]! - src[top + FACE_SIZE]!);
      const value = (upper + (sy - y0) * (lower - upper)) * gain + bias;
      out[row + x] = value < 0 ? 0 : value > 1 ? 1 : value;
    }
    for (let x = Math.max(from, to); x < FACE_SIZE; x++) {
      const value = sampleReflected(src, sx0 + x * stepX, sy0 + x * stepY) * gain + bias;
      out[row + x] = value < 0 ? 0 : value > 1 ? 1 : value;
    }
  }
}

/**
 * The x range [from, to) where a + b·x and c + d·x both lie in [0, 47) (so floor + 1 is still a pixel), shrunk a
 * little so rounding can never let a sample past the edge; from = to when there is none.
 */
function insideSpan(a: number, b: number, c: number, d: number): [number, number] {
  const margin = 1e-6;
  let lo = 0;
  let hi = FACE_SIZE;
  for (const [start, step] of [
    [a, b],
    [c, d],
  ] as const) {
    if (Math.abs(step) < 1e-12) {
      if (!(start >= margin && start < LAST - margin)) return [0, 0];
      continue;
    }
    const enter = (margin - start) / step;
    const leave = (LAST - margin - start) / step;
    lo = Math.max(lo, Math.ceil(Math.min(enter, leave) + margin));
    hi = Math.min(hi, Math.floor(Math.max(enter, leave) - margin) + 1);
  }
  return lo < hi ? [lo, hi] : [0, 0];
}

/** Bilinear sample at any position: outside the face it reads the mirror image, at the last row or column it repeats it. */
function sampleReflected(src: Uint8Array, sx: number, sy: number): number {
  const rx = reflectIntoFace(sx);
  const ry = reflectIntoFace(sy);
  const x0 = rx | 0;
  const y0 = ry | 0;
  const fx = rx - x0;
  const top = y0 * FACE_SIZE + x0;
  const right = x0 < LAST ? 1 : 0;
  const below = y0 < LAST ? FACE_SIZE : 0;
  const upper = src[top]! + fx * (src[top + right]! - src[top]!);
  const lower = src[top + below]! + fx * (src[top + below + right]! - src[top + below]!);
  return upper + (ry - y0) * (lower - upper);
}

/**
 * Folds a coordinate into [0, 47] by mirroring about the first and last pixel centres. Samples lie at most a few
 * pixels out, so one or two folds do; this avoids `%`, which costs more than the whole bilinear sample.
 */
export function reflectIntoFace(t: number): number {
  for (;;) {
    if (t < 0) t = -t;
    else if (t > LAST) t = 2 * LAST - t;
    else return t;
  }
}

/**
 * Random erasing (Zhong et al. 2017): one rectangle of 2–20 % of the face with a log-uniform aspect ratio in
 * 0.3–3.3, filled with uniform noise. Its largest side is sqrt(0.2 · 2304 · 3.3) ≈ 39 < 48 px, so it always fits
 * and, unlike the paper's version, needs no retries.
 */
function erase(out: Float32Array, offset: number, rng: Rng): void {
  const area = rng.uniform(0.02, 0.2) * FACE_PIXELS;
  const aspect = Math.exp(rng.uniform(Math.log(0.3), Math.log(3.3)));
  const height = Math.round(Math.sqrt(area * aspect));
  const width = Math.round(Math.sqrt(area / aspect));
  const top = rng.int(FACE_SIZE - height + 1);
  const left = rng.int(FACE_SIZE - width + 1);
  for (let y = top; y < top + height; y++) {
    const row = offset + y * FACE_SIZE;
    for (let x = left; x < left + width; x++) out[row + x] = rng.next();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Camera effects. Each works in place on one face of floats in [0, 1] and keeps it there; scratch space is allocated
// once, at module load, so a face costs no allocation.

/** Largest blur radius in taps: 3σ at blur's largest σ (LIMITS.blur.max = 3). */
const MAX_RADIUS = 9;
const blurTaps = new Float64Array(MAX_RADIUS + 1);
const blurRows = new Float64Array(FACE_PIXELS);
const blurLine = new Float64Array(FACE_SIZE + 2 * MAX_RADIUS);

/**
 * Separable Gaussian blur of standard deviation sigma (≤ 3) px, truncated at 3σ; pixels beyond the edge repeat the
 * edge pixel (clamped). Rows first, then columns, each as a weighted sum of shifted copies of a whole row, so the
 * inner loops run straight along 48 pixels.
 */
export function gaussianBlur(buf: Float32Array, offset: number, sigma: number): void {
  const radius = Math.min(MAX_RADIUS, Math.max(1, Math.ceil(3 * sigma)));
  let total = 1;
  blurTaps[0] = 1;
  for (let k = 1; k <= radius; k++) {
    blurTaps[k] = Math.exp((-k * k) / (2 * sigma * sigma));
    total += 2 * blurTaps[k]!;
  }
  for (let k = 0; k <= radius; k++) blurTaps[k] = blurTaps[k]! / total;
  const w0 = blurTaps[0]!;
  // Rows: copy each into a line padded by `radius` clamped pixels on both sides, then convolve.
  for (let y = 0; y < FACE_SIZE; y++) {
    const row = offset + y * FACE_SIZE;
    const first = buf[row]!;
    const last = buf[row + LAST]!;
    for (let k = 0; k < radius; k++) {
      blurLine[k] = first;
      blurLine[radius + FACE_SIZE + k] = last;
    }
    for (let x = 0; x < FACE_SIZE; x++) blurLine[radius + x] = buf[row + x]!;
    const to = y * FACE_SIZE;
    for (let x = 0; x < FACE_SIZE; x++) blurRows[to + x] = w0 * blurLine[radius + x]!;
    for (let k = 1; k <= radius; k++) {
      const w = blurTaps[k]!;
      const left = radius - k;
      const right = radius + k;
      for (let x = 0; x < FACE_SIZE; x++) blurRows[to + x] += w * (blurLine[left + x]! + blurLine[right + x]!);
    }
  }
  // Columns: output row y is the weighted sum of rows y − radius … y + radius, clamped to the face.
  for (let y = 0; y < FACE_SIZE; y++) {
    const centre = y * FACE_SIZE;
    for (let x = 0; x < FACE_SIZE; x++) blurLine[x] = w0 * blurRows[centre + x]!;
    for (let k = 1; k <= radius; k++) {
      const w = blurTaps[k]!;
      const above = (y - k < 0 ? 0 : y - k) * FACE_SIZE;
      const below = (y + k > LAST ? LAST : y + k) * FACE_SIZE;
      for (let x = 0; x < FACE_SIZE; x++) blurLine[x] += w * (blurRows[above + x]! + blurRows[below + x]!);
    }
    const row = offset + centre;
    for (let x = 0; x < FACE_SIZE; x++) buf[row + x] = blurLine[x]!;
  }
}

/** Segments of the tone curve's lookup table. */
const CURVE_STEPS = 256;
const curve = new Float64Array(CURVE_STEPS + 1);

/**
 * Pixels x ∈ [0, 1] → x^γ, so 0 and 1 stay fixed. Through a 257-entry table of exp(γ · ln x) with linear
 * interpolation, about five times cheaper than exp and log per pixel (and Math.pow costs more still), except in the
 * darkest segment, where x^γ for γ < 1 is too steep to interpolate and the exact power is taken. Elsewhere the
 * interpolation stays within 0.53 gray levels of it (at γ = 1/e, just above the darkest segment; far less elsewhere).
 */
export function toneCurve(buf: Float32Array, offset: number, gamma: number): void {
  curve[0] = 0;
  for (let i = 1; i <= CURVE_STEPS; i++) curve[i] = Math.exp(gamma * Math.log(i / CURVE_STEPS));
  for (let i = offset; i < offset + FACE_PIXELS; i++) {
    const x = buf[i]!;
    const t = x * CURVE_STEPS;
    if (t >= 1) {
      const j = t | 0;
      buf[i] = j >= CURVE_STEPS ? 1 : curve[j]! + (t - j) * (curve[j + 1]! - curve[j]!);
    } else if (x > 0) buf[i] = Math.exp(gamma * Math.log(x));
  }
}

/** The JPEG standard's luminance quantisation table (ITU-T T.81 Annex K.1, quality 50), row = vertical frequency. */
const JPEG_LUMINANCE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22,
  37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/** The quantisation table libjpeg uses at `quality` (1–100): jpeg_quality_scaling, then clamped to 1–255 (baseline). */
export function jpegQuantTable(quality: number): number[] {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return JPEG_LUMINANCE.map((base) => Math.min(255, Math.max(1, Math.floor((base * scale + 50) / 100))));
}

/** DCT_COS[u·8 + x] = c(u)/2 · cos((2x + 1)uπ/16), c(0) = 1/√2, else 1: the orthonormal 8-point DCT-II. */
const DCT_COS = Float64Array.from({ length: 64 }, (_, i) => {
  const u = i >> 3;
  const x = i & 7;
  return (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
});
/** The quantisation tables of every quality in JPEG_QUALITY (and their reciprocals), built once. */
const QUANT = new Float64Array(101 * 64);
const QUANT_INV = new Float64Array(101 * 64);
for (let q = JPEG_QUALITY.min; q <= JPEG_QUALITY.max; q++) {
  jpegQuantTable(q).forEach((v, i) => {
    QUANT[q * 64 + i] = v;
    QUANT_INV[q * 64 + i] = 1 / v;
  });
}
const block = new Float64Array(64);

/**
 * A baseline JPEG encode and decode of the face at `quality` (an integer; JPEG_QUALITY's range is precomputed, others
 * are built on the spot): each of the 6×6 8×8 blocks of 0–255 levels, shifted by −128, goes through the 2-D DCT,
 * is quantised with libjpeg's scaled luminance table and dequantised, transformed back, rounded to whole levels and
 * clamped — the blocking and ringing that a real encoder leaves. (Gray faces have no chroma to subsample, and the
 * entropy coding is lossless, so this is the whole of what a gray baseline JPEG does to the pixels.)
 */
export function jpegRoundTrip(buf: Float32Array, offset: number, quality: number): void {
  let qBase = quality * 64;
  if (!(quality >= JPEG_QUALITY.min && quality <= JPEG_QUALITY.max && Number.isInteger(quality))) {
    // Rare (tests and tools): build the table into slot 0, which no precomputed quality uses.
    jpegQuantTable(quality).forEach((v, i) => {
      QUANT[i] = v;
      QUANT_INV[i] = 1 / v;
    });
    qBase = 0;
  }
  for (let by = 0; by < FACE_SIZE; by += 8) {
    for (let bx = 0; bx < FACE_SIZE; bx += 8) {
      const origin = offset + by * FACE_SIZE + bx;
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 8; x++) block[y * 8 + x] = buf[origin + y * FACE_SIZE + x]! * 255 - 128;
      }
      for (let k = 0; k < 64; k += 8) forward8(block, k, 1); // rows: block[v·8 + u] = horizontal frequency u
      for (let k = 0; k < 8; k++) forward8(block, k, 8); // columns: row v = vertical frequency v
      for (let k = 0; k < 64; k++) block[k] = Math.floor(block[k]! * QUANT_INV[qBase + k]! + 0.5) * QUANT[qBase + k]!;
      for (let k = 0; k < 8; k++) inverse8(block, k, 8);
      for (let k = 0; k < 64; k += 8) inverse8(block, k, 1);
      for (let y = 0; y < 8; y++) {
        const to = origin + y * FACE_SIZE;
        for (let x = 0; x < 8; x++) {
          const level = Math.floor(block[y * 8 + x]! + 128.5);
          buf[to + x] = level <= 0 ? 0 : level >= 255 ? 1 : TO_UNIT[level]!;
        }
      }
    }
  }
}

// The cosines by name for the unrolled transforms, Cui = DCT_COS[u·8 + i], for i < 4 only: C[u][7 − i] = (−1)^u · C[u][i].
const cos = (u: number, i: number): number => DCT_COS[u * 8 + i]!;
const C00 = cos(0, 0);
const C10 = cos(1, 0),
  C11 = cos(1, 1),
  C12 = cos(1, 2),
  C13 = cos(1, 3);
const C20 = cos(2, 0),
  C21 = cos(2, 1),
  C22 = cos(2, 2),
  C23 = cos(2, 3);
const C30 = cos(3, 0),
  C31 = cos(3, 1),
  C32 = cos(3, 2),
  C33 = cos(3, 3);
const C40 = cos(4, 0),
  C41 = cos(4, 1),
  C42 = cos(4, 2),
  C43 = cos(4, 3);
const C50 = cos(5, 0),
  C51 = cos(5, 1),
  C52 = cos(5, 2),
  C53 = cos(5, 3);
const C60 = cos(6, 0),
  C61 = cos(6, 1),
  C62 = cos(6, 2),
  C63 = cos(6, 3);
const C70 = cos(7, 0),
  C71 = cos(7, 1),
  C72 = cos(7, 2),
  C73 = cos(7, 3);

/**
 * In place: a[o], a[o + s], … a[o + 7s] → their orthonormal DCT-II. The even/odd split (even frequencies see only
 * x_i + x_{7−i}, odd ones only x_i − x_{7−i}) halves the multiplies of the plain 8×8 product, to 32.
 */
function forward8(a: Float64Array, o: number, s: number): void {
  const x0 = a[o]!;
  const x1 = a[o + s]!;
  const x2 = a[o + 2 * s]!;
  const x3 = a[o + 3 * s]!;
  const x4 = a[o + 4 * s]!;
  const x5 = a[o + 5 * s]!;
  const x6 = a[o + 6 * s]!;
  const x7 = a[o + 7 * s]!;
  const s0 = x0 + x7;
  const s1 = x1 + x6;
  const s2 = x2 + x5;
  const s3 = x3 + x4;
  const d0 = x0 - x7;
  const d1 = x1 - x6;
  const d2 = x2 - x5;
  const d3 = x3 - x4;
  a[o] = C00 * (s0 + s1 + s2 + s3);
  a[o + s] = C10 * d0 + C11 * d1 + C12 * d2 + C13 * d3;
  a[o + 2 * s] = C20 * s0 + C21 * s1 + C22 * s2 + C23 * s3;
  a[o + 3 * s] = C30 * d0 + C31 * d1 + C32 * d2 + C33 * d3;
  a[o + 4 * s] = C40 * s0 + C41 * s1 + C42 * s2 + C43 * s3;
  a[o + 5 * s] = C50 * d0 + C51 * d1 + C52 * d2 + C53 * d3;
  a[o + 6 * s] = C60 * s0 + C61 * s1 + C62 * s2 + C63 * s3;
  a[o + 7 * s] = C70 * d0 + C71 * d1 + C72 * d2 + C73 * d3;
}

/** In place: 8 DCT coefficients a[o], a[o + s], … → the values they came from (the inverse of forward8, by the same split). */
function inverse8(a: Float64Array, o: number, s: number): void {
  const X1 = a[o + s]!;
  const X2 = a[o + 2 * s]!;
  const X3 = a[o + 3 * s]!;
  const X4 = a[o + 4 * s]!;
  const X5 = a[o + 5 * s]!;
  const X6 = a[o + 6 * s]!;
  const X7 = a[o + 7 * s]!;
  const dc = C00 * a[o]!;
  const e0 = dc + C20 * X2 + C40 * X4 + C60 * X6;
  const e1 = dc + C21 * X2 + C41 * X4 + C61 * X6;
  const e2 = dc + C22 * X2 + C42 * X4 + C62 * X6;
  const e3 = dc + C23 * X2 + C43 * X4 + C63 * X6;
  const d0 = C10 * X1 + C30 * X3 + C50 * X5 + C70 * X7;
  const d1 = C11 * X1 + C31 * X3 + C51 * X5 + C71 * X7;
  const d2 = C12 * X1 + C32 * X3 + C52 * X5 + C72 * X7;
  const d3 = C13 * X1 + C33 * X3 + C53 * X5 + C73 * X7;
  a[o] = e0 + d0;
  a[o + s] = e1 + d1;
  a[o + 2 * s] = e2 + d2;
  a[o + 3 * s] = e3 + d3;
  a[o + 4 * s] = e3 - d3;
  a[o + 5 * s] = e2 - d2;
  a[o + 6 * s] = e1 - d1;
  a[o + 7 * s] = e0 - d0;
}

/** Bits of each half of a 32-bit draw that index the table of normal quantiles. */
const NORMAL_BITS = 16;
let normalQuantiles: Float32Array | undefined;

/**
 * Standard normal quantiles at the midpoints of 2^16 equal-probability bins, scaled to unit variance: a uniform
 * 16-bit index picks a normal sample, so one 32-bit draw gives two without a log, root or cosine (Box–Muller costs
 * several times more per pixel). Tails end at ±4.3σ, which noise augmentation does not miss. Built on first use.
 */
function quantiles(): Float32Array {
  if (normalQuantiles) return normalQuantiles;
  const n = 1 << NORMAL_BITS;
  const table = new Float32Array(n);
  let sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const z = inverseNormal((i + 0.5) / n);
    table[i] = z;
    sumSquares += z * z;
  }
  const unit = Math.sqrt(n / sumSquares);
  for (let i = 0; i < n; i++) table[i]! *= unit;
  return (normalQuantiles = table);
}

/** The standard normal quantile function (Acklam's rational approximation, relative error < 1.2e-9). */
function inverseNormal(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const z =
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
    return p < low ? z : -z;
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** Adds Gaussian noise of standard deviation sigma (in [0, 1] units) to every pixel, clamped to [0, 1]. */
export function addNoise(buf: Float32Array, offset: number, sigma: number, rng: Rng): void {
  if (!(sigma > 0)) return;
  const table = quantiles();
  const mask = (1 << NORMAL_BITS) - 1;
  for (let i = offset; i < offset + FACE_PIXELS; i += 2) {
    const bits = rng.uint32();
    const a = buf[i]! + sigma * table[bits & mask]!;
    const b = buf[i + 1]! + sigma * table[bits >>> NORMAL_BITS]!;
    buf[i] = a < 0 ? 0 : a > 1 ? 1 : a;
    buf[i + 1] = b < 0 ? 0 : b > 1 ? 1 : b;
  }
}
