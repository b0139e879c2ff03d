/**
 * What an app needs to read a mien ONNX file, without the exporter: the tensor names and the metadata. It uses no
 * Node module, so the web app shares it.
 */
import onnxProto from 'onnx-proto';

export const INPUT_NAME = 'input';
export const LOGITS_NAME = 'logits';
export const PROBABILITIES_NAME = 'probabilities';
/** Metadata entry holding the softmax temperature `mien calibrate` fitted; the classifier applies it. */
export const TEMPERATURE_KEY = 'mien.temperature';

/** An ONNX model's bytes as a ModelProto; `name` says which file in the error when they are not one. */
export function decodeOnnxModel(bytes: Uint8Array, name: string): onnxProto.onnx.ModelProto {
  try {
    return onnxProto.onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`${name} is not an ONNX model (${(err as Error).message})`);
  }
}

/** The metadata_props of an ONNX model's bytes as key → value; `name` says which file in the error. */
export function decodeOnnxMetadata(bytes: Uint8Array, name: string): Record<string, string> {
  return Object.fromEntries(decodeOnnxModel(bytes, name).metadataProps.map((p) => [p.key, p.value]));
}
