import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { FACE_PIXELS, NUM_CLASSES } from '../src/core/labels.js';
import { facesToInput } from '../src/data/dataset.js';
import { Rng } from '../src/data/random.js';
import { buildOnnx, QUANTIZATION_KEY, quantizeOnnx } from '../src/export/index.js';
import { decodeOnnxMetadata } from '../src/core/model-format.js';
import { makeSpec, tensorLayout, tensorSize, type ModelSpec } from '../src/models/spec.js';
import { createExpressionModel } from '../src/recognize/expression-classifier.js';
import { runCli } from './helpers/cli.js';
import { syntheticFaces, writeFer2013Csv } from './helpers/synthetic.js';
import onnx = onnxProto.onnx;

/** mienet-s in miniature: conv + batch norm, a residual block with squeeze-and-excitation and a 1×1 shortcut. */
const spec: ModelSpec = makeSpec('quantize-test', 'small residual SE network', [
  { type: 'conv', out: 8, kernel: 3, padding: 'same', bias: false },
  { type: 'batchnorm' },
  { type: 'relu' },
  { type: 'maxpool', kernel: 2 },
  {
    type: 'residual',
    body: [
      { type: 'conv', out: 16, kernel: 3, padding: 'same', bias: false },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'conv', out: 16, kernel: 3, padding: 'same', bias: false },
      { type: 'batchnorm' },
      { type: 'se', reduction: 4 },
    ],
    shortcut: [{ type: 'conv', out: 16, kernel: 1, padding: 'same', bias: false }, { type: 'batchnorm' }],
  },
  { type: 'relu' },
  { type: 'globalavgpool' },
  { type: 'dense', out: NUM_CLASSES },
]);

/** The raw bytes of initializer `name`. */
function bytesOfTensor(graph: onnx.IGraphProto, name: string): ArrayBuffer {
  const raw = graph.initializer!.find((t) => t.name === name)!.rawData!;
  return raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
}

/** Weights drawn at random, batch-norm statistics included (variances positive), in tensorLayout order. */
function randomWeights(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return tensorLayout(spec).map((t) => {
    const n = tensorSize(t);
    if (t.name.endsWith('running_var')) return Float32Array.from({ length: n }, () => rng.uniform(0.5, 2));
    if (t.name.endsWith('running_mean')) return Float32Array.from({ length: n }, () => rng.uniform(-0.2, 0.2));
    // batch-norm scale near 1; conv and dense weights at a He-like spread for their fan-in
    if (t.shape.length === 1 && t.name.endsWith('.weight')) return Float32Array.from({ length: n }, () => rng.uniform(0.8, 1.2));
    const fanIn = t.shape.slice(1).reduce((a, b) => a * b, 1);
    const spread = t.shape.length > 1 ? Math.sqrt(6 / fanIn) : 0.1;
    return Float32Array.from({ length: n }, () => rng.uniform(-spread, spread));
  });
}

async function probabilities(bytes: Uint8Array, faces: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const input = new ort.Tensor('float32', faces, [faces.length / FACE_PIXELS, 1, 48, 48]);
  const out = (await session.run({ input }, ['probabilities']))['probabilities']!.data as Float32Array;
  await session.release();
  return out;
}

