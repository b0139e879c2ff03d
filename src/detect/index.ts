export {
  DETECTOR_MODEL_FILES,
  loadFaceDetector,
  type DetectionOptions,
  type DetectorRuntime,
  type DnnFace,
  type DnnFaceDetector,
  type FaceLandmarks,
} from './dnn.js';
export { createFaceDetector, type FaceDetectorOptions } from './dnn-node.js';
export type { PixelImage } from './haar-image.js';
export { createHaarDetector, HaarDetectorError, type HaarDetector, type HaarFace } from './haar.js';
