/**
 * The weights of a model mien exported, read back for training (`mien train --init`): the inverse of buildOnnx. A
 * float export holds every tensor of `tensorLayout(spec)` as an initializer of the same name, and its architecture in
 * the `mien.spec` metadata entry, so the file alone rebuilds the network it came from.
 */
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { MienError } from '../core/errors.js';
import { decodeOnnxMetadata } from '../core/model-format.js';
import { tensorLayout, tensorSize, validateSpec, type ModelSpec } from '../models/spec.js';
import { QUANTIZATION_KEY } from './quantize.js';

// See onnx.ts: the alias gives onnx-proto's classes and interfaces.
import onnx = onnxProto.onnx;

/** A model file whose weights cannot be trained from: unreadable, not mien's, int8, or not matching its architecture. */
export class ModelWeightsError extends MienError {
  override readonly code = 'model_weights';
}

export interface ModelWeights {
  spec: ModelSpec;
  /** Every tensor in `tensorLayout(spec)` order, as Network.setWeights takes them. */
  weights: Float32Array[];
}

/**
 * The architecture and float weights of a mien ONNX export (a run's best.onnx, `models/fast-fp32.onnx`); `name` says
 * which file in errors. An int8 model cannot be trained from: quantisation folded its batch norms into the
 * convolutions, so the statistics the network normalises with are gone.
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { decodeModelWeights } from 'mien-fer/export';
 * const { spec, weights } = decodeModelWeights(await readFile('models/fast-fp32.onnx'), 'fast-fp32.onnx');
 * console.log(spec.name, weights.length); // mienet-s 118
 * ```
 */
export function decodeModelWeights(bytes: Uint8Array, name: string): ModelWeights {
  let metadata: Record<string, string>;
  try {
    metadata = decodeOnnxMetadata(bytes, name);
  } catch (err) {
    throw new ModelWeightsError((err as Error).message);
  }
  if (metadata[QUANTIZATION_KEY] !== undefined)
    throw new ModelWeightsError(
      `${name} is int8-quantised (its batch norms are folded into the convolutions), so it cannot be trained from: ` +
        'give the float export (a run folder or its best.onnx; the shipped fast as models/fast-fp32.onnx)',
    );
  const specText = metadata['mien.spec'];
  if (specText === undefined)
    throw new ModelWeightsError(`${name} has no mien.spec metadata: only models mien exported can be trained from`);
  let spec: ModelSpec;
  try {
    spec = JSON.parse(specText) as ModelSpec;
    validateSpec(spec);
  } catch (err) {
    throw new ModelWeightsError(`${name}: its mien.spec metadata is not a valid architecture (${(err as Error).message})`);
  }
  const initializers = new Map(onnx.ModelProto.decode(bytes).graph?.initializer?.map((t) => [t.name ?? '', t]) ?? []);
  const weights = tensorLayout(spec).map((info) => {
    const tensor = initializers.get(info.name);
    if (!tensor) throw new ModelWeightsError(`${name} lacks weight tensor ${info.name} of its architecture ${spec.name}`);
    const size = tensorSize(info);
    const raw = tensor.rawData;
    if (tensor.dataType !== onnx.TensorProto.DataType.FLOAT || !raw || raw.byteLength !== size * 4)
      throw new ModelWeightsError(`${name}: weight tensor ${info.name} should hold ${size} float32 values [${info.shape}]`);
    // Copied into an aligned buffer: raw_data's offset in the file need not be a multiple of 4.
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(raw);
    if (!data.every(Number.isFinite)) throw new ModelWeightsError(`${name}: weight tensor ${info.name} holds NaN or Infinity`);
    return data;
  });
  return { spec, weights };
}

/** decodeModelWeights of the file at `path`. */
export async function loadModelWeights(path: string): Promise<ModelWeights> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new ModelWeightsError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return decodeModelWeights(bytes, path);
}
