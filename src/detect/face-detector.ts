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

/**
 * The face in another image's pixels, each coordinate (box and landmarks) mapped x → x · scaleX + dx, y → y · scaleY + dy: a
 * face found in a crop or a shrunk copy of a frame, placed in the frame, or the other way round.
 */
export function placeFace(
  face: DetectedFace,
  { scaleX = 1, scaleY = scaleX, dx = 0, dy = 0 }: { scaleX?: number; scaleY?: number; dx?: number; dy?: number },
): DetectedFace {
  const { x, y, width, height } = face.box;
  return {
    ...face,
    box: { x: x * scaleX + dx, y: y * scaleY + dy, width: width * scaleX, height: height * scaleY },
    ...(face.landmarks && {
      landmarks: Object.fromEntries(
        Object.entries(face.landmarks).map(([name, p]) => [name, { x: p.x * scaleX + dx, y: p.y * scaleY + dy }]),
      ) as unknown as FaceLandmarks,
    }),
  };
}

export interface FaceDetector {
  /** Every face in the image. */
  detect(image: PixelImage): Promise<DetectedFace[]>;
  /** Frees the detector's onnxruntime sessions, if it holds any; it cannot detect afterwards. */
  dispose?(): Promise<void>;
}
