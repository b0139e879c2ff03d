/**
 * Writes a trained network as an ONNX model. libtorch has no ONNX exporter, so mien builds the graph itself from the
 * ModelSpec — the same definition the addon built the network from — and fills it with the weights in
 * `tensorLayout(spec)` order. The model is self-describing: its metadata says which classes the outputs are and how
 * the faces must be preprocessed, so an app only needs the .onnx file.
 */
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { EXPRESSIONS, NUM_CLASSES } from '../core/labels.js';
import {
  layerOutputShape,
  normalizeSpec,
  tensorLayout,
  tensorSize,
  type ModelSpec,
  type NormalizedLayer,
  type Shape,
} from '../models/spec.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { decodeOnnxMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME } from '../core/model-format.js';

export { INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME };

// onnx-proto is a CommonJS bundle whose namespace is attached at run time, so Node cannot expose it as a named export;
// the alias gives both its classes and its interfaces.
import onnx = onnxProto.onnx;

/** Extra `metadata_props` entries (training data, date, validation accuracy, …). */
export interface OnnxMetadata {
  [key: string]: string;
}

const OPSET = 13;
const IR_VERSION = 7;
/** Symbolic batch dimension of the input and outputs. */
const BATCH_DIM = 'N';

const { AttributeType } = onnx.AttributeProto;
const { DataType } = onnx.TensorProto;

type Attribute = onnx.IAttributeProto;
export const intAttr = (name: string, i: number): Attribute => ({ name, type: AttributeType.INT, i });
export const intsAttr = (name: string, ints: number[]): Attribute => ({ name, type: AttributeType.INTS, ints });
export const floatAttr = (name: string, f: number): Attribute => ({ name, type: AttributeType.FLOAT, f });

/** raw_data is little-endian by the ONNX spec, which is the native order on every platform onnxruntime-node ships for. */
export const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A weight tensor with its tensorLayout shape. */
interface ShapedWeights {
  data: Float32Array;
  shape: number[];
}

/** Nodes and initializers of the graph being written; node outputs are named after the node. */
class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];

  constructor(private readonly weights: ReadonlyMap<string, ShapedWeights>) {}

  /** Adds a node with one output named `name` and returns that output. */
  node(opType: string, name: string, inputs: string[], attribute: Attribute[] = []): string {
    this.nodes.push({ opType, name, input: inputs, output: [name], attribute });
    return name;
  }

  /** Adds the spec tensor `name` (a tensorLayout name) as an initializer and returns its name. */
  weight(name: string): string {
    const tensor = this.weights.get(name);
    // tensorLayout and this walk describe the same spec, so a miss is a bug in mien, not a user mistake.
    if (!tensor) throw new Error(`internal: the exporter needs tensor ${name}, which tensorLayout does not list`);
    this.initializers.push({ name, dims: tensor.shape, dataType: DataType.FLOAT, rawData: bytesOf(tensor.data) });
    return name;
  }

  int64Constant(name: string, values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: bytesOf(data) });
    return name;
  }

  /** Gives the tensor `from` the graph-output name `to`; `from` must be produced by a node and consumed by none. */
  renameOutput(from: string, to: string): void {
    const producer = this.nodes.find((n) => n.output![0] === from);
    if (!producer) throw new Error(`internal: no node produces ${from}`);
    producer.output = [to];
  }
}

/**
 * Emits `layers` on tensor `x` (shaped [N, ...shape]) and returns the output tensor and its shape without the batch
 * dimension. Every emitted tensor keeps the spec's rank, so vectors are [N,F] and feature maps [N,C,H,W].
 */
function emitSequence(g: GraphBuilder, layers: NormalizedLayer[], x: string, shape: Shape, path: string): { tensor: string; shape: Shape } {
  let tensor = x;
  layers.forEach((layer, i) => {
    const p = `${path}.${i}`;
    tensor = emitLayer(g, layer, tensor, shape, p);
    shape = layerOutputShape(layer, shape, p);
  });
  return { tensor, shape };
}

