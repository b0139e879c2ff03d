export {
  DETECTOR_MODEL_FILES,
  createFaceDetector,
  type DetectionOptions,
  type DetectorRuntime,
  type DnnFace,
  type DnnFaceDetector,
  type FaceLandmarks,
} from './dnn.js';
export { loadFaceDetector, type FaceDetectorOptions } from './dnn-node.js';
export type { PixelImage } from './haar-image.js';
export { loadHaarDetector, HaarDetectorError, type HaarDetector, type HaarFace } from './haar.js';
