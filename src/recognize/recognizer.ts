/**
 * The recognition pipeline in Node: decode (sharp) → find every face → align and crop as the model was trained →
 * classify. `createRecognizer()` with no options does what `mien predict` does; every option and its default is in
 * ./config.ts.
 */
import { loadDetector, type DetectorName } from '../detect/registry.js';
import { recognizerConfig, IDENTITY_FRAMING, type RecognizerConfigOptions } from './config.js';
import { loadExpressionModel, type ExpressionModel } from './expression-model.js';
import type { FaceDetector } from './faces.js';
import { decodeImage, type ImageInput } from './image.js';
import { createPipeline, type Recognizer as RecognizerOf } from './pipeline.js';

export type { DetectedFace, FaceDetector, FaceLandmarks, RecognizedFace, StageTimings } from './faces.js';
export type { Recognition } from './pipeline.js';

/** A recognizer of files, encoded buffers and raw pixels. */
export type Recognizer = RecognizerOf<ImageInput>;

/** RecognizerConfig's fields, each optional; the model and the detector may also be instances already loaded. */
export interface RecognizerOptions extends Omit<RecognizerConfigOptions, 'model' | 'detector'> {
  /** A shipped name (`fast`, `accurate`, `lite`), an .onnx path, or a loaded ExpressionModel. Default `fast`. */
  model?: string | ExpressionModel;
  /** A detector name (`dnn`, `haar`, `none`) or an instance. Default `dnn`. */
  detector?: DetectorName | FaceDetector;
}

/**
 * Loads the expression model and the face detector and returns the recognizer.
 *
 * @example
 * ```ts
 * import { createRecognizer } from 'mien-fer';
 * const recognizer = await createRecognizer();            // fast model, DNN detector, faces ≥ 48 px
 * const [face] = await recognizer.recognize('photo.jpg');
 * console.log(face.expression, face.expressions[1]);      // happy { expression: 'surprise', probability: 0.0236 }
 * ```
 */
export async function createRecognizer(options: RecognizerOptions = {}): Promise<Recognizer> {
  const { model: modelOption, detector: detectorOption, ...rest } = options;
  const config = recognizerConfig({
    ...rest,
    model: typeof modelOption === 'object' ? modelOption.path : modelOption,
    detector: typeof detectorOption === 'object' ? undefined : detectorOption,
  });
  const model = typeof modelOption === 'object' ? modelOption : await loadExpressionModel(config.model, { threads: config.threads });
  const detector =
    typeof detectorOption === 'object'
      ? detectorOption
      : await loadDetector(config.detector, {
          minFaceSize: config.minFaceSize,
          minConfidence: config.minConfidence,
          threads: config.threads,
        }).catch(async (err: unknown) => {
          // The model loaded for this recognizer would otherwise keep its session with nobody left to free it.
          if (typeof modelOption !== 'object') await model.dispose();
          throw err;
        });
  if (detector === 'none') config.framing = IDENTITY_FRAMING;
  return createPipeline({
    model,
    detector,
    config,
    decode: decodeImage,
    owns: { model: typeof modelOption !== 'object', detector: typeof detectorOption !== 'object' },
  });
}
