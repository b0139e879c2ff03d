/**
 * int8 quantisation of a mien ONNX model, in ONNX's QDQ form: the graph stays standard ONNX (QuantizeLinear /
 * DequantizeLinear pairs around float operators), and onnxruntime — Node and wasm alike — fuses each
 * DequantizeLinear → Conv → QuantizeLinear into an int8 convolution when it loads the model.
 *
 * - Batch norms that follow a convolution are folded into it first, so the folded weights are what gets quantised.
 * - Convolution weights: int8, symmetric, one scale per output channel; biases int32 at the scale of input × weight,
 *   as onnxruntime's QDQ convolution requires.
 * - Activations that feed a Conv, Add or Mul: uint8, asymmetric, from the minimum and maximum each one reaches on
 *   calibration faces (training faces: the faces a model is judged on must not shape it).
 * - Everything else (pooling, the squeeze-and-excitation gates' dense layers, the classifier) stays float32.
 * - One of the two operands of a convolution gets 7 bits, not 8: on x86 CPUs without VNNI (AVX2 and plain AVX-512)
 *   onnxruntime multiplies uint8 × int8 pairs with VPMADDUBSW, whose int16 sum saturates past 32767 — 255 × 127 × 2
 *   reaches 64770, and on an AVX2 EPYC the 8-bit `fast` fell from 70.02 to 65.78 % on val. With 7-bit weights
 *   (|w| ≤ 63) or 7-bit activations (0–127) no pair can saturate, and every CPU computes the same model.
 */
import onnxProto from 'onnx-proto';
import { FACE_PIXELS } from '../core/labels.js';
import { INPUT_NAME } from '../core/model-format.js';
import { bytesOf, intAttr } from './onnx.js';
import { dimsOf, floatsOf, probeTensors, type ProbeOptions } from './onnx-graph.js';

// See onnx.ts: the alias gives onnx-proto's classes and interfaces.
import onnx = onnxProto.onnx;

const { DataType } = onnx.TensorProto;

/** Metadata entry describing how a model was quantised. */
export const QUANTIZATION_KEY = 'mien.quantization';

/** Which operand of each convolution is quantised to 7 bits, so that no uint8 × int8 pair sum saturates int16. */
export type SevenBitOperand = 'weights' | 'activations';
export const SEVEN_BIT_OPERANDS: readonly SevenBitOperand[] = ['weights', 'activations'];

/**
 * The faces the activation ranges are measured on (training faces), onnxruntime to run the float model with, and
 * which operand gets 7 bits (default weights, as onnxruntime's own quantiser's `reduce_range`).
 */
export interface QuantizeOptions extends ProbeOptions {
  sevenBit?: SevenBitOperand;
}

/** The largest quantised magnitude of each operand. */
interface Levels {
  /** Symmetric int8 weights span ±weight. */
  weight: number;
  /** uint8 activations span 0–activation. */
  activation: number;
}

const levelsFor = (sevenBit: SevenBitOperand): Levels =>
  sevenBit === 'weights' ? { weight: 63, activation: 255 } : { weight: 127, activation: 127 };

/** The operators whose activation inputs are quantised: with them, onnxruntime runs int8 kernels. */
const QUANTIZED_CONSUMERS = new Set(['Conv', 'Add', 'Mul']);

type Graph = onnx.IGraphProto;
type Node = onnx.INodeProto;

const initializer = (name: string, dataType: number, dims: number[], data: ArrayBufferView): onnx.ITensorProto => ({
  name,
  dataType,
  dims,
  rawData: bytesOf(data),
});

/** Lookups over a graph that change as it is rewritten. */
class GraphIndex {
  readonly initializers: Map<string, onnx.ITensorProto>;

  constructor(readonly graph: Graph) {
    this.initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  }

  producer(tensor: string): Node | undefined {
    return this.graph.node!.find((n) => n.output!.includes(tensor));
  }

  consumers(tensor: string): Node[] {
    return this.graph.node!.filter((n) => n.input!.includes(tensor));
  }

  floats(name: string): Float32Array {
    const tensor = this.initializers.get(name);
    if (!tensor) throw new Error(`internal: no initializer ${name}`);
    return floatsOf(tensor);
  }

  setInitializer(tensor: onnx.ITensorProto): void {
    const existing = this.graph.initializer!.findIndex((t) => t.name === tensor.name);
    if (existing >= 0) this.graph.initializer![existing] = tensor;
    else this.graph.initializer!.push(tensor);
    this.initializers.set(tensor.name!, tensor);
  }

  /** Removes initializers no node reads any more. */
  dropUnused(): void {
    const used = new Set(this.graph.node!.flatMap((n) => n.input!));
    this.graph.initializer = this.graph.initializer!.filter((t) => used.has(t.name!));
    for (const name of [...this.initializers.keys()]) if (!used.has(name)) this.initializers.delete(name);
  }
}

