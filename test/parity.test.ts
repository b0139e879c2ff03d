/**
 * The exported ONNX graph must compute what the libtorch network computes: for every architecture, the same weights
 * and the same faces give the same probabilities in the addon (eval mode) and in onnxruntime.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildOnnx, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME } from '../src/export/index.js';
import { Rng } from '../src/data/random.js';
import { FACE_PIXELS, NUM_CLASSES } from '../src/core/labels.js';
import { getArchitecture, listArchitectures, tensorLayout, type ModelSpec, type TensorInfo } from '../src/models/index.js';
import { createNetwork, engineInfo } from '../src/train/engine.js';

const BATCH = 4;
const TOLERANCE = 1e-4;
/** Logit range (max − min over the batch) the classifier is stretched to, about that of a trained FER network. */
const LOGIT_SPREAD = 10;

const uniform = (random: Rng, n: number, lo: number, hi: number): Float32Array =>
  Float32Array.from({ length: n }, () => random.uniform(lo, hi));

/**
 * A fresh network keeps batch norm at identity (γ 1, β 0, mean 0, var 1), which would let a graph that mishandles
 * any of the four pass; random values make every one of them matter.
 */
const BATCHNORM_RANGES: Record<string, [number, number]> = {
  weight: [0.5, 1.5],
  bias: [-0.3, 0.3],
  running_mean: [-0.3, 0.3],
  running_var: [0.3, 2],
};

function randomizeBatchNorm(weights: Float32Array[], layout: TensorInfo[], seed: number): Float32Array[] {
  const random = new Rng(seed);
  const split = (name: string): [string, string] => {
    const dot = name.lastIndexOf('.');
    return [name.slice(0, dot), name.slice(dot + 1)];
  };
  // Only batch-norm layers own a running_mean; their weight and bias share its layer path.
  const batchNormLayers = new Set(layout.filter((t) => split(t.name)[1] === 'running_mean').map((t) => split(t.name)[0]));
  return weights.map((w, i) => {
    const [layer, tensor] = split(layout[i]!.name);
    if (!batchNormLayers.has(layer)) return w;
    const [lo, hi] = BATCHNORM_RANGES[tensor]!;
    return uniform(random, w.length, lo, hi);
  });
}

function softmaxRows(logits: Float32Array): Float64Array {
  const out = new Float64Array(logits.length);
  for (let row = 0; row < logits.length / NUM_CLASSES; row++) {
    const z = logits.subarray(row * NUM_CLASSES, (row + 1) * NUM_CLASSES);
    const max = Math.max(...z);
    const exps = Array.from(z, (v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    exps.forEach((e, k) => (out[row * NUM_CLASSES + k] = e / total));
  }
  return out;
}

/**
 * A fresh network's logits lie within a few tenths of zero, where softmax is so flat that a graph with a wrong batch-norm
 * epsilon still matches to 1e-4; scaling the final dense layer (weight and bias alike, so the logits scale exactly)
 * spreads them like a trained network's and makes the probabilities sensitive to every upstream error.
 */
function stretchClassifier(spec: ModelSpec, weights: Float32Array[], logits: Float32Array): Float32Array[] {
  const last = spec.layers.length - 1;
  assert.equal(spec.layers[last]!.type, 'dense', `${spec.name} does not end in a dense layer`);
  const scale = LOGIT_SPREAD / (Math.max(...logits) - Math.min(...logits));
  const layout = tensorLayout(spec);
  return weights.map((w, i) => (layout[i]!.name.startsWith(`layers.${last}.`) ? w.map((v) => v * scale) : w));
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

const engine = engineInfo();

for (const { name } of listArchitectures()) {
  test(`${name}: onnxruntime gives the addon's probabilities`, async (t) => {
    if (!engine.available) {
      t.skip(`native addon not built: ${engine.reason}`);
      return;
    }
    const spec = getArchitecture(name);
    const network = createNetwork(spec, { seed: 7 });
    try {
      const images = uniform(new Rng(13), BATCH * FACE_PIXELS, 0, 1);
      const randomized = randomizeBatchNorm(network.getWeights(), tensorLayout(spec), 11);
      network.setWeights(randomized);
      const weights = stretchClassifier(spec, randomized, await network.forward(images));
      network.setWeights(weights);
      const torchLogits = await network.forward(images);
      const torchProbabilities = softmaxRows(torchLogits);

      const session = await ort.InferenceSession.create(buildOnnx(spec, weights));
      const result = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', images, [BATCH, ...spec.input]) });
      await session.release();
      const onnxLogits = result[LOGITS_NAME]!.data as Float32Array;
      const onnxProbabilities = result[PROBABILITIES_NAME]!.data as Float32Array;

      const probabilityDiff = maxAbsDiff(onnxProbabilities, torchProbabilities);
      const logitDiff = maxAbsDiff(onnxLogits, torchLogits);
      t.diagnostic(`${name}: max |Δ probability| ${probabilityDiff.toExponential(2)}, max |Δ logit| ${logitDiff.toExponential(2)}`);
      assert.ok(probabilityDiff < TOLERANCE, `${name}: probabilities differ by up to ${probabilityDiff}`);
    } finally {
      network.dispose();
    }
  });
}
