/**
 * Training-time augmentation of 48×48 gray faces, written straight into the float batch buffer. It runs on every
 * training image, so it works on flat typed arrays with no allocation (a few µs per face).
 */
import { FACE_PIXELS, FACE_SIZE } from '../labels.js';
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
}

export const NO_AUGMENT: AugmentOptions = { shift: 0, flip: false, rotate: 0, scale: 0, brightness: 0, contrast: 0, erase: 0 };

/** Moderate settings that suit FER2013's small, roughly aligned crops. */
export const DEFAULT_AUGMENT: AugmentOptions = { shift: 4, flip: true, rotate: 10, scale: 0.1, brightness: 0.2, contrast: 0.2, erase: 0.25 };

type NumericOption = Exclude<keyof AugmentOptions, 'flip'>;

/** Accepted range per numeric option: beyond these a face is more border, black or noise than face. */
const LIMITS: Record<NumericOption, { max: number; integer?: boolean; below?: boolean }> = {
  shift: { max: FACE_SIZE / 2, integer: true },
  rotate: { max: 180 },
  scale: { max: 1, below: true },
  brightness: { max: 1 },
  contrast: { max: 1 },
  erase: { max: 1 },
};

const KEYS = ['shift', 'flip', 'rotate', 'scale', 'brightness', 'contrast', 'erase'] as const;

/**
 * Parses `none`, `default`, or a comma list such as `shift=4,flip,rotate=10,scale=0.1,brightness=0.2,contrast=0.2,
 * erase=0.5`; a list may start with `default` to change only some settings (`default,erase=0`). Keys not given are
 * off. Throws a DataError with a one-line reason for anything else.
 */
export function parseAugment(text: string): AugmentOptions {
  const fail = (why: string): never => {
    throw new DataError(`bad augmentation ${JSON.stringify(text)}: ${why}`);
  };
  const tokens = text.split(',').map((t) => t.trim().toLowerCase());
  const base = tokens[0] === 'none' || tokens[0] === 'default' ? tokens.shift() : undefined;
  const options: AugmentOptions = { ...(base === 'default' ? DEFAULT_AUGMENT : NO_AUGMENT) };
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
    if (!Object.hasOwn(LIMITS, key!)) fail(`unknown setting ${JSON.stringify(key)} (known: ${KEYS.join(', ')}, or "none"/"default" first)`);
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
 * applied in the same pass, then random erasing. With every switch off it equals faceToFloat.
 */
export function augmentFace(src: Uint8Array, out: Float32Array, offset: number, o: AugmentOptions, rng: Rng): void {
  const flip = o.flip && rng.next() < 0.5;
  const angle = o.rotate > 0 ? (rng.uniform(-o.rotate, o.rotate) * Math.PI) / 180 : 0;
  const zoom = o.scale > 0 ? 1 + rng.uniform(-o.scale, o.scale) : 1;
  const dx = o.shift > 0 ? rng.int(2 * o.shift + 1) - o.shift : 0;
  const dy = o.shift > 0 ? rng.int(2 * o.shift + 1) - o.shift : 0;
  const { gain, bias } = o.brightness > 0 || o.contrast > 0 ? jitter(src, o, rng) : IDENTITY;
  if (flip || angle !== 0 || zoom !== 1 || dx !== 0 || dy !== 0) warp(src, out, offset, flip, angle, zoom, dx, dy, gain, bias);
  else if (gain !== IDENTITY.gain) level(src, out, offset, gain, bias);
  else faceToFloat(src, out, offset);
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
  const rx = reflect(sx);
  const ry = reflect(sy);
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
function reflect(t: number): number {
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
