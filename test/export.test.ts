import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { buildOnnx, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, readOnnxMetadata, writeOnnx } from '../src/export/index.js';
import { Rng } from '../src/data/random.js';
import { EXPRESSIONS, FACE_PIXELS } from '../src/core/labels.js';
import { makeSpec, seHidden, tensorLayout, tensorSize, type Layer, type ModelSpec } from '../src/models/spec.js';
import onnx = onnxProto.onnx;

/** Every layer type, both batch-norm ranks, biased and unbiased conv/dense, all padding forms, both residual kinds. */
const EVERY_LAYER = makeSpec('every-layer', 'test net covering every layer type', [
  { type: 'conv', out: 4, kernel: 3, padding: 'same' },
  { type: 'batchnorm' },
  { type: 'relu' },
  { type: 'maxpool', kernel: 2 },
  {
    type: 'residual',
    body: [
      { type: 'conv', out: 4, kernel: 3, padding: 'same', bias: false },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'conv', out: 4, kernel: 3, padding: 1 },
    ],
  },
  {
    type: 'residual',
    body: [
      { type: 'conv', out: 8, kernel: 3, stride: 2, padding: 'same' },
      { type: 'batchnorm', eps: 1e-3 },
      { type: 'relu' },
      { type: 'conv', out: 8, kernel: 3, padding: 'same' },
    ],
    shortcut: [{ type: 'conv', out: 8, kernel: 1, stride: 2, bias: false }, { type: 'batchnorm' }],
  },
  { type: 'se', reduction: 4 },
  { type: 'relu' },
  { type: 'dropout', p: 0.3 },
  { type: 'maxpool', kernel: 3, stride: 2 },
  { type: 'conv', out: 8, kernel: 2, padding: 'valid' },
  { type: 'flatten' },
  { type: 'dense', out: 16, bias: false },
  { type: 'batchnorm' },
  { type: 'relu' },
  { type: 'dropout', p: 0.5 },
  { type: 'dense', out: 7 },
]);

/** A global-average-pool head, with a redundant flatten the exporter must pass through. */
const GAP_HEAD = makeSpec('gap-head', 'test net ending in global average pooling', [
  { type: 'conv', out: 6, kernel: 5, stride: 3, padding: 2 },
  { type: 'relu' },
  { type: 'se', reduction: 2 },
  { type: 'globalavgpool' },
  { type: 'flatten' },
  { type: 'dense', out: 7 },
]);

const uniform = (random: Rng, n: number, lo: number, hi: number): Float32Array =>
  Float32Array.from({ length: n }, () => random.uniform(lo, hi));

/** Random weights scaled by fan-in, and batch-norm statistics far enough from (0, 1) that batch norm really acts. */
function randomWeights(spec: ModelSpec, seed: number): Float32Array[] {
  const random = new Rng(seed);
  return tensorLayout(spec).map((t) => {
    const n = tensorSize(t);
    const leaf = t.name.slice(t.name.lastIndexOf('.') + 1);
    if (leaf === 'running_var') return uniform(random, n, 0.3, 2);
    if (leaf === 'running_mean') return uniform(random, n, -0.5, 0.5);
    if (t.shape.length === 1) return uniform(random, n, -0.3, 0.3).map((v) => (leaf === 'weight' ? 1 + v : v));
    const bound = Math.sqrt(6 / (n / t.shape[0]!));
    return uniform(random, n, -bound, bound);
  });
}

// ---- reference forward pass, one sample at a time, in float64 ----

interface Tensor {
  /** [C,H,W] or [F]. */
  shape: number[];
  data: Float64Array;
}

type Weights = Map<string, Float32Array>;

function conv(x: Tensor, w: Float32Array, bias: Float32Array | undefined, out: number, k: number, stride: number, pad: number): Tensor {
  const [cin, h, wd] = x.shape as [number, number, number];
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(out * oh * ow);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        let sum = bias ? bias[o]! : 0;
        for (let c = 0; c < cin; c++)
          for (let ki = 0; ki < k; ki++)
            for (let kj = 0; kj < k; kj++) {
              const r = i * stride - pad + ki;
              const col = j * stride - pad + kj;
              if (r < 0 || r >= h || col < 0 || col >= wd) continue;
              sum += x.data[(c * h + r) * wd + col]! * w[((o * cin + c) * k + ki) * k + kj]!;
            }
        y[(o * oh + i) * ow + j] = sum;
      }
  return { shape: [out, oh, ow], data: y };
}

function batchnorm(x: Tensor, w: Weights, p: string, eps: number): Tensor {
  const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => w.get(`${p}.${n}`)!);
  const channels = x.shape[0]!;
  const spatial = x.data.length / channels;
  const y = x.data.map((v, idx) => {
    const c = Math.floor(idx / spatial);
    return ((v - mean![c]!) / Math.sqrt(variance![c]! + eps)) * gamma![c]! + beta![c]!;
  });
  return { shape: x.shape, data: y };
}

