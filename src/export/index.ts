export { buildOnnx, writeOnnx, readOnnxMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, type BuildOnnxOptions, type OnnxMetadata } from './onnx.js';
