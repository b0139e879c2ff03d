/**
 * What every face detector gives the pipeline: the contract a new detector implements (one file in detect/ and one
 * entry in ./registry.ts).
 */
import type { FaceLandmarks } from '../core/face-record.js';
import type { Box } from '../core/geometry.js';
import type { PixelImage } from './haar-image.js';

export type { FaceLandmarks } from '../core/face-record.js';

/** One face a detector found, in image pixels. */
export interface DetectedFace {
  /** The face box, framed like WIDER FACE's boxes (brows to chin, ear to ear). */
  box: Box;
  /** The detector's confidence, 0–1. */
  score: number;
  /** The DNN detector's six keypoints; the eyes make the expression crop rotate so they are level. Haar gives none. */
  landmarks?: FaceLandmarks;
}

export interface FaceDetector {
  /** Every face in the image. */
  detect(image: PixelImage): Promise<DetectedFace[]>;
  /** Frees the detector's onnxruntime sessions, if it holds any; it cannot detect afterwards. */
  dispose?(): Promise<void>;
}
