/**
 * The weights of a model mien exported, read back for training (`mien train --init`): the inverse of buildOnnx and
 * of quantizeOnnx. A float export holds every tensor of `tensorLayout(spec)` as an initializer of the same name, and
 * its architecture in the `mien.spec` metadata entry, so the file alone rebuilds the network it came from.
 *
 * An int8 model has lost its batch norms that follow a convolution: quantisation folded each into the convolution's
 * weights W' and bias b'. Any batch norm after W' computes the same function in inference once its statistics are
 * those of W'x itself, so they are measured again on faces: with mean μ and variance σ² of W'x, running statistics
 * (μ, σ²), scale √(σ² + ε) and shift μ + b' give back exactly W'x + b' — and in training, where batch statistics
 * replace the running ones, close to it, so the network trains on from where it was instead of from a jolt.
 */
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { MienError } from '../core/errors.js';
import { FACE_PIXELS } from '../core/labels.js';
import { decodeOnnxMetadata } from '../core/model-format.js';
import {
  normalizeSpec,
  tensorLayout,
  tensorSize,
  validateSpec,
  matchLayers,
  topLevelLayer,
  type LayerMatch,
  type ModelSpec,
  type NormalizedLayer,
  type TensorInfo,
} from '../models/spec.js';
import { buildOnnx, mienMetadata } from './onnx.js';
import { floatsOf, probeTensors, type ProbeOptions } from './onnx-graph.js';
import { QUANTIZATION_KEY } from './quantize.js';

// See onnx.ts: the alias gives onnx-proto's classes and interfaces.
import onnx = onnxProto.onnx;

const { DataType } = onnx.TensorProto;

/** A model file whose weights cannot be trained from: unreadable, not mien's, or not matching its architecture. */
export class ModelWeightsError extends MienError {
  override readonly code = 'model_weights';
}

export interface ModelWeights {
  spec: ModelSpec;
  /** Every tensor in `tensorLayout(spec)` order, as Network.setWeights takes them. */
  weights: Float32Array[];
}

/** The architecture a mien model's metadata names (`mien.spec`); `name` says which file in errors. */
function modelSpecOf(metadata: Readonly<Record<string, string>>, name: string): ModelSpec {
  const text = metadata['mien.spec'];
  if (text === undefined) throw new ModelWeightsError(`${name} has no mien.spec metadata: only models mien exported can be trained from`);
  try {
    const spec = JSON.parse(text) as ModelSpec;
    validateSpec(spec);
    return spec;
  } catch (err) {
    throw new ModelWeightsError(`${name}: its mien.spec metadata is not a valid architecture (${(err as Error).message})`);
  }
}

/** The ε of every batch norm of the architecture, by its path as tensorLayout names it. */
function batchNormEpsilons(spec: ModelSpec): Map<string, number> {
  const eps = new Map<string, number>();
  const walk = (layers: NormalizedLayer[], path: string): void =>
    layers.forEach((layer, i) => {
      if (layer.type === 'batchnorm') eps.set(`${path}.${i}`, layer.eps);
      if (layer.type === 'residual') {
        walk(layer.body, `${path}.${i}.body`);
        if (layer.shortcut) walk(layer.shortcut, `${path}.${i}.shortcut`);
      }
    });
  walk(normalizeSpec(spec).layers, 'layers');
  return eps;
}

/** A quantised initializer `name` (int8 weights or int32 biases, one scale per output channel) as float32. */
function dequantized(initializers: ReadonlyMap<string, onnx.ITensorProto>, name: string): Float32Array {
  const q = initializers.get(`${name}.quantized`)!;
  const scales = floatsOf(initializers.get(`${name}.scale`)!);
  const raw = new Uint8Array(q.rawData!).slice().buffer;
  const values = q.dataType === DataType.INT8 ? new Int8Array(raw) : new Int32Array(raw);
  const perChannel = values.length / scales.length;
  return Float32Array.from(values, (v, i) => v * scales[Math.floor(i / perChannel)]!);
}

/** The path of the layer a tensor belongs to: `layers.3.weight` → `layers.3` (tensors of SE layers have two parts). */
const layerPath = (tensor: string): string => tensor.replace(/\.(fc[12]\.)?(weight|bias|running_mean|running_var)$/, '');

/** The layer before `path` in its sequence: `layers.body.3` → `layers.body.2`. */
const previousLayer = (path: string): string => path.replace(/\d+$/, (i) => String(Number(i) - 1));

