export {
  DETECTOR_MODEL_FILES,
  createFaceDetector,
  type DetectionOptions,
  type DetectorModelRole,
  type DetectorRuntime,
  type DetectorSession,
  type DnnFace,
  type DnnFaceDetector,
} from './dnn.js';
export { loadFaceDetector, type FaceDetectorOptions } from './dnn-node.js';
export type { DetectedFace, FaceDetector, FaceLandmarks } from './face-detector.js';
export type { PixelImage } from './haar-image.js';
export { loadHaarDetector, HaarDetectorError, type HaarDetector, type HaarDetectorOptions, type HaarFace } from './haar.js';
export { DETECTOR_NAMES, DETECTORS, isDetectorName, loadDetector, type DetectorName, type DetectorSettings } from './registry.js';
