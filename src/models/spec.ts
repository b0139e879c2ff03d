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
  /** Batch norm over channels (2-D after conv layers, 1-D after dense layers), eps 1e-5 (torch), momentum 0.1. */
  | { type: 'batchnorm'; eps?: number }
  | { type: 'relu' }
  /** Max pooling, floor mode; stride defaults to kernel. */
  | { type: 'maxpool'; kernel: number; stride?: number }
  /** Dropout with drop probability p (identity at inference, so it is absent from the exported graph). */
  | { type: 'dropout'; p: number }
  | { type: 'flatten' }
  | { type: 'globalavgpool' }
  /** Fully connected layer. Bias defaults to true. */
  | { type: 'dense'; out: number; bias?: boolean }
  /** out = body(x) + (shortcut ? shortcut(x) : x); the body and shortcut must produce the same shape. */
  | { type: 'residual'; body: Layer[]; shortcut?: Layer[] }
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

export function convPadding(layer: Extract<Layer, { type: 'conv' }>): number {
  if (layer.padding === undefined || layer.padding === 'valid') return 0;
  if (layer.padding === 'same') return Math.floor(layer.kernel / 2);
  return layer.padding;
}

export const poolStride = (layer: Extract<Layer, { type: 'maxpool' }>): number => layer.stride ?? layer.kernel;

export const seHidden = (channels: number, reduction: number): number => Math.max(1, Math.floor(channels / reduction));

const size = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** An architecture that does not fit together (a layer's input, an unknown name, a bad ModelSpec file). */
export class SpecError extends MienError {}

/** Output shape of one layer for a given input shape; throws SpecError on a layer that does not fit. */
export function layerOutputShape(layer: Layer, input: Shape, path: string): Shape {
  const need4d = (): [number, number, number] => {
    if (input.length !== 3) throw new SpecError(`${path} (${layer.type}) needs a [C,H,W] input, got [${input}]`);
    return input as [number, number, number];
  };
  switch (layer.type) {
    case 'conv': {
      const [, h, w] = need4d();
      const s = layer.stride ?? 1;
      const p = convPadding(layer);
      const oh = Math.floor((h + 2 * p - layer.kernel) / s) + 1;
      const ow = Math.floor((w + 2 * p - layer.kernel) / s) + 1;
      if (oh < 1 || ow < 1) throw new SpecError(`${path} (conv ${layer.kernel}×${layer.kernel}) does not fit a ${h}×${w} input`);
      return [layer.out, oh, ow];
    }
    case 'maxpool': {
      const [c, h, w] = need4d();
      const s = poolStride(layer);
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

export function sequenceOutputShape(layers: Layer[], input: Shape, path: string): Shape {
  return layers.reduce((shape, layer, i) => layerOutputShape(layer, shape, `${path}.${i}`), input);
}

/** Checks that the spec is well formed and ends in `classes` logits; returns the final shape. */
export function validateSpec(spec: ModelSpec): Shape {
  const out = sequenceOutputShape(spec.layers, spec.input, 'layers');
  if (out.length !== 1 || out[0] !== spec.classes) {
    throw new SpecError(`${spec.name}: the network must end in ${spec.classes} logits, it gives [${out}]`);
  }
  return out;
}

/**
 * Every weight and statistic tensor of the network, depth first, in the order the addon reads and writes them:
 * conv → weight [out,in,k,k], bias; batchnorm → weight, bias, running_mean, running_var; dense → weight [out,in], bias;
 * se → fc1.weight, fc1.bias, fc2.weight, fc2.bias; residual → body's, then shortcut's.
 */
export function tensorLayout(spec: ModelSpec): TensorInfo[] {
  const out: TensorInfo[] = [];
  const walk = (layers: Layer[], input: Shape, path: string): Shape =>
    layers.reduce((shape, layer, i) => {
      const p = `${path}.${i}`;
      const add = (name: string, tshape: number[], trainable = true) => out.push({ name: `${p}.${name}`, shape: tshape, trainable });
      switch (layer.type) {
        case 'conv':
          add('weight', [layer.out, shape[0]!, layer.kernel, layer.kernel]);
          if (layer.bias ?? true) add('bias', [layer.out]);
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
          if (layer.bias ?? true) add('bias', [layer.out]);
          break;
        case 'se': {
          const c = shape[0]!;
          const h = seHidden(c, layer.reduction);
          add('fc1.weight', [h, c]);
          add('fc1.bias', [h]);
          add('fc2.weight', [c, h]);
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
  walk(spec.layers, spec.input, 'layers');
  return out;
}

export const tensorSize = (t: TensorInfo): number => size(t.shape);
