/**
 * The recognition pipeline: decode → find every face → align and crop as the model was trained → classify.
 * Detection and cropping are pluggable; classification is the shared ONNX expression model.
 */
import type { Framing } from './crop.js';
import { detectorByName, type DetectorName } from './detectors.js';
import { loadExpressionModel, type ExpressionModel } from './expression-model.js';
import { recognizeFaces, DEFAULT_FRAMING, IDENTITY_FRAMING, type FaceDetector, type RecognizedFace } from './faces.js';
import { DEFAULT_MAX_PIXELS, decodeImage, type ImageInput, type RgbImage } from './image.js';

export { DEFAULT_FRAMING, recognizeFaces, type DetectedFace, type FaceDetector, type RecognizedFace } from './faces.js';

export interface RecognizerOptions {
  /** Expression model: a shipped name (`fast`, `accurate`) or an .onnx path. Default `fast`. */
  model?: string | ExpressionModel;
  /**
   * The face detector, by name (`dnn`, `haar`) or as an instance; `none` treats the whole image as one face crop
   * (FER-style input). Default `dnn`, as in `mien predict`.
   */
  detector?: FaceDetector | DetectorName;
  /**
   * Smallest face (box side, pixels) looked for and kept. Default: the named detector's own limit (48 px for `dnn`)
   * and no filter on the boxes.
   */
  minFaceSize?: number;
  /** Average each face with its mirror image. */
  tta?: boolean;
  /** Refuse images larger than this, before decoding. Default 50 megapixels. */
  maxPixels?: number;
  /** How detector boxes become model crops. */
  framing?: Framing;
}

export interface Recognizer {
  readonly model: ExpressionModel;
  /** Every face in the image, left to right; empty when there is none. */
  recognize(input: ImageInput): Promise<RecognizedFace[]>;
  /** The same for an image already decoded (video frames). */
  recognizeImage(image: RgbImage): Promise<RecognizedFace[]>;
}

export async function createRecognizer(options: RecognizerOptions = {}): Promise<Recognizer> {
  const model = typeof options.model === 'object' ? options.model : await loadExpressionModel(options.model);
  const minFaceSize = options.minFaceSize ?? 0;
  const requested = options.detector ?? 'dnn';
  const detector = typeof requested === 'string' ? await detectorByName(requested, { minFaceSize: minFaceSize || undefined }) : requested;
  const framing = detector === 'none' ? IDENTITY_FRAMING : (options.framing ?? DEFAULT_FRAMING);
  const recognizeImage = (image: RgbImage) => recognizeFaces(image, { detector, model, framing, minFaceSize, tta: options.tta });

  return {
    model,
    recognizeImage,
    recognize: async (input) => recognizeImage(await decodeImage(input, options.maxPixels ?? DEFAULT_MAX_PIXELS)),
  };
}