describe('int8 quantisation (ONNX QDQ)', () => {
  const float = buildOnnx(spec, randomWeights(3), { 'mien.temperature': '1.5' });
  const calibration = facesToInput(syntheticFaces(64, 11), 0, 64);
  const faces = facesToInput(syntheticFaces(70, 29), 0, 70);
  let int8: Uint8Array;
  before(async () => {
    int8 = await quantizeOnnx(float, { calibration, runtime: ort });
  });

  test('folds the batch norms, stores int8 weights and int32 biases, and keeps the metadata', () => {
    const graph = onnx.ModelProto.decode(int8).graph!;
    const ops = graph.node!.map((n) => n.opType);
    assert.equal(ops.filter((op) => op === 'BatchNormalization').length, 0, 'every batch norm follows a conv: all folded');
    assert.equal(ops.filter((op) => op === 'Conv').length, 4);
    // the input of every Conv, Add and Mul is quantised: 4 conv inputs (two share one), the add's 2, the mul's 2
    assert.ok(ops.filter((op) => op === 'QuantizeLinear').length >= 6);
    const types = new Map(graph.initializer!.map((t) => [t.name!, t.dataType]));
    for (const conv of graph.node!.filter((n) => n.opType === 'Conv')) {
      const weight = graph.node!.find((n) => n.output![0] === conv.input![1])!;
      assert.equal(weight.opType, 'DequantizeLinear');
      assert.equal(types.get(weight.input![0]!), onnx.TensorProto.DataType.INT8);
      // 7-bit weights: no uint8 × int8 pair sum can saturate int16 on CPUs without VNNI
      const values = new Int8Array(bytesOfTensor(graph, weight.input![0]!));
      assert.ok(values.every((v) => Math.abs(v) <= 63) && values.some((v) => Math.abs(v) === 63), `${weight.input![0]} spans ±63`);
      const bias = graph.node!.find((n) => n.output![0] === conv.input![2])!;
      assert.equal(types.get(bias.input![0]!), onnx.TensorProto.DataType.INT32);
    }
    const metadata = decodeOnnxMetadata(int8, 'int8');
    assert.equal(metadata['mien.temperature'], '1.5');
    assert.equal(metadata['mien.architecture'], 'quantize-test');
    assert.match(metadata[QUANTIZATION_KEY]!, /int8 in ±63.*per output channel.*uint8 in 0–255.*64 calibration faces/);
    assert.ok(int8.byteLength < float.byteLength, `${int8.byteLength} bytes against ${float.byteLength}`);
  });

  test('gives the float model’s answers on faces it was not calibrated on', async () => {
    const [p, q] = [await probabilities(float, faces), await probabilities(int8, faces)];
    let agree = 0;
    let maxDiff = 0;
    for (let i = 0; i < 70; i++) {
      const row = (a: Float32Array) => Array.from(a.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES));
      const [a, b] = [row(p), row(q)];
      if (a.indexOf(Math.max(...a)) === b.indexOf(Math.max(...b))) agree++;
      for (let c = 0; c < NUM_CLASSES; c++) maxDiff = Math.max(maxDiff, Math.abs(a[c]! - b[c]!));
    }
    assert.ok(agree >= 66, `argmax agrees on ${agree} of 70 faces`);
    assert.ok(maxDiff < 0.05, `probabilities differ by up to ${maxDiff}`);
    // and it is a mien expression model like any other
    const model = await createExpressionModel({ ort, bytes: int8, name: 'int8', path: 'int8.onnx' });
    assert.equal(model.temperature, 1.5);
    assert.equal((await model.classify(faces.subarray(0, FACE_PIXELS))).length, NUM_CLASSES);
    await model.dispose();
  });

  test('7-bit activations instead: uint8 in 0–127, int8 weights in ±127, the float model’s answers still', async () => {
    const narrow = await quantizeOnnx(float, { calibration, runtime: ort, sevenBit: 'activations' });
    const graph = onnx.ModelProto.decode(narrow).graph!;
    const quantizers = graph.node!.filter((n) => n.opType === 'QuantizeLinear');
    const scales = new Map(graph.initializer!.map((t) => [t.name!, t]));
    for (const q of quantizers) {
      const zero = new Uint8Array(bytesOfTensor(graph, q.input![2]!))[0]!;
      assert.ok(zero <= 127, `${q.name} zero point ${zero}`);
      assert.ok(scales.has(q.input![1]!));
    }
    const weights = graph.node!.filter((n) => n.opType === 'DequantizeLinear' && n.name!.endsWith('.weight.dq'));
    assert.ok(
      weights.length === 4 && weights.every((w) => new Int8Array(bytesOfTensor(graph, w.input![0]!)).some((v) => Math.abs(v) === 127)),
    );
    assert.match(decodeOnnxMetadata(narrow, 'narrow')[QUANTIZATION_KEY]!, /int8 in ±127.*uint8 in 0–127/);
    const [p, q] = [await probabilities(float, faces), await probabilities(narrow, faces)];
    assert.ok(
      p.every((v, i) => Math.abs(v - q[i]!) < 0.08),
      `probabilities differ by up to ${Math.max(...p.map((v, i) => Math.abs(v - q[i]!)))}`,
    );
  });

  test('refuses calibration data that is not whole faces', async () => {
    await assert.rejects(quantizeOnnx(float, { calibration: new Float32Array(100), runtime: ort }), /not whole 48×48 faces/);
  });
});

describe('mien quantize', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-quantize-'));
    await writeFer2013Csv(join(dir, 'fer.csv'), syntheticFaces(84, 5), (i) => (i % 6 === 0 ? 'PublicTest' : 'Training'));
    await writeFile(join(dir, 'float.onnx'), buildOnnx(spec, randomWeights(5)));
  });
  after(async () => rm(dir, { recursive: true, force: true }));
  const env = () => ({ MIEN_CACHE_DIR: join(dir, 'cache') });

  test('writes the int8 model from training faces', async () => {
    const out = join(dir, 'out', 'int8.onnx');
    const r = await runCli(
      ['quantize', '--model', join(dir, 'float.onnx'), '--data', join(dir, 'fer.csv'), '--faces', '32', '--out', out],
      env(),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /activation ranges from 32 faces of the train split/);
    assert.match(r.stdout, /wrote .*int8\.onnx \(0\.\d\d MB; the float model is 0\.\d\d MB\)/);
    assert.match(decodeOnnxMetadata(await readFile(out), out)[QUANTIZATION_KEY]!, /32 calibration faces/);
  });

  test('an int8 model is quantised again from the float model read back from it, with the other 7-bit operand', async () => {
    const int8 = join(dir, 'out', 'int8.onnx');
    const again = join(dir, 'out', 'again.onnx');
    const r = await runCli(
      ['quantize', '--model', int8, '--data', join(dir, 'fer.csv'), '--faces', '32', '--seven-bit', 'activations', '--out', again],
      env(),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /int8\.onnx is int8: quantising the float model read back from it/);
    assert.match(decodeOnnxMetadata(await readFile(again), again)[QUANTIZATION_KEY]!, /int8 in ±127.*uint8 in 0–127/);
    const bad = await runCli(['quantize', '--model', int8, '--data', join(dir, 'fer.csv'), '--seven-bit', 'both', '--out', again], env());
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /argument 'both' is invalid\. Allowed choices are weights, activations/);
  });

  test('a missing model or split is one line, not a stack trace', async () => {
    const noModel = await runCli(
      ['quantize', '--model', join(dir, 'nope.onnx'), '--data', join(dir, 'fer.csv'), '--out', join(dir, 'x.onnx')],
      env(),
    );
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /nope\.onnx: no such model file/);
    const noSplit = await runCli(
      ['quantize', '--model', join(dir, 'float.onnx'), '--data', join(dir, 'fer.csv'), '--split', 'holdout', '--out', join(dir, 'x.onnx')],
      env(),
    );
    assert.equal(noSplit.code, 2);
    assert.match(noSplit.stderr, /holdout/);
    assert.doesNotMatch(noModel.stderr + noSplit.stderr, /\n\s+at /);
  });
});
