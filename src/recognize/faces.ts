/**
 * The core of recognition, for an image already in memory: find every face → align and crop as the model was trained
 * → classify. It uses no Node module, so createRecognizer (src/recognize/recognizer.ts) and the web app run the same
 * code; detection and cropping are pluggable, classification is the shared ONNX expression model.
 */
import type { Box } from '../core/geometry.js';
import { EXPRESSIONS, FACE_PIXELS, NUM_CLASSES, type Expression } from '../core/labels.js';
import { faceToFloat } from '../data/augment.js';
import { placeFace, type DetectedFace, type FaceDetector } from '../detect/face-detector.js';
import { cropFace, type Eyes, type Framing } from './crop.js';
import type { ExpressionModel } from './expression-classifier.js';
import type { RgbImage } from './pixels.js';
import type { TtaOption } from './tta.js';

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
  /**
   * Faces whose box is smaller than this many pixels (larger side) are dropped, save in a photo too small to hold two
   * such faces side by side (selectFaces); not applied to `none`.
   */
  minFaceSize: number;
  /** At most this many faces: the largest. */
  maxFaces: number;
  /** Test-time augmentation (src/recognize/tta.ts). */
  tta: TtaOption;
}

const wholeImage = (image: RgbImage): DetectedFace[] => [{ box: { x: 0, y: 0, width: image.width, height: image.height }, score: 1 }];
const side = (face: DetectedFace) => Math.max(face.box.width, face.box.height);

/** Every face in the image with its expression, and the time detection and classification took. */
export async function analyzeFaces(image: RgbImage, options: AnalyzeFacesOptions): Promise<FaceAnalysis> {
  const { detector, minFaceSize, maxFaces } = options;
  const started = performance.now();
  const faces = detector === 'none' ? wholeImage(image) : selectFaces(await detector.detect(image), image, minFaceSize, maxFaces);
  const detectedAt = performance.now();
  const recognized = await recognizeFaces(image, faces, options);
  return { faces: recognized, timings: { detect: detectedAt - started, classify: performance.now() - detectedAt } };
}

/**
 * The `maxFaces` largest faces of at least `minFaceSize` px (the box's larger side), left to right. In a photo whose
 * shorter side is under 2 × `minFaceSize`, a face of half that side is kept too: there it is the photo's subject (a
 * face crop, a FER2013 48×48 face, whose detector box is often 40–47 px), not a face too far away to read.
 */
export function selectFaces(
  faces: DetectedFace[],
  photo: { width: number; height: number },
  minFaceSize: number,
  maxFaces: number,
): DetectedFace[] {
  const smallest = Math.min(minFaceSize, Math.min(photo.width, photo.height) / 2);
  return faces
    .filter((f) => side(f) >= smallest)
    .sort((a, b) => side(b) - side(a))
    .slice(0, maxFaces)
    .sort((a, b) => a.box.x - b.box.x);
}

/** Where an image that is only part of a frame lies in it: its top-left corner and the frame's size. */
export interface FramePart {
  x: number;
  y: number;
  frameWidth: number;
  frameHeight: number;
}

/**
 * The expression of each face found in a frame, cropped from `image` and classified in one batch. The boxes are in
 * the frame's pixels; `part` says where `image` lies when it holds only part of the frame (the regions `cropRegion`
 * names for these faces suffice), so a caller need not read a whole frame to recognise a few faces in it.
 */
export async function recognizeFaces(
  image: RgbImage,
  faces: DetectedFace[],
  options: Pick<AnalyzeFacesOptions, 'model' | 'framing' | 'tta'>,
  part: FramePart = { x: 0, y: 0, frameWidth: image.width, frameHeight: image.height },
): Promise<RecognizedFace[]> {
  if (faces.length === 0) return [];
  const input = new Float32Array(faces.length * FACE_PIXELS);
  faces.forEach((face, i) => {
    const inImage = placeFace(face, { dx: -part.x, dy: -part.y });
    faceToFloat(cropFace(image, inImage.box, options.framing, faceEyes(inImage)), input, i * FACE_PIXELS);
  });
  const probabilities = await options.model.classify(input, { tta: options.tta });
  return faces.map((face, i) => describeFace(part, face, probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES)));
}

/** The eyes the crop levels, when the detector gave landmarks. */
export const faceEyes = (face: DetectedFace): Eyes | undefined =>
  face.landmarks && { right: face.landmarks.rightEye, left: face.landmarks.leftEye };

function describeFace(frame: Pick<FramePart, 'frameWidth' | 'frameHeight'>, face: DetectedFace, p: Float32Array): RecognizedFace {
  const expressions = EXPRESSIONS.map((expression, c) => ({ expression, probability: p[c]! })).sort(
    (a, b) => b.probability - a.probability,
  );
  const { x, y, width, height } = face.box;
  const { frameWidth, frameHeight } = frame;
  return {
    ...face,
    normalizedBox: { x: x / frameWidth, y: y / frameHeight, width: width / frameWidth, height: height / frameHeight },
    expression: expressions[0]!.expression,
    probabilities: Object.fromEntries(EXPRESSIONS.map((e, c) => [e, p[c]!])) as Record<Expression, number>,
    expressions,
  };
}
