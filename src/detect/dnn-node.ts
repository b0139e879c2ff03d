/** The DNN face detector in Node: src/detect/dnn.ts on onnxruntime-node, with the model files read from models/. */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { nodeSessionOptions } from '../core/onnx-runtime.js';
import { packageRoot } from '../core/package-root.js';
import { DETECTOR_MODEL_FILES, createFaceDetector, type DetectionOptions, type DnnFaceDetector } from './dnn.js';

export interface FaceDetectorOptions extends DetectionOptions {
  /** onnxruntime threads. Default: all cores. */
  threads?: number;
}

/** Loads the default DNN face detector. */
export async function loadFaceDetector(options: FaceDetectorOptions = {}): Promise<DnnFaceDetector> {
  const { threads = availableParallelism(), ...detection } = options;
  const read = (file: string) => readFile(join(packageRoot(), 'models', file));
  const [fullRange, shortRange] = await Promise.all([read(DETECTOR_MODEL_FILES.fullRange), read(DETECTOR_MODEL_FILES.shortRange)]);
  return createFaceDetector({ ort, models: { fullRange, shortRange }, sessionOptions: nodeSessionOptions(threads) }, detection);
}
