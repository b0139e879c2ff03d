/**
 * mien — facial expression recognition for Node and the browser.
 *
 * The stages, each its own module (and sub-path export), over src/core (labels, geometry, errors; see docs/architecture.md):
 *   data    FER2013 CSVs and image folders → 48×48 gray faces, splits, cache, augmentation   (`mien/data`)
 *   models  the architecture definitions, summaries and diagrams                            (`mien/models`)
 *   train   the native libtorch engine and the training loop                                (`mien/train`)
 *   export  ONNX files for onnxruntime-node and onnxruntime-web                             (`mien/export`)
 *   eval    metrics, calibration, reports                                                   (`mien/eval`)
 *   plot    training curves and charts (vega-lite)                                          (`mien/plot`)
 *   detect  face detectors: MediaPipe's DNN converted to ONNX, and OpenCV's Haar cascades     (`mien/detect`)
 *   recognize  the pipeline: decode, detect, align, crop, classify, annotate                 (`mien/recognize`)
 *   video   ffmpeg decode/encode, face tracking and smoothing                                (`mien/video`)
 *   server  the HTTP API of `mien serve` (fastify): recognition, models, health, OpenAPI docs  (`mien/server`)
 */
export { EXPRESSIONS, FACE_PIXELS, FACE_SIZE, NUM_CLASSES, type Expression } from './core/labels.js';
export { MienError, type MienErrorOptions } from './core/errors.js';
export * from './data/index.js';
export * from './models/index.js';
export * from './train/index.js';
export * from './export/index.js';
export * from './eval/index.js';
export * from './plot/index.js';
export * from './recognize/index.js';
export * from './detect/index.js';
export * from './video/index.js';
export * from './server/index.js';
