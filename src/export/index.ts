export { buildOnnx, writeOnnx, readOnnxMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, type OnnxMetadata } from './onnx.js';
export { exportRun, OnnxExport } from './run.js';
export { setOnnxMetadata, writeOnnxMetadata, type OnnxMetadataChanges } from './metadata.js';
export { quantizeOnnx, QUANTIZATION_KEY, SEVEN_BIT_OPERANDS, type QuantizeOptions, type SevenBitOperand } from './quantize.js';
export {
  carryWeights,
  decodeModelWeights,
  floatModelOf,
  loadModelSpec,
  loadModelWeights,
  ModelWeightsError,
  type CarriedWeights,
  type ModelWeights,
} from './weights.js';
export type { ProbeOptions } from './onnx-graph.js';
