export { buildOnnx, writeOnnx, readOnnxMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, type OnnxMetadata } from './onnx.js';
export { exportRun, OnnxExport } from './run.js';
export { setOnnxMetadata, writeOnnxMetadata, type OnnxMetadataChanges } from './metadata.js';
export { quantizeOnnx, QUANTIZATION_KEY, type QuantizeOptions } from './quantize.js';
export {
  carryWeights,
  decodeModelWeights,
  loadModelSpec,
  loadModelWeights,
  ModelWeightsError,
  type CarriedWeights,
  type ModelWeights,
} from './weights.js';
export type { ProbeOptions } from './onnx-graph.js';
