/**
 * The recognition pipeline's one configuration: every option of `createRecognizer`, `mien predict|video|eval|serve`,
 * the HTTP API and the web page, with its default stated once, here. Like Human's config, a caller passes only what
 * it changes; `recognizerConfig()` merges that over DEFAULT_RECOGNIZER_CONFIG and checks it.
 */
import { MienError } from '../core/errors.js';
// Only the type: the registry's loaders import onnxruntime-node, which the web page (a user of this file) must not bundle.
import type { DetectorName } from '../detect/registry.js';
import { SMALLEST_FACE } from '../detect/smallest-face.js';
import type { Framing } from './crop.js';
import { isTtaMode, TTA_MODES, type TtaOption } from './tta.js';

export interface RecognizerConfig {
  /** Expression model: a shipped name (`fast`, `accurate`, `lite`) or an .onnx path. */
  model: string;
  /** Face detector by name; `none` takes each image as one face crop (FER-style input). */
  detector: DetectorName;
  /**
   * Smallest face looked for, the box's larger side in pixels: the detector searches down to it and smaller boxes are
   * dropped, save in a photo under twice this size, where half its shorter side is enough (selectFaces: there the
   * face is the photo's subject, a face crop). The expression model sees 48 × 48 faces; below that it guesses from
   * upscaled blur.
   */
  minFaceSize: number;
  /** Faces the detector is less sure of (0–1) are dropped; undefined = the detector's own measured threshold. */
  minConfidence: number | undefined;
  /** At most this many faces per image: the largest (nearest) ones. */
  maxFaces: number;
  /**
   * How detector boxes become model crops, measured by `npm run bench:framing` (val faces pasted into scenes): a square
   * 0.9 × the box side, moved up by 5 % of it — FER2013's crops are tighter than the detector's box and cut the
   * forehead — gains about 2 points over the untouched box; a face keeps up to 5° of its roll and is turned by its
   * eyes beyond that (levelBeyond 5): FER2013's own faces are not levelled, and on val faces in ±12° and ±30° scenes
   * this matched or beat levelling every face for fast, accurate and lite alike (+0.0 to +0.8 points; 10° won more
   * on average but lost to it once), while keeping all of the roll loses 2–3 points on strongly tilted heads. Fields
   * left out keep these defaults. Ignored with detector `none`.
   */
  framing: Framing;
  /**
   * Test-time augmentation (src/recognize/tta.ts): `zoom` (or `true`) averages ten views of each face (five zooms and
   * their mirror images), the most accurate, the classification a tenth as fast; `mirror` averages two.
   */
  tta: TtaOption;
  /** Refuse images larger than this many pixels, before decoding: a 50-megapixel photo is ~150 MB of RGB. */
  maxPixels: number;
  /** onnxruntime threads for the detector and the expression model; undefined = all cores. */
  threads: number | undefined;
}

/** What callers pass: any of RecognizerConfig's fields, the framing's among them, each left out taking its default. */
export interface RecognizerConfigOptions extends Partial<Omit<RecognizerConfig, 'framing'>> {
  framing?: Partial<Framing>;
}

export const DEFAULT_FRAMING: Readonly<Framing> = Object.freeze({ scale: 0.9, shiftY: -0.05, levelBeyond: 5 });
/** Whole-image input is already a face crop: nothing to move or turn. */
export const IDENTITY_FRAMING: Readonly<Framing> = Object.freeze({ scale: 1, shiftY: 0, levelBeyond: 180 });

export const DEFAULT_RECOGNIZER_CONFIG: Readonly<RecognizerConfig> = Object.freeze({
  model: 'fast',
  detector: 'dnn',
  minFaceSize: 48,
  minConfidence: undefined,
  maxFaces: Infinity,
  framing: DEFAULT_FRAMING,
  tta: false,
  maxPixels: 50_000_000,
  threads: undefined,
});

/**
 * The highest pixel limit that may be set: a photo costs 3 bytes a pixel decoded, and detection (which shrinks larger
 * photos to 12 megapixels first) about 0.6 GB more, so a 100-megapixel photo peaks 0.92 GB above an idle `mien
 * predict` (measured 2026-12-02) — within the 1 GB one photo may take.
 */
export const MAX_PIXELS_CEILING = 100_000_000;

/** An option outside what it accepts: a usage mistake (CLI exit 2, HTTP 400). */
export class RecognizerOptionError extends MienError {
  override readonly exitCode = 2;
}

/** `options` without the fields set to undefined, which would otherwise hide the defaults they are spread over. */
const definedFields = <T extends object>(options: T): T =>
  Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;

const isPositiveInteger = (x: number) => Number.isInteger(x) && x > 0;

/**
 * `options` merged over the defaults and checked: a value out of range is a RecognizerOptionError (the detector's name is checked when it loads).
 *
 * @example
 * ```ts
 * import { recognizerConfig } from 'mien-fer';
 * console.log(recognizerConfig({ tta: true }));
 * // { model: 'fast', detector: 'dnn', minFaceSize: 48, minConfidence: undefined, maxFaces: Infinity,
 * //   framing: { scale: 0.9, shiftY: -0.05, levelBeyond: 5 }, tta: true, maxPixels: 50000000, threads: undefined }
 * ```
 */
export function recognizerConfig(options: RecognizerConfigOptions = {}): RecognizerConfig {
  const defined = definedFields(options);
  const config: RecognizerConfig = {
    ...DEFAULT_RECOGNIZER_CONFIG,
    ...defined,
    framing: { ...DEFAULT_FRAMING, ...definedFields(defined.framing ?? {}) },
  };
  const fail = (message: string): never => {
    throw new RecognizerOptionError(message);
  };
  if (!isPositiveInteger(config.minFaceSize)) fail(`minFaceSize must be a whole number of pixels ≥ 1, got ${config.minFaceSize}`);
  const smallest = config.detector === 'none' ? undefined : SMALLEST_FACE[config.detector];
  if (smallest !== undefined && config.minFaceSize < smallest)
    fail(
      `minFaceSize must be at least ${smallest} px with the ${config.detector} detector (the smallest face it looks for), got ${config.minFaceSize}`,
    );
  if (config.minConfidence !== undefined && !(config.minConfidence >= 0 && config.minConfidence < 1))
    fail(`minConfidence must be in [0, 1), got ${config.minConfidence}`);
  if (!(isPositiveInteger(config.maxFaces) || config.maxFaces === Infinity))
    fail(`maxFaces must be a whole number ≥ 1, got ${config.maxFaces}`);
  const { scale, shiftY, levelBeyond } = config.framing;
  if (!(scale > 0 && Number.isFinite(shiftY) && levelBeyond >= 0 && levelBeyond <= 180))
    fail(`framing needs a positive scale, a finite shiftY and levelBeyond from 0 to 180 degrees, got ${JSON.stringify(config.framing)}`);
  if (!(config.maxPixels > 0 && config.maxPixels <= MAX_PIXELS_CEILING))
    fail(`maxPixels must be positive and at most ${MAX_PIXELS_CEILING / 1e6} megapixels (${MAX_PIXELS_CEILING}), got ${config.maxPixels}`);
  if (typeof config.tta !== 'boolean' && !isTtaMode(config.tta))
    fail(`tta must be true, false, ${TTA_MODES.join(' or ')}, got ${JSON.stringify(config.tta)}`);
  if (config.threads !== undefined && !isPositiveInteger(config.threads)) fail(`threads must be a whole number ≥ 1, got ${config.threads}`);
  return config;
}
