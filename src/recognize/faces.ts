/**
 * The core of recognition, for an image already in memory: find every face → align and crop as the model was trained
 * → classify. It uses no Node module, so createRecognizer (src/recognize/recognizer.ts) and the web app run the same
 * code; detection and cropping are pluggable, classification is the shared ONNX expression model.
 */
import type { Box } from '../core/geometry.js';
import { EXPRESSIONS, FACE_PIXELS, NUM_CLASSES, type Expression } from '../core/labels.js';
import { faceToFloat } from '../data/augment.js';
import type { DetectedFace, FaceDetector } from '../detect/face-detector.js';
import { cropFace, type Eyes, type Framing } from './crop.js';
import type { ExpressionModel } from './expression-classifier.js';
import type { RgbImage } from './pixels.js';

export type { DetectedFace, FaceDetector, FaceLandmarks } from '../detect/face-detector.js';

export interface RecognizedFace extends DetectedFace {
  /** The box as fractions of the image's width and height (0–1), for drawing on a display of any size. */
  normalizedBox: Box;
  /** The most probable expression. */
  expression: Expression;
  probabilities: Record<Expression, number>;
  /** Every expression with its probability, most probable first. */
  expressions: { expression: Expression; probability: number }[];
}

/** Milliseconds each stage took for one image. */
export interface StageTimings {
  detect: number;
  /** Crop, align and run the expression model. */
  classify: number;
}

export interface FaceAnalysis {
  /** Every face kept, left to right; empty when there is none. */
  faces: RecognizedFace[];
  timings: StageTimings;
}

export interface AnalyzeFacesOptions {
  /** The face detector; `none` takes the whole image as one face crop (FER-style input). */
  detector: FaceDetector | 'none';
  model: ExpressionModel;
  /** How detector boxes become model crops. */
  framing: Framing;
  /** Faces whose box is smaller than this many pixels (larger side) are dropped; not applied to `none`. */
  minFaceSize: number;
  /** At most this many faces: the largest. */
  maxFaces: number;
  /** Average each face with its mirror image. */
  tta: boolean;
}

const wholeImage = (image: RgbImage): DetectedFace[] => [{ box: { x: 0, y: 0, width: image.width, height: image.height }, score: 1 }];
const side = (face: DetectedFace) => Math.max(face.box.width, face.box.height);

/** Every face in the image with its expression, and the time detection and classification took. */
export async function analyzeFaces(image: RgbImage, options: AnalyzeFacesOptions): Promise<FaceAnalysis> {
  const { detector, model, framing, minFaceSize, maxFaces, tta } = options;
  const started = performance.now();
  const detected = detector === 'none' ? wholeImage(image) : (await detector.detect(image)).filter((f) => side(f) >= minFaceSize);
  const faces = detected
    .sort((a, b) => side(b) - side(a))
    .slice(0, maxFaces)
    .sort((a, b) => a.box.x - b.box.x);
  const detectedAt = performance.now();
  if (faces.length === 0) return { faces: [], timings: { detect: detectedAt - started, classify: 0 } };
  const input = new Float32Array(faces.length * FACE_PIXELS);
  faces.forEach((face, i) => {
    const eyes: Eyes | undefined = face.landmarks && { right: face.landmarks.rightEye, left: face.landmarks.leftEye };
    faceToFloat(cropFace(image, face.box, framing, eyes), input, i * FACE_PIXELS);
  });
  const probabilities = await model.classify(input, { tta });
  const recognized = faces.map((face, i) => describeFace(image, face, probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES)));
  return { faces: recognized, timings: { detect: detectedAt - started, classify: performance.now() - detectedAt } };
}

function describeFace(image: RgbImage, face: DetectedFace, p: Float32Array): RecognizedFace {
  const expressions = EXPRESSIONS.map((expression, c) => ({ expression, probability: p[c]! })).sort(
    (a, b) => b.probability - a.probability,
  );
  const { x, y, width, height } = face.box;
  return {
    ...face,
    normalizedBox: { x: x / image.width, y: y / image.height, width: width / image.width, height: height / image.height },
    expression: expressions[0]!.expression,
    probabilities: Object.fromEntries(EXPRESSIONS.map((e, c) => [e, p[c]!])) as Record<Expression, number>,
    expressions,
  };
}
