/**
 * The model definition language shared by every stage: the native trainer builds its network from it, the ONNX
 * exporter writes its graph from it, and `mien summary` reads shapes and parameter counts off it. Keeping one
 * definition means the trained weights and the exported graph can never disagree on layout.
 */
import { MienError } from '../core/errors.js';
import { FACE_SIZE, NUM_CLASSES } from '../core/labels.js';

export type Layer =
  /** 2-D convolution; `padding: 'same'` pads floor(kernel/2) on each side. Bias defaults to true. */
  | { type: 'conv'; out: number; kernel: number; stride?: number; padding?: 'same' | 'valid' | number; bias?: boolean }
  /** Batch norm over channels (2-D after conv layers, 1-D after dense layers), eps 1e-5 and momentum 0.1 (torch's). */
  | { type: 'batchnorm'; eps?: number; momentum?: number }
  | { type: 'relu' }
  /** Max pooling, floor mode; stride defaults to kernel. */
  | { type: 'maxpool'; kernel: number; stride?: number }
  /** Dropout with drop probability p (identity at inference, so it is absent from the exported graph). */
  | { type: 'dropout'; p: number }
  | { type: 'flatten' }
  | { type: 'globalavgpool' }
  /** Fully connected layer. Bias defaults to true. */
  | { type: 'dense'; out: number; bias?: boolean }
  /** out = body(x) + (shortcut ? shortcut(x) : x), no (or a null) shortcut being the identity; both give one shape. */
  | { type: 'residual'; body: Layer[]; shortcut?: Layer[] | null }
  /** Squeeze-excitation: x * sigmoid(fc2(relu(fc1(gap(x))))), fc1 to channels/reduction units (min 1). */
  | { type: 'se'; reduction: number };

export type LayerType = Layer['type'];

export interface ModelSpec {
  /** Architecture name, e.g. `deep`. */
  name: string;
  /** One line about where the architecture comes from. */
  description: string;
  /** Input shape without the batch dimension: [channels, height, width]. */
  input: [number, number, number];
  classes: number;
  layers: Layer[];
}

/**
 * A layer with every default filled in by normalizeSpec(): the one form summary, graph, tensorLayout, the ONNX
 * exporter and the native addon read, so none of them restates a default. Each is also a valid Layer.
 */
export type NormalizedLayer =
  /** `padding` in pixels on each side. */
  | { type: 'conv'; out: number; kernel: number; stride: number; padding: number; bias: boolean }
  | { type: 'batchnorm'; eps: number; momentum: number }
  | { type: 'relu' }
  | { type: 'maxpool'; kernel: number; stride: number }
  | { type: 'dropout'; p: number }
  | { type: 'flatten' }
  | { type: 'globalavgpool' }
  | { type: 'dense'; out: number; bias: boolean }
  /** `shortcut: null` is the identity. */
  | { type: 'residual'; body: NormalizedLayer[]; shortcut: NormalizedLayer[] | null }
  /** `hidden`: the units of fc1, seHidden(channels, reduction). */
  | { type: 'se'; reduction: number; hidden: number };

export interface NormalizedSpec extends ModelSpec {
  layers: NormalizedLayer[];
}

/** Shape without the batch dimension: [C, H, W] for feature maps or [F] for vectors. */
export type Shape = number[];

/** One tensor of trainable weights or batch-norm statistics, in the canonical order shared with the addon. */
export interface TensorInfo {
  /** Dotted path, e.g. `layers.4.body.1.running_mean`. */
  name: string;
  shape: number[];
  /** False for batch-norm running mean/variance (Keras counts them as non-trainable parameters). */
  trainable: boolean;
}

export function makeSpec(name: string, description: string, layers: Layer[]): ModelSpec {
  return { name, description, input: [1, FACE_SIZE, FACE_SIZE], classes: NUM_CLASSES, layers };
}

// The defaults of the optional Layer fields, each defined here only.
const DEFAULT_CONV_STRIDE = 1;
const DEFAULT_BIAS = true;
const DEFAULT_BN_EPS = 1e-5;
const DEFAULT_BN_MOMENTUM = 0.1;

function convPadding(layer: Extract<Layer, { type: 'conv' }>): number {
  if (layer.padding === undefined || layer.padding === 'valid') return 0;
  if (layer.padding === 'same') return Math.floor(layer.kernel / 2);
  return layer.padding;
}

export const seHidden = (channels: number, reduction: number): number => Math.max(1, Math.floor(channels / reduction));