/**
 * The architecture and weights of a mien ONNX model (a run's best.onnx, a shipped model): float ones as they are,
 * int8 ones dequantised with their folded batch norms measured again on `options.calibration` (training faces; an
 * int8 model without them is refused). `name` says which file in errors.
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { decodeModelWeights } from 'mien-fer/export';
 * const { spec, weights } = await decodeModelWeights(await readFile('models/lite-fp32.onnx'), 'lite-fp32.onnx');
 * console.log(spec.name, weights.length); // mienet-xs 64
 * ```
 */
export async function decodeModelWeights(bytes: Uint8Array, name: string, options?: ProbeOptions): Promise<ModelWeights> {
  const metadata = metadataOf(bytes, name);
  const spec = modelSpecOf(metadata, name);
  const quantized = metadata[QUANTIZATION_KEY] !== undefined;
  if (quantized && !options)
    throw new ModelWeightsError(`${name} is int8: reading its weights back needs faces to measure its batch norms on`);
  const model = onnx.ModelProto.decode(bytes);
  const initializers = new Map(model.graph?.initializer?.map((t) => [t.name ?? '', t]) ?? []);
  const layout = tensorLayout(spec);
  const values = new Map<string, Float32Array>();
  const foldedBatchNorms = new Set<string>();
  for (const info of layout) {
    const tensor = initializers.get(info.name);
    if (tensor?.dataType === DataType.FLOAT) values.set(info.name, floatsOf(tensor));
    else if (quantized && initializers.has(`${info.name}.quantized`)) values.set(info.name, dequantized(initializers, info.name));
    else if (quantized && !tensor && initializers.has(`${previousLayer(layerPath(info.name))}.weight.quantized`))
      foldedBatchNorms.add(layerPath(info.name));
    else throw new ModelWeightsError(`${name} lacks float weight tensor ${info.name} of its architecture ${spec.name}`);
  }
  if (foldedBatchNorms.size > 0) await unfoldBatchNorms(spec, model, initializers, [...foldedBatchNorms], values, options!);
  return { spec, weights: layout.map((info) => checked(info, values.get(info.name)!, name)) };
}

function checked(info: TensorInfo, data: Float32Array, name: string): Float32Array {
  if (data.length !== tensorSize(info))
    throw new ModelWeightsError(
      `${name}: weight tensor ${info.name} should hold ${tensorSize(info)} values [${info.shape}], it holds ${data.length}`,
    );
  if (!data.every(Number.isFinite)) throw new ModelWeightsError(`${name}: weight tensor ${info.name} holds NaN or Infinity`);
  return data;
}

/** Fills in `values` the tensors of each folded batch norm, and zeroes the bias of its convolution (b' is in its shift). */
async function unfoldBatchNorms(
  spec: ModelSpec,
  model: onnx.ModelProto,
  initializers: ReadonlyMap<string, onnx.ITensorProto>,
  batchNorms: string[],
  values: Map<string, Float32Array>,
  options: ProbeOptions,
): Promise<void> {
  const epsilons = batchNormEpsilons(spec);
  // Each folded convolution kept its node name (the spec path) and took over the batch norm's output.
  const folds = batchNorms.map((bn) => {
    const conv = previousLayer(bn);
    const node = model.graph!.node!.find((n) => n.name === conv && n.opType === 'Conv')!;
    const bias = dequantized(initializers, `${conv}.bias`);
    return {
      bn,
      conv,
      output: node.output![0]!,
      bias,
      sum: new Float64Array(bias.length),
      squares: new Float64Array(bias.length),
      count: 0,
    };
  });
  await probeTensors(
    model,
    folds.map((f) => f.output),
    options,
    (outputs, input) => {
      const n = input.length / FACE_PIXELS;
      for (const fold of folds) {
        const data = outputs.get(fold.output)!;
        const channels = fold.bias.length;
        const perChannel = data.length / (n * channels);
        for (let b = 0; b < n; b++)
          for (let c = 0; c < channels; c++) {
            const offset = (b * channels + c) * perChannel;
            let [s, q] = [0, 0];
            for (let j = 0; j < perChannel; j++) {
              const v = data[offset + j]!;
              s += v;
              q += v * v;
            }
            fold.sum[c] += s;
            fold.squares[c] += q;
          }
        fold.count += n * perChannel;
      }
    },
  );
  for (const { bn, conv, bias, sum, squares, count } of folds) {
    const eps = epsilons.get(bn)!;
    // Statistics of W'x + b'; those of W'x have the same variance and the mean less b'.
    const mean = Float32Array.from(sum, (s) => s / count);
    const variance = Float32Array.from(squares, (q, c) => Math.max(0, q / count - mean[c]! ** 2));
    values.set(
      `${bn}.running_mean`,
      Float32Array.from(mean, (m, c) => m - bias[c]!),
    );
    values.set(`${bn}.running_var`, variance);
    values.set(
      `${bn}.weight`,
      Float32Array.from(variance, (v) => Math.sqrt(v + eps)),
    );
    values.set(`${bn}.bias`, mean);
    if (values.has(`${conv}.bias`)) values.set(`${conv}.bias`, new Float32Array(bias.length));
  }
}

