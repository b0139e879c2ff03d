export { buildOnnx, writeOnnx, readOnnxMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, type OnnxMetadata } from './onnx.js';
