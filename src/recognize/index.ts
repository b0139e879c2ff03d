export * from './expression-model.js';
export { cropFace, iou, type Box, type Eyes, type Framing, type Point } from './crop.js';
export { DEFAULT_MAX_PIXELS, decodeImage, ImageError, type ImageInput, type RawPixels, type RgbImage } from './image.js';
export { createRecognizer, type DetectedFace, type FaceDetector, type RecognizedFace, type Recognizer, type RecognizerOptions } from './recognizer.js';
export { annotateImage, drawFaces, EXPRESSION_COLOURS, facesOverlay, type DrawableFace } from './annotate.js';
