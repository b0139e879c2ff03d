/**
 * The recognition pipeline: decode → find every face → align and crop as the model was trained → classify.
 * Detection and cropping are pluggable; classification is the shared ONNX expression model.
 */
import { faceToFloat } from '../data/augment.js';
import { EXPRESSIONS, FACE_PIXELS, NUM_CLASSES, type Expression } from '../labels.js';
import { cropFace, type Box, type Eyes, type Framing, type Point } from './crop.js';
import { loadExpressionModel, type ExpressionModel } from './expression-model.js';
import { DEFAULT_MAX_PIXELS, decodeImage, type ImageInput, type RgbImage } from './image.js';

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

export interface RecognizerOptions {
  /** Expression model: a shipped name (`fast`, `accurate`) or an .onnx path. Default `fast`. */
  model?: string | ExpressionModel;
  /** The face detector; `none` treats the whole image as one face crop (FER-style input). */
  detector?: FaceDetector | 'none';
  /** Faces whose box is smaller than this many pixels (larger side) are ignored. Default 0. */
  minFaceSize?: number;
  /** Average each face with its mirror image. */
  tta?: boolean;
  /** Refuse images larger than this, before decoding. Default 50 megapixels. */
  maxPixels?: number;
  /** How detector boxes become model crops. */
  framing?: Framing;
}

/** Whole-image input is already a face crop: nothing to move. */
const IDENTITY_FRAMING: Framing = { scale: 1, shiftY: 0 };

export interface Recognizer {
  readonly model: ExpressionModel;
  /** Every face in the image, left to right; empty when there is none. */
  recognize(input: ImageInput): Promise<RecognizedFace[]>;
  /** The same for an image already decoded (video frames). */
  recognizeImage(image: RgbImage): Promise<RecognizedFace[]>;
}

const wholeImage = (image: RgbImage): DetectedFace[] => [{ box: { x: 0, y: 0, width: image.width, height: image.height }, score: 1 }];

export async function createRecognizer(options: RecognizerOptions = {}): Promise<Recognizer> {
  const model = typeof options.model === 'object' ? options.model : await loadExpressionModel(options.model);
  const detector = options.detector ?? 'none';
  const framing = detector === 'none' ? IDENTITY_FRAMING : (options.framing ?? IDENTITY_FRAMING);
  const minFaceSize = options.minFaceSize ?? 0;

  async function recognizeImage(image: RgbImage): Promise<RecognizedFace[]> {
    const detected = detector === 'none' ? wholeImage(image) : await detector.detect(image);
    const faces = detected.filter((f) => Math.max(f.box.width, f.box.height) >= minFaceSize).sort((a, b) => a.box.x - b.box.x);
    if (faces.length === 0) return [];
    const input = new Float32Array(faces.length * FACE_PIXELS);
    faces.forEach((face, i) => {
      const eyes: Eyes | undefined = face.landmarks && { right: face.landmarks.rightEye, left: face.landmarks.leftEye };
      faceToFloat(cropFace(image, face.box, framing, eyes), input, i * FACE_PIXELS);
    });
    const probabilities = await model.classify(input, { tta: options.tta });
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

  return {
    model,
    recognizeImage,
    recognize: async (input) => recognizeImage(await decodeImage(input, options.maxPixels ?? DEFAULT_MAX_PIXELS)),
  };
}