/** Folds every BatchNormalization whose input is a Conv used by nothing else into that Conv's weights and bias. */
function foldBatchNorms(index: GraphIndex): void {
  const graph = index.graph;
  for (const bn of [...graph.node!]) {
    if (bn.opType !== 'BatchNormalization') continue;
    const conv = index.producer(bn.input![0]!);
    if (conv?.opType !== 'Conv' || index.consumers(conv.output![0]!).length !== 1) continue;
    const eps = bn.attribute!.find((a) => a.name === 'epsilon')?.f ?? 1e-5;
    const [gamma, beta, mean, variance] = bn.input!.slice(1).map((name) => index.floats(name)) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const weightName = conv.input![1]!;
    const weightTensor = index.initializers.get(weightName)!;
    const weights = index.floats(weightName);
    const channels = gamma.length;
    const perChannel = weights.length / channels;
    const bias = conv.input![2] ? index.floats(conv.input![2]) : new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const k = gamma[c]! / Math.sqrt(variance[c]! + eps);
      for (let j = 0; j < perChannel; j++) weights[c * perChannel + j]! *= k;
      bias[c] = (bias[c]! - mean[c]!) * k + beta[c]!;
    }
    index.setInitializer(initializer(weightName, DataType.FLOAT, dimsOf(weightTensor), weights));
    const biasName = conv.input![2] ?? `${conv.name}.bias`;
    index.setInitializer(initializer(biasName, DataType.FLOAT, [channels], bias));
    conv.input = [conv.input![0]!, weightName, biasName];
    conv.output = [bn.output![0]!];
    graph.node!.splice(graph.node!.indexOf(bn), 1);
  }
  index.dropUnused();
}

/** The activation tensors (not initializers) that quantised operators read, in graph order. */
function activationsToQuantize(index: GraphIndex): string[] {
  const targets = new Set<string>();
  for (const node of index.graph.node!) {
    if (!QUANTIZED_CONSUMERS.has(node.opType!)) continue;
    // A convolution's weights and bias are quantised apart; its activation is input 0.
    const inputs = node.opType === 'Conv' ? [node.input![0]!] : node.input!;
    for (const input of inputs) if (!index.initializers.has(input)) targets.add(input);
  }
  return [...targets];
}

interface Range {
  min: number;
  max: number;
}

/** Each target's minimum and maximum over the calibration faces, from the float model with the targets as outputs. */
async function measureRanges(model: onnx.ModelProto, targets: string[], options: QuantizeOptions): Promise<Map<string, Range>> {
  const ranges = new Map<string, Range>(targets.map((t) => [t, { min: 0, max: 0 }]));
  const widen = (range: Range, values: ArrayLike<number>) => {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < range.min) range.min = v;
      else if (v > range.max) range.max = v;
    }
  };
  const outputs = targets.filter((t) => t !== INPUT_NAME);
  await probeTensors(model, outputs, options, (values, input) => {
    if (ranges.has(INPUT_NAME)) widen(ranges.get(INPUT_NAME)!, input);
    for (const [name, data] of values) widen(ranges.get(name)!, data);
  });
  return ranges;
}

/** uint8 scale and zero point mapping `range` and 0 onto 0–levels (so zero, and ReLU's floor, are exact). */
function activationQuantization({ min, max }: Range, levels: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  const scale = hi > lo ? (hi - lo) / levels : 1;
  return { scale, zeroPoint: Math.min(levels, Math.max(0, Math.round(-lo / scale))) };
}

/**
 * Puts QuantizeLinear → DequantizeLinear on each target right where it is produced, and makes every consumer read
 * the dequantised copy. Returns each target's scale.
 */
function insertActivationQdq(index: GraphIndex, targets: string[], ranges: Map<string, Range>, levels: number): Map<string, number> {
  const graph = index.graph;
  const scales = new Map<string, number>();
  for (const tensor of targets) {
    const { scale, zeroPoint } = activationQuantization(ranges.get(tensor)!, levels);
    scales.set(tensor, scale);
    const [scaleName, zeroName, quantized, dequantized] = ['scale', 'zero_point', 'q', 'dq'].map((s) => `${tensor}.${s}`) as [
      string,
      string,
      string,
      string,
    ];
    index.setInitializer(initializer(scaleName, DataType.FLOAT, [], Float32Array.of(scale)));
    index.setInitializer(initializer(zeroName, DataType.UINT8, [], Uint8Array.of(zeroPoint)));
    for (const consumer of index.consumers(tensor)) consumer.input = consumer.input!.map((i) => (i === tensor ? dequantized : i));
    const pair: Node[] = [
      { opType: 'QuantizeLinear', name: quantized, input: [tensor, scaleName, zeroName], output: [quantized] },
      { opType: 'DequantizeLinear', name: dequantized, input: [quantized, scaleName, zeroName], output: [dequantized] },
    ];
    const producer = index.producer(tensor);
    graph.node!.splice(producer ? graph.node!.indexOf(producer) + 1 : 0, 0, ...pair);
  }
  return scales;
}