function maxpool(x: Tensor, k: number, stride: number): Tensor {
  const [c, h, wd] = x.shape as [number, number, number];
  const oh = Math.floor((h - k) / stride) + 1;
  const ow = Math.floor((wd - k) / stride) + 1;
  const y = new Float64Array(c * oh * ow).fill(-Infinity);
  for (let ch = 0; ch < c; ch++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let ki = 0; ki < k; ki++)
          for (let kj = 0; kj < k; kj++) {
            const o = (ch * oh + i) * ow + j;
            y[o] = Math.max(y[o]!, x.data[(ch * h + i * stride + ki) * wd + j * stride + kj]!);
          }
  return { shape: [c, oh, ow], data: y };
}

function dense(x: Tensor, w: Float32Array, bias: Float32Array | undefined, out: number): Tensor {
  const inF = x.data.length;
  const y = Float64Array.from({ length: out }, (_, o) => {
    let sum = bias ? bias[o]! : 0;
    for (let i = 0; i < inF; i++) sum += x.data[i]! * w[o * inF + i]!;
    return sum;
  });
  return { shape: [out], data: y };
}

function gap(x: Tensor): Tensor {
  const channels = x.shape[0]!;
  const spatial = x.data.length / channels;
  const y = new Float64Array(channels);
  x.data.forEach((v, idx) => (y[Math.floor(idx / spatial)] += v / spatial));
  return { shape: [channels], data: y };
}

const relu = (x: Tensor): Tensor => ({ shape: x.shape, data: x.data.map((v) => Math.max(0, v)) });

// The reference reads the spec as written, restating its documented defaults, so that it checks normalizeSpec() too.
const referencePadding = (layer: Extract<Layer, { type: 'conv' }>): number =>
  layer.padding === 'same' ? Math.floor(layer.kernel / 2) : layer.padding === 'valid' ? 0 : (layer.padding ?? 0);

function referenceLayer(layer: Layer, x: Tensor, w: Weights, p: string): Tensor {
  switch (layer.type) {
    case 'conv':
      return conv(x, w.get(`${p}.weight`)!, w.get(`${p}.bias`), layer.out, layer.kernel, layer.stride ?? 1, referencePadding(layer));
    case 'batchnorm':
      return batchnorm(x, w, p, layer.eps ?? 1e-5);
    case 'relu':
      return relu(x);
    case 'maxpool':
      return maxpool(x, layer.kernel, layer.stride ?? layer.kernel);
    case 'dropout':
      return x;
    case 'flatten':
      return { shape: [x.data.length], data: x.data };
    case 'globalavgpool':
      return gap(x);
    case 'dense':
      return dense(x, w.get(`${p}.weight`)!, w.get(`${p}.bias`), layer.out);
    case 'residual': {
      const body = referenceSequence(layer.body, x, w, `${p}.body`);
      const shortcut = layer.shortcut ? referenceSequence(layer.shortcut, x, w, `${p}.shortcut`) : x;
      return { shape: body.shape, data: body.data.map((v, i) => v + shortcut.data[i]!) };
    }
    case 'se': {
      const channels = x.shape[0]!;
      const hidden = relu(dense(gap(x), w.get(`${p}.fc1.weight`)!, w.get(`${p}.fc1.bias`), seHidden(channels, layer.reduction)));
      const gate = dense(hidden, w.get(`${p}.fc2.weight`)!, w.get(`${p}.fc2.bias`), channels).data.map((v) => 1 / (1 + Math.exp(-v)));
      const spatial = x.data.length / channels;
      return { shape: x.shape, data: x.data.map((v, idx) => v * gate[Math.floor(idx / spatial)]!) };
    }
  }
}

function referenceSequence(layers: Layer[], x: Tensor, w: Weights, path: string): Tensor {
  return layers.reduce((t, layer, i) => referenceLayer(layer, t, w, `${path}.${i}`), x);
}

/** Logits of each face in a batch of gray/255 inputs. */
function referenceLogits(spec: ModelSpec, weights: Float32Array[], images: Float32Array): number[][] {
  const w: Weights = new Map(tensorLayout(spec).map((t, i) => [t.name, weights[i]!]));
  const out: number[][] = [];
  for (let s = 0; s < images.length / FACE_PIXELS; s++) {
    const face = { shape: [...spec.input], data: Float64Array.from(images.subarray(s * FACE_PIXELS, (s + 1) * FACE_PIXELS)) };
    out.push(Array.from(referenceSequence(spec.layers, face, w, 'layers').data));
  }
  return out;
}

const softmax = (logits: number[]): number[] => {
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
};

function maxAbsDiff(actual: Float32Array, expected: number[][]): number {
  return expected.flat().reduce((m, v, i) => Math.max(m, Math.abs(actual[i]! - v)), 0);
}

