/**
 * The face detectors mien knows by name (`--detector`, `createRecognizer({ detector })`, the HTTP API's `detector`).
 * A new detector is one file in detect/ that implements FaceDetector and one entry here. Each loads only when asked
 * for (and its module with it), so naming `none` or `haar` never loads onnxruntime's detector sessions.
 */
import { MienError } from '../core/errors.js';
import type { DetectedFace, FaceDetector } from './face-detector.js';

/** What every named detector is configured by; the pipeline's defaults (src/recognize/config.ts) fill it. */
export interface DetectorSettings {
  /** Smallest face searched for, the box's larger side in image pixels. */
  minFaceSize: number;
  /** Faces the detector is less sure of than this (0–1) are dropped; undefined = the detector's own measured threshold. */
  minConfidence?: number;
  /** onnxruntime threads, for detectors that run a network. Default: all cores. */
  threads?: number;
}

interface DetectorEntry {
  /** One line for `--help` and the docs. */
  description: string;
  load(settings: DetectorSettings): Promise<FaceDetector>;
}

/** Keeps the faces scoring at least `minConfidence`, for detectors that have no threshold of their own. */
const withMinConfidence = (detector: FaceDetector, minConfidence: number | undefined): FaceDetector =>
  minConfidence === undefined
    ? detector
    : { ...detector, detect: async (image) => (await detector.detect(image)).filter((f: DetectedFace) => f.score >= minConfidence) };

export const DETECTORS = {
  dnn: {
    description: 'MediaPipe BlazeFace, full- and short-range models together, with landmarks (the default)',
    load: async ({ minFaceSize, minConfidence, threads }) =>
      (await import('./dnn-node.js')).loadFaceDetector({ minFaceSize, scoreThreshold: minConfidence, threads }),
  },
  haar: {
    description: "OpenCV's Haar cascade (haarcascade_frontalface_default), as the original FER projects used",
    load: async ({ minFaceSize, minConfidence }) =>
      withMinConfidence(await (await import('./haar.js')).loadHaarDetector({ minFaceSize }), minConfidence),
  },
} satisfies Record<string, DetectorEntry>;

/** A registered detector, or `none`: every image is already one face crop (FER-style input). */
export type DetectorName = keyof typeof DETECTORS | 'none';
export const DETECTOR_NAMES = [
  ...(Object.keys(DETECTORS) as (keyof typeof DETECTORS)[]),
  'none',
] as const satisfies readonly DetectorName[];

export const isDetectorName = (name: string): name is DetectorName => (DETECTOR_NAMES as readonly string[]).includes(name);

/** A name that is no detector's: a usage mistake (CLI exit 2, HTTP 400). */
export class UnknownDetectorError extends MienError {
  override readonly exitCode = 2;
}

/**
 * A detector by name, configured; `none` is returned as is, for the pipeline to take whole images.
 *
 * @example
 * ```ts
 * import { decodeImage, loadDetector } from 'mien-fer';
 * const detector = await loadDetector('dnn', { minFaceSize: 48 });
 * if (detector !== 'none') {
 *   const [face] = await detector.detect(await decodeImage('photo.jpg'));
 *   console.log(face.box, face.score.toFixed(4));
 *   // { x: 246.837…, y: 94.657…, width: 105.566…, height: 148.961… } 0.9077
 * }
 * ```
 */
export async function loadDetector(name: DetectorName, settings: DetectorSettings): Promise<FaceDetector | 'none'> {
  if (!isDetectorName(name)) throw new UnknownDetectorError(`unknown detector '${String(name)}': use ${DETECTOR_NAMES.join(', ')}`);
  return name === 'none' ? 'none' : DETECTORS[name].load(settings);
}