function metadataOf(bytes: Uint8Array, name: string): Record<string, string> {
  try {
    return decodeOnnxMetadata(bytes, name);
  } catch (err) {
    throw new ModelWeightsError((err as Error).message);
  }
}

async function readModel(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ModelWeightsError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * The float model an int8 mien model was quantised from, as near as it can be told: decodeModelWeights's weights in
 * buildOnnx's graph, with the int8 model's metadata but `mien.quantization`. So a shipped int8 model, whose float
 * original the package does not carry, can be quantised again (`mien quantize --model fast --seven-bit activations`).
 */
export async function floatModelOf(bytes: Uint8Array, name: string, options: ProbeOptions): Promise<Uint8Array> {
  const { spec, weights } = await decodeModelWeights(bytes, name, options);
  const written = mienMetadata(spec);
  const kept = Object.entries(metadataOf(bytes, name)).filter(([key]) => !(key in written) && key !== QUANTIZATION_KEY);
  return buildOnnx(spec, weights, Object.fromEntries(kept));
}

/** decodeModelWeights of the file at `path`. */
export async function loadModelWeights(path: string, options?: ProbeOptions): Promise<ModelWeights> {
  return decodeModelWeights(await readModel(path), path, options);
}

/** The architecture of the mien model at `path`, without reading its weights back. */
export async function loadModelSpec(path: string): Promise<ModelSpec> {
  return modelSpecOf(metadataOf(await readModel(path), path), path);
}

/** What carryWeights returns: weights for `to`, some carried over and the rest left to the network's own initialisation. */
export interface CarriedWeights extends LayerMatch {
  /** In `tensorLayout(to)` order; undefined where the tensor starts fresh. */
  weights: (Float32Array | undefined)[];
}

/**
 * Weights for architecture `to` from a trained model of another architecture of the same family, matched layer by
 * layer as matchLayers does. A network with blocks left out of a trained one (mienet-xs from mienet-s) so starts with
 * everything it kept already trained: dropping a residual block leaves the other blocks working, so a short schedule
 * has only to make up for the dropped ones.
 *
 * @example
 * ```ts
 * import { carryWeights, loadModelWeights } from 'mien-fer/export';
 * import { getArchitecture } from 'mien-fer/models';
 * // a mienet-s: the float file of the `fast` of 8a68ef7 (git show 8a68ef7:models/fast-fp32.onnx > fast-s.onnx)
 * const carried = carryWeights(await loadModelWeights('fast-s.onnx'), getArchitecture('mienet-xs'));
 * console.log(carried.pairs.map(([to, from]) => `${to} ← ${from}`).join(', '), '| fresh:', carried.fresh.length);
 * // layers.0 ← layers.0, layers.1 ← layers.1, layers.4 ← layers.6, layers.7 ← layers.9, layers.10 ← layers.14, layers.14 ← layers.18 | fresh: 0
 * ```
 */
export function carryWeights(from: ModelWeights, to: ModelSpec): CarriedWeights {
  const match = matchLayers(from.spec, to);
  const byName = new Map(tensorLayout(from.spec).map((info, i) => [info.name, from.weights[i]!]));
  const sourceOf = new Map(match.pairs);
  const weights = tensorLayout(to).map((info) => {
    const layer = topLevelLayer(info.name);
    const source = sourceOf.get(layer);
    return source === undefined ? undefined : byName.get(source + info.name.slice(layer.length));
  });
  return { ...match, weights };
}
