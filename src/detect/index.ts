export { createFaceDetector, type DnnFace, type DnnFaceDetector, type FaceDetectorOptions, type FaceLandmarks } from './dnn.js';
export type { PixelImage } from './haar-image.js';
export { createHaarDetector, HaarDetectorError, type HaarDetector, type HaarFace } from './haar.js';