/** The activation scale a node input was quantised with: the input is a DequantizeLinear's output. */
function inputScale(index: GraphIndex, tensor: string): number {
  const dq = index.producer(tensor);
  if (dq?.opType !== 'DequantizeLinear') throw new Error(`internal: ${tensor} is not dequantised`);
  return index.floats(dq.input![1]!)[0]!;
}

/** Each Conv's weights to ±levels per output channel and its bias to int32, read through DequantizeLinear (axis 0). */
function quantizeConvolutions(index: GraphIndex, levels: number): void {
  const graph = index.graph;
  for (const conv of graph.node!.filter((n) => n.opType === 'Conv')) {
    const [x, weightName, biasName] = conv.input! as [string, string, string | undefined];
    const dims = dimsOf(index.initializers.get(weightName)!);
    const weights = index.floats(weightName);
    const channels = dims[0]!;
    const perChannel = weights.length / channels;
    const scales = new Float32Array(channels);
    const quantized = new Int8Array(weights.length);
    for (let c = 0; c < channels; c++) {
      let maxAbs = 0;
      for (let j = 0; j < perChannel; j++) maxAbs = Math.max(maxAbs, Math.abs(weights[c * perChannel + j]!));
      scales[c] = maxAbs > 0 ? maxAbs / levels : 1;
      for (let j = 0; j < perChannel; j++) quantized[c * perChannel + j] = Math.round(weights[c * perChannel + j]! / scales[c]!);
    }
    const dequantizers: Node[] = [];
    const dequantize = (
      name: string,
      dataType: number,
      values: ArrayBufferView,
      scale: Float32Array,
      zero: ArrayBufferView,
      shape: number[],
    ) => {
      index.setInitializer(initializer(`${name}.quantized`, dataType, shape, values));
      index.setInitializer(initializer(`${name}.scale`, DataType.FLOAT, [channels], scale));
      index.setInitializer(initializer(`${name}.zero_point`, dataType, [channels], zero));
      dequantizers.push({
        opType: 'DequantizeLinear',
        name: `${name}.dq`,
        input: [`${name}.quantized`, `${name}.scale`, `${name}.zero_point`],
        output: [`${name}.dq`],
        attribute: [intAttr('axis', 0)],
      });
      return `${name}.dq`;
    };
    const inputs = [x, dequantize(weightName, DataType.INT8, quantized, scales, new Int8Array(channels), dims)];
    if (biasName) {
      const bias = index.floats(biasName);
      const xScale = inputScale(index, x);
      const biasScales = scales.map((s) => s * xScale);
      const biasQuantized = Int32Array.from(bias, (b, c) => Math.round(b / biasScales[c]!));
      inputs.push(dequantize(biasName, DataType.INT32, biasQuantized, biasScales, new Int32Array(channels), [channels]));
    }
    conv.input = inputs;
    graph.node!.splice(graph.node!.indexOf(conv), 0, ...dequantizers);
  }
  index.dropUnused();
}

/**
 * The int8 (QDQ) version of a mien ONNX model, calibrated on `options.calibration`. Its outputs, metadata and
 * input are the float model's; metadata gains `mien.quantization`, saying how it was made.
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-node';
 * import { readFile, writeFile } from 'node:fs/promises';
 * import { quantizeOnnx } from 'mien-fer/export';
 * const int8 = await quantizeOnnx(await readFile('fast-fp32.onnx'), { calibration: trainingFaces, runtime: ort });
 * await writeFile('fast-int8.onnx', int8); // 2.79 MB beside the float model's 10.42 MB
 * ```
 */
export async function quantizeOnnx(bytes: Uint8Array, options: QuantizeOptions): Promise<Uint8Array> {
  const model = onnx.ModelProto.decode(bytes);
  const index = new GraphIndex(model.graph!);
  foldBatchNorms(index);
  const targets = activationsToQuantize(index);
  const ranges = await measureRanges(model, targets, options);
  const levels = levelsFor(options.sevenBit ?? 'weights');
  insertActivationQdq(index, targets, ranges, levels.activation);
  quantizeConvolutions(index, levels.weight);
  const faces = options.calibration.length / FACE_PIXELS;
  const description = {
    weights: `int8 in ±${levels.weight}, symmetric, per output channel (convolutions; batch norms folded in)`,
    activations: `uint8 in 0–${levels.activation}, asymmetric, min/max over ${faces} calibration faces (inputs of Conv, Add, Mul)`,
    format: 'QDQ',
  };
  model.metadataProps = [
    ...model.metadataProps.filter((p) => p.key !== QUANTIZATION_KEY),
    { key: QUANTIZATION_KEY, value: JSON.stringify(description) },
  ];
  return onnx.ModelProto.encode(model).finish();
}