function emitLayer(g: GraphBuilder, layer: NormalizedLayer, x: string, shape: Shape, p: string): string {
  switch (layer.type) {
    case 'conv': {
      const inputs = [x, g.weight(`${p}.weight`)];
      if (layer.bias) inputs.push(g.weight(`${p}.bias`));
      const { stride, padding: pad } = layer;
      return g.node('Conv', p, inputs, [
        intsAttr('kernel_shape', [layer.kernel, layer.kernel]),
        intsAttr('strides', [stride, stride]),
        intsAttr('pads', [pad, pad, pad, pad]),
      ]);
    }
    case 'batchnorm':
      // ONNX BatchNormalization takes [N,C] as well as [N,C,H,W], so 1-D batch norm after dense layers needs no folding.
      return g.node(
        'BatchNormalization',
        p,
        [x, g.weight(`${p}.weight`), g.weight(`${p}.bias`), g.weight(`${p}.running_mean`), g.weight(`${p}.running_var`)],
        [floatAttr('epsilon', layer.eps)],
      );
    case 'relu':
      return g.node('Relu', p, [x]);
    case 'maxpool': {
      const { stride } = layer;
      return g.node('MaxPool', p, [x], [intsAttr('kernel_shape', [layer.kernel, layer.kernel]), intsAttr('strides', [stride, stride])]);
    }
    case 'dropout':
      return x;
    case 'flatten':
      return shape.length === 1 ? x : g.node('Flatten', p, [x], [intAttr('axis', 1)]);
    case 'globalavgpool':
      return g.node('Flatten', p, [g.node('GlobalAveragePool', `${p}.pool`, [x])], [intAttr('axis', 1)]);
    case 'dense': {
      const inputs = [x, g.weight(`${p}.weight`)];
      if (layer.bias) inputs.push(g.weight(`${p}.bias`));
      return g.node('Gemm', p, inputs, [intAttr('transB', 1)]);
    }
    case 'residual': {
      const body = emitSequence(g, layer.body, x, shape, `${p}.body`).tensor;
      const shortcut = layer.shortcut ? emitSequence(g, layer.shortcut, x, shape, `${p}.shortcut`).tensor : x;
      return g.node('Add', p, [body, shortcut]);
    }
    case 'se': {
      const channels = shape[0]!;
      const squeezed = g.node('Flatten', `${p}.squeeze`, [g.node('GlobalAveragePool', `${p}.pool`, [x])], [intAttr('axis', 1)]);
      const fc1 = g.node('Gemm', `${p}.fc1`, [squeezed, g.weight(`${p}.fc1.weight`), g.weight(`${p}.fc1.bias`)], [intAttr('transB', 1)]);
      const hidden = g.node('Relu', `${p}.fc1_relu`, [fc1]);
      const fc2 = g.node('Gemm', `${p}.fc2`, [hidden, g.weight(`${p}.fc2.weight`), g.weight(`${p}.fc2.bias`)], [intAttr('transB', 1)]);
      const gate = g.node('Sigmoid', `${p}.gate`, [fc2]);
      const gateShape = g.int64Constant(`${p}.gate_shape`, [-1, channels, 1, 1]);
      const gate4d = g.node('Reshape', `${p}.gate_nchw`, [gate, gateShape]);
      return g.node('Mul', p, [x, gate4d]);
    }
  }
}

/** Throws a one-line Error unless `weights` matches tensorLayout(spec) in count and sizes. */
function checkWeights(spec: ModelSpec, weights: Float32Array[]): Map<string, ShapedWeights> {
  const layout = tensorLayout(spec);
  if (weights.length !== layout.length) {
    throw new Error(`${spec.name}: expected ${layout.length} weight tensors, got ${weights.length}`);
  }
  return new Map(
    layout.map((info, i) => {
      const data = weights[i]!;
      if (data.length !== tensorSize(info)) {
        throw new Error(
          `${spec.name}: weight tensor ${i} (${info.name}) should hold ${tensorSize(info)} values [${info.shape}], got ${data.length}`,
        );
      }
      return [info.name, { data, shape: info.shape }];
    }),
  );
}

/** The metadata_props every mien model carries: what the outputs mean and how to feed the input. */
export function mienMetadata(spec: ModelSpec): Record<string, string> {
  const [channels, height, width] = spec.input;
  return {
    'mien.classes': JSON.stringify(EXPRESSIONS),
    'mien.input': JSON.stringify({ channels, height, width, layout: 'NCHW', color: 'gray' }),
    // The trainer feeds faces as gray / 255 in [0, 1]; consumers must do the same.
    'mien.normalization': JSON.stringify({ scale: 1 / 255, mean: 0, std: 1, formula: 'x = gray / 255' }),
    'mien.architecture': spec.name,
    'mien.spec': JSON.stringify(spec),
  };
}

export const tensorValueInfo = (name: string, dims: (number | string)[]): onnx.IValueInfoProto => ({
  name,
  type: {
    tensorType: {
      elemType: DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  },
});

/**
 * Encodes the network as an ONNX ModelProto (opset 13): input `input` [N,1,48,48] holding gray / 255, outputs
 * `logits` and `probabilities` [N,7]. `weights` are in tensorLayout(spec) order, as Network.getWeights() returns them.
 */
export function buildOnnx(spec: ModelSpec, weights: Float32Array[], extra: OnnxMetadata = {}): Uint8Array {
  const normalized = normalizeSpec(spec);
  if (spec.classes !== NUM_CLASSES) {
    throw new Error(`${spec.name}: mien models predict the ${NUM_CLASSES} expressions, this spec has ${spec.classes} classes`);
  }
  const metadata = mienMetadata(spec);
  for (const key of Object.keys(extra)) {
    if (key in metadata) throw new Error(`metadata key ${key} is written by the exporter and cannot be overridden`);
  }

  const g = new GraphBuilder(checkWeights(spec, weights));
  const final = emitSequence(g, normalized.layers, INPUT_NAME, normalized.input, 'layers').tensor;
  g.renameOutput(final, LOGITS_NAME);
  g.node('Softmax', PROBABILITIES_NAME, [LOGITS_NAME], [intAttr('axis', 1)]);

  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'mien',
    docString: spec.description,
    graph: {
      name: spec.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [tensorValueInfo(INPUT_NAME, [BATCH_DIM, ...spec.input])],
      output: [tensorValueInfo(LOGITS_NAME, [BATCH_DIM, spec.classes]), tensorValueInfo(PROBABILITIES_NAME, [BATCH_DIM, spec.classes])],
    },
    metadataProps: Object.entries({ ...metadata, ...extra }).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** buildOnnx, written atomically so a reader never sees a half-written model. */
export async function writeOnnx(path: string, spec: ModelSpec, weights: Float32Array[], extra?: OnnxMetadata): Promise<void> {
  await writeFileAtomic(path, buildOnnx(spec, weights, extra));
}

/** The metadata_props of an ONNX file as key → value. */
export async function readOnnxMetadata(path: string): Promise<Record<string, string>> {
  return decodeOnnxMetadata(await readFile(path), path);
}
