export * from './expression-model.js';
export { createExpressionModel, type ExpressionModelSource } from './expression-classifier.js';
export { iou, type Box, type Point } from '../core/geometry.js';
export { cropFace, type Eyes, type Framing } from './crop.js';
export { DEFAULT_MAX_PIXELS, decodeImage, ImageError, PixelLimitError, type ImageInput, type RawPixels, type RgbImage } from './image.js';
export { recognizeFaces, type RecognizeFacesOptions } from './faces.js';
export { rawToRgb } from './pixels.js';
export {
  createRecognizer,
  type DetectedFace,
  type FaceDetector,
  type RecognizedFace,
  type Recognizer,
  type RecognizerOptions,
} from './recognizer.js';
export { faceRecord, type FaceLike, type FaceRecord } from '../core/face-record.js';
export { annotateImage, drawFaces, EXPRESSION_COLOURS, facesOverlay, type DrawableFace } from './annotate.js';
export { DETECTOR_NAMES, detectorByName, type DetectorName } from './detectors.js';
