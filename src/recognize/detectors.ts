import { loadFaceDetector, loadHaarDetector } from '../detect/index.js';
import type { FaceDetector } from './faces.js';

/** The detectors `--detector` names: the DNN default, the classic Haar cascade, or none (inputs are face crops). */
export const DETECTOR_NAMES = ['dnn', 'haar', 'none'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** A detector by name; each is loaded only when asked for, so `none` costs nothing. */
export async function detectorByName(name: DetectorName, options: { minFaceSize?: number } = {}): Promise<FaceDetector | 'none'> {
  switch (name) {
    case 'none':
      return 'none';
    case 'haar':
      return loadHaarDetector({ minFaceSize: options.minFaceSize });
    case 'dnn':
      return loadFaceDetector({ minFaceSize: options.minFaceSize });
  }
}