describe('ONNX export', () => {
  for (const [seed, spec] of [EVERY_LAYER, GAP_HEAD].entries()) {
    test(`${spec.name}: onnxruntime matches the reference forward pass for batches of 1 and 3`, async () => {
      const weights = randomWeights(spec, seed + 1);
      const session = await ort.InferenceSession.create(buildOnnx(spec, weights));
      assert.deepEqual(session.inputNames, [INPUT_NAME]);
      assert.deepEqual(session.outputNames, [LOGITS_NAME, PROBABILITIES_NAME]);
      const random = new Rng(100 + seed);
      for (const batch of [1, 3]) {
        const images = uniform(random, batch * FACE_PIXELS, 0, 1);
        const result = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', images, [batch, ...spec.input]) });
        const logits = result[LOGITS_NAME]!;
        const probabilities = result[PROBABILITIES_NAME]!;
        assert.deepEqual(logits.dims, [batch, 7]);
        assert.deepEqual(probabilities.dims, [batch, 7]);
        const probs = probabilities.data as Float32Array;
        for (let s = 0; s < batch; s++) {
          const sum = probs.subarray(s * 7, (s + 1) * 7).reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities of face ${s} sum to ${sum}`);
        }
        const expected = referenceLogits(spec, weights, images);
        // Logits spread well beyond rounding noise, so a wrong layer cannot pass by producing near-constant outputs.
        assert.ok(Math.max(...expected.flat()) - Math.min(...expected.flat()) > 0.1, 'reference logits are degenerate');
        const logitDiff = maxAbsDiff(logits.data as Float32Array, expected);
        assert.ok(logitDiff < 1e-4, `logits differ from the reference by ${logitDiff}`);
        const probDiff = maxAbsDiff(probs, expected.map(softmax));
        assert.ok(probDiff < 1e-4, `probabilities differ from the reference by ${probDiff}`);
      }
      await session.release();
    });
  }

  test('the graph is opset 13, names its initializers after tensorLayout and has no dropout', () => {
    const model = onnx.ModelProto.decode(buildOnnx(EVERY_LAYER, randomWeights(EVERY_LAYER, 1)));
    const graph = model.graph as onnx.GraphProto;
    assert.equal(model.producerName, 'mien');
    assert.deepEqual(
      model.opsetImport.map((o) => [o.domain, Number(o.version)]),
      [['', 13]],
    );
    const initializers = new Set(graph.initializer.map((t) => t.name));
    for (const t of tensorLayout(EVERY_LAYER)) assert.ok(initializers.has(t.name), `initializer ${t.name} missing`);
    const ops = new Set(graph.node.map((n) => n.opType));
    assert.ok(!ops.has('Dropout'));
    const expectedOps = [
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
      'Flatten',
      'Gemm',
      'Add',
      'GlobalAveragePool',
      'Sigmoid',
      'Reshape',
      'Mul',
      'Softmax',
    ];
    for (const op of expectedOps) {
      assert.ok(ops.has(op), `no ${op} node`);
    }
    assert.equal(graph.input[0]!.type!.tensorType!.shape!.dim![0]!.dimParam, 'N');
  });

  describe('files', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'mien-export-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('writeOnnx writes the metadata that readOnnxMetadata reads back', async () => {
      const path = join(dir, 'model.onnx');
      await writeOnnx(path, GAP_HEAD, randomWeights(GAP_HEAD, 5), { 'mien.val_accuracy': '0.6812', 'mien.data': 'fer2013' });
      assert.deepEqual(await readdir(dir), ['model.onnx'], 'the temporary file was left behind');
      const meta = await readOnnxMetadata(path);
      assert.deepEqual(JSON.parse(meta['mien.classes']!), EXPRESSIONS);
      assert.deepEqual(JSON.parse(meta['mien.input']!), { channels: 1, height: 48, width: 48, layout: 'NCHW', color: 'gray' });
      const normalization = JSON.parse(meta['mien.normalization']!);
      assert.equal(normalization.scale, 1 / 255);
      assert.equal(normalization.mean, 0);
      assert.equal(normalization.std, 1);
      assert.equal(meta['mien.architecture'], 'gap-head');
      assert.deepEqual(JSON.parse(meta['mien.spec']!), GAP_HEAD);
      assert.equal(meta['mien.val_accuracy'], '0.6812');
      assert.equal(meta['mien.data'], 'fer2013');
    });

    test('readOnnxMetadata rejects a file that is not ONNX', async () => {
      const path = join(dir, 'garbage.onnx');
      await writeFile(path, new Uint8Array(16).fill(0xff));
      await assert.rejects(readOnnxMetadata(path), /is not an ONNX model/);
    });
  });

  test('mismatched weights and reserved metadata keys are rejected with a clear error', () => {
    const weights = randomWeights(GAP_HEAD, 3);
    assert.throws(() => buildOnnx(GAP_HEAD, weights.slice(1)), /expected 8 weight tensors, got 7/);
    const wrongSize = weights.map((w, i) => (i === 2 ? w.subarray(1) : w));
    assert.throws(() => buildOnnx(GAP_HEAD, wrongSize), /weight tensor 2 \(layers\.2\.fc1\.weight\) should hold 18 values \[3,6\], got 17/);
    assert.throws(() => buildOnnx(GAP_HEAD, weights, { 'mien.classes': '[]' }), /mien\.classes is written by the exporter/);
  });
});