const size = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** An architecture that does not fit together (a layer's input, an unknown name, a bad ModelSpec file). */
export class SpecError extends MienError {}

/** Output shape of one normalised layer for a given input shape; throws SpecError on a layer that does not fit. */
export function layerOutputShape(layer: NormalizedLayer, input: Shape, path: string): Shape {
  const need4d = (): [number, number, number] => {
    if (input.length !== 3) throw new SpecError(`${path} (${layer.type}) needs a [C,H,W] input, got [${input}]`);
    return input as [number, number, number];
  };
  switch (layer.type) {
    case 'conv': {
      const [, h, w] = need4d();
      const s = layer.stride;
      const p = layer.padding;
      const oh = Math.floor((h + 2 * p - layer.kernel) / s) + 1;
      const ow = Math.floor((w + 2 * p - layer.kernel) / s) + 1;
      if (oh < 1 || ow < 1) throw new SpecError(`${path} (conv ${layer.kernel}×${layer.kernel}) does not fit a ${h}×${w} input`);
      return [layer.out, oh, ow];
    }
    case 'maxpool': {
      const [c, h, w] = need4d();
      const s = layer.stride;
      const oh = Math.floor((h - layer.kernel) / s) + 1;
      const ow = Math.floor((w - layer.kernel) / s) + 1;
      if (oh < 1 || ow < 1) throw new SpecError(`${path} (maxpool ${layer.kernel}) does not fit a ${h}×${w} input`);
      return [c, oh, ow];
    }
    case 'batchnorm':
    case 'relu':
    case 'dropout':
      return input;
    case 'se':
      need4d();
      return input;
    case 'flatten':
      return [size(input)];
    case 'globalavgpool':
      return [need4d()[0]];
    case 'dense':
      if (input.length !== 1) throw new SpecError(`${path} (dense) needs a flat input; add a flatten layer before it`);
      return [layer.out];
    case 'residual': {
      const body = sequenceOutputShape(layer.body, input, `${path}.body`);
      const short = layer.shortcut ? sequenceOutputShape(layer.shortcut, input, `${path}.shortcut`) : input;
      if (body.join() !== short.join()) {
        throw new SpecError(`${path} (residual): body gives [${body}] but the shortcut gives [${short}]`);
      }
      return body;
    }
  }
}

export function sequenceOutputShape(layers: NormalizedLayer[], input: Shape, path: string): Shape {
  return layers.reduce((shape, layer, i) => layerOutputShape(layer, shape, `${path}.${i}`), input);
}

/**
 * One layer with its defaults filled in, given its input shape (se needs the channel count); throws SpecError unless
 * it fits that input.
 */
function normalizeLayer(layer: Layer, input: Shape, path: string): { layer: NormalizedLayer; output: Shape } {
  const normalized = ((): NormalizedLayer => {
    switch (layer.type) {
      case 'conv':
        return {
          type: 'conv',
          out: layer.out,
          kernel: layer.kernel,
          stride: layer.stride ?? DEFAULT_CONV_STRIDE,
          padding: convPadding(layer),
          bias: layer.bias ?? DEFAULT_BIAS,
        };
      case 'batchnorm':
        return { type: 'batchnorm', eps: layer.eps ?? DEFAULT_BN_EPS, momentum: layer.momentum ?? DEFAULT_BN_MOMENTUM };
      case 'maxpool':
        return { type: 'maxpool', kernel: layer.kernel, stride: layer.stride ?? layer.kernel };
      case 'dropout':
        return { type: 'dropout', p: layer.p };
      case 'dense':
        return { type: 'dense', out: layer.out, bias: layer.bias ?? DEFAULT_BIAS };
      case 'residual':
        return {
          type: 'residual',
          body: normalizeSequence(layer.body, input, `${path}.body`).layers,
          shortcut: layer.shortcut ? normalizeSequence(layer.shortcut, input, `${path}.shortcut`).layers : null,
        };
      case 'se': {
        // An se layer on a vector is reported by layerOutputShape below; hidden is then never read.
        const hidden = input.length === 3 ? seHidden(input[0]!, layer.reduction) : 0;
        return { type: 'se', reduction: layer.reduction, hidden };
      }
      case 'relu':
      case 'flatten':
      case 'globalavgpool':
        return { type: layer.type };
    }
  })();
  return { layer: normalized, output: layerOutputShape(normalized, input, path) };
}

function normalizeSequence(layers: Layer[], input: Shape, path: string): { layers: NormalizedLayer[]; output: Shape } {
  let shape = input;
  const normalized = layers.map((layer, i) => {
    const result = normalizeLayer(layer, shape, `${path}.${i}`);
    shape = result.output;
    return result.layer;
  });
  return { layers: normalized, output: shape };
}

/**
 * Checks that the spec is well formed and ends in `classes` logits, and returns it with every layer's defaults filled
 * in (conv stride, padding in pixels and bias; batch-norm eps and momentum; pool stride; dense bias; se hidden units;
 * residual shortcut, null for the identity), recursively. Idempotent: a normalised spec comes back equal.
 */
export function normalizeSpec(spec: ModelSpec): NormalizedSpec {
  const { layers, output } = normalizeSequence(spec.layers, spec.input, 'layers');
  if (output.length !== 1 || output[0] !== spec.classes) {
    throw new SpecError(`${spec.name}: the network must end in ${spec.classes} logits, it gives [${output}]`);
  }
  return { name: spec.name, description: spec.description, input: [...spec.input], classes: spec.classes, layers };
}

/** Checks that the spec is well formed and ends in `classes` logits; returns the final shape. */
export function validateSpec(spec: ModelSpec): Shape {
  normalizeSpec(spec);
  return [spec.classes];
}

/**
 * Every weight and statistic tensor of the network, depth first, in the order the addon reads and writes them:
 * conv → weight [out,in,k,k], bias; batchnorm → weight, bias, running_mean, running_var; dense → weight [out,in], bias;
 * se → fc1.weight, fc1.bias, fc2.weight, fc2.bias; residual → body's, then shortcut's.
 */
export function tensorLayout(spec: ModelSpec): TensorInfo[] {
  const out: TensorInfo[] = [];
  const walk = (layers: NormalizedLayer[], input: Shape, path: string): Shape =>
    layers.reduce((shape, layer, i) => {
      const p = `${path}.${i}`;
      const add = (name: string, tshape: number[], trainable = true) => out.push({ name: `${p}.${name}`, shape: tshape, trainable });
      switch (layer.type) {
        case 'conv':
          add('weight', [layer.out, shape[0]!, layer.kernel, layer.kernel]);
          if (layer.bias) add('bias', [layer.out]);
          break;
        case 'batchnorm': {
          const c = shape[0]!;
          add('weight', [c]);
          add('bias', [c]);
          add('running_mean', [c], false);
          add('running_var', [c], false);
          break;
        }
        case 'dense':
          add('weight', [layer.out, shape[0]!]);
          if (layer.bias) add('bias', [layer.out]);
          break;
        case 'se': {
          const c = shape[0]!;
          add('fc1.weight', [layer.hidden, c]);
          add('fc1.bias', [layer.hidden]);
          add('fc2.weight', [c, layer.hidden]);
          add('fc2.bias', [c]);
          break;
        }
        case 'residual':
          walk(layer.body, shape, `${p}.body`);
          if (layer.shortcut) walk(layer.shortcut, shape, `${p}.shortcut`);
          break;
        default:
          break;
      }
      return layerOutputShape(layer, shape, p);
    }, input);
  const normalized = normalizeSpec(spec);
  walk(normalized.layers, normalized.input, 'layers');
  return out;
}

export const tensorSize = (t: TensorInfo): number => size(t.shape);

/** Which trained layer each layer of another architecture takes its weights from (see matchLayers). */
export interface LayerMatch {
  /** Top-level layers of `to` with the layer of `from` whose weights they take: `['layers.4', 'layers.6']`. */
  pairs: [to: string, from: string][];
  /** Top-level layers of `to` with weights that match no layer of `from`: they start fresh. */
  fresh: string[];
}

/** The top-level layer a tensor of tensorLayout belongs to: `layers.4.body.0.weight` → `layers.4`. */
export const topLevelLayer = (tensor: string): string => /^layers\.\d+/.exec(tensor)![0];

/** Each top-level layer that has tensors, with its tensors' names relative to it and their shapes. */
function layerSignatures(spec: ModelSpec): { path: string; signature: string }[] {
  const tensors = new Map<string, string[]>();
  for (const info of tensorLayout(spec)) {
    const path = topLevelLayer(info.name);
    tensors.set(path, [...(tensors.get(path) ?? []), `${info.name.slice(path.length)}:${info.shape.join('×')}`]);
  }
  return [...tensors].map(([path, names]) => ({ path, signature: names.join(' ') }));
}

/**
 * Matches the layers of two architectures in order: each layer of `to` takes the next layer of `from` with the same
 * tensors of the same shapes, skipping layers of `from` with no counterpart (blocks left out). In order rather than by
 * shape alone, so that of two identical blocks the earlier goes to the earlier.
 */
export function matchLayers(from: ModelSpec, to: ModelSpec): LayerMatch {
  const source = layerSignatures(from);
  const pairs: [string, string][] = [];
  const fresh: string[] = [];
  let next = 0;
  for (const { path, signature } of layerSignatures(to)) {
    const found = source.findIndex((s, i) => i >= next && s.signature === signature);
    if (found < 0) {
      fresh.push(path);
    } else {
      pairs.push([path, source[found]!.path]);
      next = found + 1;
    }
  }
  return { pairs, fresh };
}
