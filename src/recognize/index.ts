export * from './expression-model.js';
export { createExpressionModel, type ExpressionModelSource } from './expression-classifier.js';
export { iou, type Box, type Point } from '../core/geometry.js';
export { cropFace, cropRegion, type Eyes, type Framing } from './crop.js';
export { decodeImage, ImageError, PixelLimitError, type ImageInput, type RawPixels, type RgbImage } from './image.js';
export {
  DEFAULT_FRAMING,
  DEFAULT_RECOGNIZER_CONFIG,
  IDENTITY_FRAMING,
  recognizerConfig,
  RecognizerOptionError,
  type RecognizerConfig,
  type RecognizerConfigOptions,
} from './config.js';
export {
  analyzeFaces,
  faceEyes,
  recognizeFaces,
  selectFaces,
  type AnalyzeFacesOptions,
  type FaceAnalysis,
  type FramePart,
} from './faces.js';
export { createPipeline, type PipelineParts } from './pipeline.js';
export { rawToRgb } from './pixels.js';
export { TTA_MODES, ttaViews, type TtaMode, type TtaOption } from './tta.js';
export {
  createRecognizer,
  type DetectedFace,
  type FaceDetector,
  type FaceLandmarks,
  type Recognition,
  type RecognizedFace,
  type Recognizer,
  type RecognizerOptions,
  type StageTimings,
} from './recognizer.js';
export { faceRecord, type FaceLike, type FaceRecord } from '../core/face-record.js';
export { annotateImage, drawFaces, EXPRESSION_COLOURS, facesOverlay, type DrawableFace } from './annotate.js';
