/**
 * The core of recognition, for an image already in memory: find every face → align and crop as the model was trained
 * → classify. It uses no Node module, so createRecognizer (src/recognize/recognizer.ts) and the web app run the same
 * code; detection and cropping are pluggable, classification is the shared ONNX expression model.
 */
import type { Box, Point } from '../core/geometry.js';
import { EXPRESSIONS, FACE_PIXELS, NUM_CLASSES, type Expression } from '../core/labels.js';
import { faceToFloat } from '../data/augment.js';
import { cropFace, type Eyes, type Framing } from './crop.js';
import type { ExpressionModel } from './expression-classifier.js';
import type { RgbImage } from './pixels.js';

/** What a face detector reports for one face, in image pixels. */
export interface DetectedFace {
  box: Box;
  score: number;
  /** Eye positions (and any others the detector gives); eyes make the crop rotate so they are level. */
  landmarks?: { rightEye: Point; leftEye: Point };
}

export interface FaceDetector {
  detect(image: RgbImage): Promise<DetectedFace[]>;
}

export interface RecognizedFace extends DetectedFace {
  expression: Expression;
  probabilities: Record<Expression, number>;
}

/** Whole-image input is already a face crop: nothing to move. */
export const IDENTITY_FRAMING: Framing = { scale: 1, shiftY: 0 };

/**
 * How a DNN detector box becomes the model's crop, measured by `npm run bench:framing` (val faces pasted into scenes):
 * a square 0.9 × the box side, moved up by 5 % of it — FER2013's crops are tighter than the detector's box and cut
 * the forehead — recovers the crop-only accuracy; the untouched box loses about 2 points (see the README).
 */
export const DEFAULT_FRAMING: Framing = { scale: 0.9, shiftY: -0.05 };

export interface RecognizeFacesOptions {
  /** The face detector; `none` takes the whole image as one face crop (FER-style input). */
  detector: FaceDetector | 'none';
  model: ExpressionModel;
  /** How detector boxes become model crops. */
  framing: Framing;
  /** Faces whose box is smaller than this many pixels (larger side) are ignored. */
  minFaceSize: number;
  /** Average each face with its mirror image. */
  tta?: boolean;
}

const wholeImage = (image: RgbImage): DetectedFace[] => [{ box: { x: 0, y: 0, width: image.width, height: image.height }, score: 1 }];

/** Every face in the image with its expression, left to right; empty when there is none. */
export async function recognizeFaces(
  image: RgbImage,
  { detector, model, framing, minFaceSize, tta }: RecognizeFacesOptions,
): Promise<RecognizedFace[]> {
  const detected = detector === 'none' ? wholeImage(image) : await detector.detect(image);
  const faces = detected.filter((f) => Math.max(f.box.width, f.box.height) >= minFaceSize).sort((a, b) => a.box.x - b.box.x);
  if (faces.length === 0) return [];
  const input = new Float32Array(faces.length * FACE_PIXELS);
  faces.forEach((face, i) => {
    const eyes: Eyes | undefined = face.landmarks && { right: face.landmarks.rightEye, left: face.landmarks.leftEye };
    faceToFloat(cropFace(image, face.box, framing, eyes), input, i * FACE_PIXELS);
  });
  const probabilities = await model.classify(input, { tta });
  return faces.map((face, i) => {
    const p = probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
    let best = 0;
    for (let c = 1; c < NUM_CLASSES; c++) if (p[c]! > p[best]!) best = c;
    return {
      ...face,
      expression: EXPRESSIONS[best]!,
      probabilities: Object.fromEntries(EXPRESSIONS.map((e, c) => [e, p[c]!])) as Record<Expression, number>,
    };
  });
}
