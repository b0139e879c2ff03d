/**
 * Reading what an ONNX graph holds and computes, shared by the int8 quantiser and the weight reader: initializer
 * values, and the values of inner tensors on faces (the graph run with those tensors made its outputs).
 */
import onnxProto from 'onnx-proto';
import { FACE_PIXELS, FACE_SIZE } from '../core/labels.js';
import { INPUT_NAME } from '../core/model-format.js';
import type { InferenceSession, OnnxRuntime } from '../core/onnx-runtime.js';

// See onnx.ts: the alias gives onnx-proto's classes and interfaces.
import onnx = onnxProto.onnx;

const { DataType } = onnx.TensorProto;

/** An initializer's values as float32 (copied, so the result is aligned). */
export function floatsOf(tensor: onnx.ITensorProto): Float32Array {
  if (tensor.dataType !== DataType.FLOAT) throw new Error(`initializer ${tensor.name} is not float32`);
  if (tensor.rawData && tensor.rawData.byteLength > 0) return new Float32Array(new Uint8Array(tensor.rawData).slice().buffer);
  return Float32Array.from(tensor.floatData ?? []);
}

/** A tensor's shape as numbers (protobufjs decodes int64 fields as Long objects). */
export const dimsOf = (tensor: onnx.ITensorProto): number[] => (tensor.dims ?? []).map((d) => Number(d.toString()));

/** Faces to run a graph on, and the runtime to run it with. */
export interface ProbeOptions {
  /** n × 48 × 48 floats, gray / 255, as the model takes them. */
  calibration: Float32Array;
  /** onnxruntime (onnxruntime-node in Node). */
  runtime: OnnxRuntime;
  sessionOptions?: InferenceSession.SessionOptions;
}

/**
 * Runs `model` on the calibration faces, 64 at a time, with the inner tensors `outputs` as its outputs, and hands each
 * batch's values of each to `onBatch` (with the batch's input itself, which is no node's output).
 */
export async function probeTensors(
  model: onnx.IModelProto,
  outputs: string[],
  options: ProbeOptions,
  onBatch: (values: ReadonlyMap<string, Float32Array>, input: Float32Array) => void,
): Promise<void> {
  const { calibration, runtime } = options;
  const faces = calibration.length / FACE_PIXELS;
  if (!Number.isInteger(faces) || faces < 1) throw new Error(`calibration holds ${calibration.length} values, not whole 48×48 faces`);
  const probe = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  probe.graph!.output = outputs.map((name) => onnx.ValueInfoProto.create({ name }));
  const session = await runtime.InferenceSession.create(onnx.ModelProto.encode(probe).finish(), options.sessionOptions);
  const BATCH = 64;
  try {
    for (let start = 0; start < faces; start += BATCH) {
      const n = Math.min(BATCH, faces - start);
      const batch = calibration.subarray(start * FACE_PIXELS, (start + n) * FACE_PIXELS);
      const result = await session.run({ [INPUT_NAME]: new runtime.Tensor('float32', batch, [n, 1, FACE_SIZE, FACE_SIZE]) }, outputs);
      onBatch(new Map(outputs.map((name) => [name, result[name]!.data as Float32Array])), batch);
    }
  } finally {
    await session.release();
  }
}
