/**
 * mien — facial expression recognition for Node and the browser.
 *
 * The root exports what users call: recognise, train, evaluate, export, load data, and their types. Each stage has
 * its own sub-path export with everything else (`mien-fer/data`, `/models`, `/train`, `/export`, `/eval`, `/plot`,
 * `/detect`, `/recognize`, `/video`, and the HTTP API, opt-in, as `mien-fer/server`); in a browser bundle the root
 * resolves to the browser entry (src/browser). Layers: docs/architecture.md.
 *
 * @example
 * ```ts
 * import { createRecognizer } from 'mien-fer';
 * const recognizer = await createRecognizer();                  // the shipped `fast` model, DNN detector
 * const faces = await recognizer.recognize('photo.jpg');
 * console.log(faces[0].expression, faces[0].probabilities.happy); // happy 0.917
 * ```
 */
export { EXPRESSIONS, EXPRESSION_COLOURS, FACE_PIXELS, FACE_SIZE, NUM_CLASSES, type Expression } from './core/labels.js';
export { MienError, type MienErrorOptions } from './core/errors.js';
export type { Box, Point } from './core/geometry.js';
export { faceRecord, type FaceLandmarks, type FaceRecord } from './core/face-record.js';

// Recognise
export {
  createRecognizer,
  type DetectedFace,
  type FaceDetector,
  type Recognition,
  type RecognizedFace,
  type Recognizer,
  type RecognizerOptions,
  type StageTimings,
} from './recognize/recognizer.js';
export {
  DEFAULT_RECOGNIZER_CONFIG,
  recognizerConfig,
  RecognizerOptionError,
  type RecognizerConfig,
  type RecognizerConfigOptions,
} from './recognize/config.js';
export { TTA_MODES, ttaViews, type TtaMode, type TtaOption } from './recognize/tta.js';
export { loadExpressionModel, ModelError, SHIPPED_MODELS, type ExpressionModel } from './recognize/expression-model.js';
export { decodeImage, ImageError, PixelLimitError, type ImageInput } from './recognize/image.js';
export { annotateImage } from './recognize/annotate.js';
export { DETECTOR_NAMES, loadDetector, type DetectorName } from './detect/registry.js';

// Data
export { loadFaces, type LoadedFaces, type LoadOptions } from './data/load.js';
export { DataError } from './data/problems.js';

// Train
export { getArchitecture, listArchitectures } from './models/zoo.js';
export type { ModelSpec } from './models/spec.js';
export { train, type TrainOptions, type TrainResult } from './train/trainer.js';
export { DEFAULT_TRAIN_CONFIG, type EpochRecord, type TrainConfig } from './train/config.js';
export type { Callback, Hook, TrainContext } from './train/callback.js';

// Evaluate and export
export { evaluateModel } from './eval/evaluate.js';
export { formatEvaluation } from './eval/format.js';
export type { Evaluation } from './eval/metrics.js';
export { exportRun } from './export/run.js';
