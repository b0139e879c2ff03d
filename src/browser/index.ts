/**
 * mien in the browser (the package's `browser` export): recognise expressions in images, videos and canvases on
 * onnxruntime-web, draw them, track faces over frames. The same TypeScript as the Node pipeline; nothing here needs
 * Node. The model files (`models/*.onnx` of the package) are served next to the page.
 */
export { EXPRESSIONS, EXPRESSION_COLOURS, FACE_PIXELS, FACE_SIZE, NUM_CLASSES, type Expression } from '../core/labels.js';
export { MienError } from '../core/errors.js';
export type { Box, Point } from '../core/geometry.js';
export { faceRecord, type FaceLandmarks, type FaceRecord } from '../core/face-record.js';
export { createRecognizer, type BrowserRecognizerOptions, type ModelSource } from './recognizer.js';
export { browserImageToRgb, type BrowserImage } from './image.js';
export { drawFaces, type CanvasFace } from './draw.js';
export type { OverlayOptions } from '../core/overlay.js';
export type { InferenceSession, OnnxRuntime } from '../core/onnx-runtime.js';
export { importOnnxRuntimeWeb, wantsWebGpu } from './onnx-runtime-web.js';
export {
  DEFAULT_FRAMING,
  DEFAULT_RECOGNIZER_CONFIG,
  recognizerConfig,
  RecognizerOptionError,
  type RecognizerConfig,
  type RecognizerConfigOptions,
} from '../recognize/config.js';
export { createExpressionModel, ModelError, type ExpressionModel } from '../recognize/expression-classifier.js';
export {
  analyzeFaces,
  faceEyes,
  recognizeFaces,
  selectFaces,
  type DetectedFace,
  type FaceDetector,
  type FramePart,
  type RecognizedFace,
  type StageTimings,
} from '../recognize/faces.js';
export { cropRegion } from '../recognize/crop.js';
export { placeFace } from '../detect/face-detector.js';
export { createPipeline, type Recognition, type Recognizer } from '../recognize/pipeline.js';
export { ImageError, rawToRgb, type RgbImage } from '../recognize/pixels.js';
export { TTA_MODES, ttaViews, type TtaMode, type TtaOption } from '../recognize/tta.js';
export { createFaceDetector, DETECTOR_MODEL_FILES, type DnnFace, type DnnFaceDetector } from '../detect/dnn.js';
export { DEFAULT_TRACKER_OPTIONS, FaceTracker, type TrackedFace } from '../video/tracker.js';
