import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { FACE_PIXELS } from '../src/core/labels.js';
import { buildOnnx, carryWeights, decodeModelWeights, ModelWeightsError, quantizeOnnx } from '../src/export/index.js';
import { getArchitecture } from '../src/models/index.js';
import { makeSpec, matchLayers, tensorLayout, tensorSize, type ModelSpec } from '../src/models/spec.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import type { EpochRecord } from '../src/train/config.js';
import { createNetwork, engineInfo } from '../src/train/engine.js';
import { runCli } from './helpers/cli.js';
import { syntheticFaces, tinySpec, tinyTrainFlags, writeFer2013Csv } from './helpers/synthetic.js';

const randomWeights = (seed: number) => {
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  // Positive running variances, as a trained network has.
  return tensorLayout(tinySpec()).map((t) =>
    Float32Array.from({ length: tensorSize(t) }, () => (t.name.endsWith('running_var') ? 1 + rand() / 2 : rand())),
  );
};

const facesInput = (n: number, seed: number) => Float32Array.from(syntheticFaces(n, seed).images, (p) => p / 255);

/** The logits of an ONNX model on `faces` in onnxruntime-node. */
async function onnxLogits(bytes: Uint8Array, faces: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const result = await session.run({ input: new ort.Tensor('float32', faces, [faces.length / FACE_PIXELS, 1, 48, 48]) });
  await session.release();
  return result.logits!.data as Float32Array;
}

/** tinySpec with a residual block after its pool: tinySpec is it with the block left out. */
const tinyWithBlock = (): ModelSpec => {
  const layers = [...tinySpec().layers];
  layers.splice(
    4,
    0,
    { type: 'residual', body: [{ type: 'conv', out: 8, kernel: 3, padding: 'same', bias: false }, { type: 'batchnorm' }] },
    { type: 'relu' },
  );
  return makeSpec('tiny-block', 'tinySpec with a residual block', layers);
};

describe('matchLayers and carryWeights: weights for a network with blocks left out', () => {
  test('mienet-xs takes every layer it has from mienet-s, skipping the two blocks it leaves out', () => {
    const { pairs, fresh } = matchLayers(getArchitecture('mienet-s'), getArchitecture('mienet-xs'));
    assert.deepEqual(pairs, [
      ['layers.0', 'layers.0'],
      ['layers.1', 'layers.1'],
      ['layers.4', 'layers.6'],
      ['layers.7', 'layers.9'],
      ['layers.10', 'layers.14'],
      ['layers.14', 'layers.18'],
    ]);
    assert.deepEqual(fresh, []);
    // Another family matches nothing; the other way round, the blocks mienet-xs lacks start fresh.
    assert.deepEqual(matchLayers(getArchitecture('mienet-s'), getArchitecture('deep')).pairs, []);
    assert.deepEqual(matchLayers(getArchitecture('mienet-xs'), getArchitecture('mienet-s')).fresh, ['layers.3', 'layers.11']);
  });

  test('carried tensors are the trained ones, by name; unmatched ones are left undefined', () => {
    const from = { spec: tinyWithBlock(), weights: tensorLayout(tinyWithBlock()).map((t, i) => new Float32Array(tensorSize(t)).fill(i)) };
    const carried = carryWeights(from, tinySpec());
    const source = new Map(tensorLayout(from.spec).map((t, i) => [t.name, i]));
    const rename: Record<string, string> = {
      'layers.0': 'layers.0',
      'layers.1': 'layers.1',
      'layers.4': 'layers.6',
      'layers.8': 'layers.10',
    };
    tensorLayout(tinySpec()).forEach((t, i) => {
      const layer = /^layers\.\d+/.exec(t.name)![0];
      assert.equal(carried.weights[i]![0], source.get(rename[layer]! + t.name.slice(layer.length)), t.name);
    });
    const back = carryWeights({ spec: tinySpec(), weights: carried.weights as Float32Array[] }, tinyWithBlock());
    assert.deepEqual(back.fresh, ['layers.4']);
    assert.equal(back.weights.filter((w) => w === undefined).length, 5, "the block's conv weight and its batch norm's four tensors");
  });
});

describe('decodeModelWeights: the weights of an export, read back', () => {
  test('gives back the architecture and every tensor of buildOnnx exactly', async () => {
    const weights = randomWeights(3);
    const decoded = await decodeModelWeights(buildOnnx(tinySpec(), weights), 'tiny.onnx');
    assert.deepEqual(decoded.spec, tinySpec());
    assert.deepEqual(decoded.weights, weights);
  });

  test('an int8 model: dequantised, its folded batch norm measured again, the same function as the int8 model', async () => {
    const float = buildOnnx(tinySpec(), randomWeights(6));
    const calibration = facesInput(64, 2);
    const int8 = await quantizeOnnx(float, { calibration, runtime: ort });
    await assert.rejects(decodeModelWeights(int8, 'q.onnx'), /q\.onnx is int8: reading its weights back needs faces/);
    const decoded = await decodeModelWeights(int8, 'q.onnx', { calibration, runtime: ort });
    const faces = facesInput(14, 8);
    const [original, quantized, readBack] = await Promise.all(
      [float, int8, buildOnnx(decoded.spec, decoded.weights)].map((m) => onnxLogits(m, faces)),
    );
    const scale = Math.max(...original!.map(Math.abs));
    // The read-back float graph is the int8 one without its activation rounding: as close to the original as int8 is.
    const gap = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale;
    assert.ok(gap(readBack!, original!) < 0.05, `read back against the float original: ${gap(readBack!, original!)}`);
    assert.ok(gap(readBack!, quantized!) < 0.05, `read back against the int8 model: ${gap(readBack!, quantized!)}`);
    // The batch norm's statistics are those of the convolution's output on the calibration faces, not the defaults.
    const bn = tensorLayout(tinySpec()).findIndex((t) => t.name === 'layers.1.running_var');
    assert.ok(decoded.weights[bn]!.some((v) => Math.abs(v - 1) > 0.01));
  });

  test('refuses a model without mien.spec and bytes that are not ONNX, each with a one-line ModelWeightsError', async () => {
    const foreign = buildOnnx(tinySpec(), randomWeights(4));
    // The same graph with its mien.spec entry renamed: an ONNX model mien did not write.
    const renamed = Buffer.from(Buffer.from(foreign).toString('latin1').replace('mien.spec', 'mien.xxxx'), 'latin1');
    await assert.rejects(
      decodeModelWeights(renamed, 'other.onnx'),
      (err: Error) => err instanceof ModelWeightsError && /other\.onnx has no mien\.spec metadata/.test(err.message),
    );
    await assert.rejects(decodeModelWeights(Buffer.from('not a model at all'), 'text.onnx'), /text\.onnx is not an ONNX model/);
  });
});

const engine = engineInfo();
const skip = engine.available ? false : `native addon not built: ${engine.reason}`;

describe('mien train --init', { skip }, () => {
  let dir: string;
  let common: string[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-init-'));
    await writeFer2013Csv(join(dir, 'fer.csv'), syntheticFaces(420, 5), (i) => (i % 6 === 0 ? 'PublicTest' : 'Training'));
    await writeFile(join(dir, 'tiny.json'), JSON.stringify(tinySpec()));
    common = ['--data', join(dir, 'fer.csv'), ...tinyTrainFlags(join(dir, 'tiny.json')), '--seed', '7'];
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const env = () => ({ MIEN_CACHE_DIR: join(dir, 'cache') });
  const history = async (run: string) => JSON.parse(await readFile(join(run, 'history.json'), 'utf8')) as EpochRecord[];

  test('the network starts from the export: the same outputs as onnxruntime on it, and a run that begins where it ended', async () => {
    const trained = join(dir, 'trained');
    const first = await runCli(['train', ...common, '--epochs', '3', '--out', trained], env());
    assert.equal(first.code, 0, first.stderr);
    const { spec, weights } = await decodeModelWeights(await readFile(join(trained, 'best.onnx')), 'best.onnx');

    const faces = facesInput(6, 9);
    const net = createNetwork(spec);
    net.setWeights(weights);
    const logits = await net.forward(faces);
    net.dispose();
    const expected = await onnxLogits(await readFile(join(trained, 'best.onnx')), faces);
    logits.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `logit ${i}: ${v} against onnxruntime's ${expected[i]}`));

    // A learning rate too small to learn anything: what the run validates is what it started from. The int8 model
    // made from the run starts there too, its folded batch norm measured again on the training faces.
    const quantized = await runCli(
      ['quantize', '--model', join(trained, 'best.onnx'), '--data', join(dir, 'fer.csv'), '--out', join(dir, 'int8.onnx')],
      env(),
    );
    assert.equal(quantized.code, 0, quantized.stderr);
    const still = ['--lr', '1e-9', '--epochs', '1'];
    const withoutArch = common.filter((f, i, all) => f !== '--arch' && all[i - 1] !== '--arch');
    const [fromScratch, fromRun, fromInt8] = await Promise.all([
      runCli(['train', ...common, ...still, '--out', join(dir, 'scratch')], env()),
      runCli(['train', ...withoutArch, ...still, '--init', trained, '--out', join(dir, 'init')], env()),
      runCli(['train', ...withoutArch, ...still, '--init', join(dir, 'int8.onnx'), '--out', join(dir, 'init8')], env()),
    ]);
    for (const r of [fromScratch, fromRun, fromInt8]) assert.equal(r!.code, 0, r!.stderr);
    assert.match(fromRun!.stdout, new RegExp(`starting from the weights of ${resolve(trained, 'best.onnx').replace(/[/.]/g, '\\$&')}`));
    const best = Math.max(...(await history(trained)).map((r) => r.valAccuracy));
    const startedAt = async (run: string) => (await history(join(dir, run)))[0]!.valAccuracy;
    assert.ok(best > 0.6, `the first run learnt the bands (${best})`);
    assert.ok(
      Math.abs((await startedAt('init')) - best) < 0.1,
      `--init starts at the trained accuracy: ${await startedAt('init')} against ${best}`,
    );
    assert.ok(Math.abs((await startedAt('init8')) - best) < 0.1, `so does the int8 model: ${await startedAt('init8')} against ${best}`);
    assert.ok((await startedAt('scratch')) < best - 0.3, `a fresh network does not: ${await startedAt('scratch')}`);
    const config = (await loadCheckpoint(join(dir, 'init', 'last.ckpt'))).config;
    assert.equal(config.init, resolve(trained, 'best.onnx'));
    assert.equal(config.arch, 'tiny-test');
  });

  test('a missing model, a foreign one and an --arch with no layer in common are refused before training, in one line', async () => {
    const run = join(dir, 'refused');
    const missing = await runCli(['train', ...common, '--init', join(dir, 'nope.onnx'), '--out', run], env());
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--init .*nope\.onnx: no such file/);
    const folder = await runCli(['train', ...common, '--init', dir, '--out', run], env());
    assert.equal(folder.code, 2);
    assert.match(folder.stderr, /--init .*: a folder without best\.onnx/);

    await writeFile(join(dir, 'text.onnx'), 'not a model');
    const foreign = await runCli(['train', ...common, '--init', join(dir, 'text.onnx'), '--out', run], env());
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /text\.onnx is not an ONNX model/);
    assert.doesNotMatch(foreign.stderr, /\n\s+at /, 'no stack trace');

    await writeFile(join(dir, 'float.onnx'), buildOnnx(tinySpec(), randomWeights(5)));
    const other = await runCli(
      ['train', ...common.slice(0, 2), '--arch', 'mienet-s', '--init', join(dir, 'float.onnx'), '--out', run],
      env(),
    );
    assert.equal(other.code, 2);
    assert.match(other.stderr, /--init .*float\.onnx is a tiny-test, which shares no layer with --arch mienet-s/);
  });

  test('--arch with blocks left out of the --init model starts from its other layers', async () => {
    await writeFile(join(dir, 'block.json'), JSON.stringify(tinyWithBlock()));
    const trained = join(dir, 'block');
    const withBlock = common.map((f, i, all) => (all[i - 1] === '--arch' ? join(dir, 'block.json') : f));
    const first = await runCli(['train', ...withBlock, '--epochs', '1', '--out', trained], env());
    assert.equal(first.code, 0, first.stderr);
    const run = join(dir, 'dropped');
    const dropped = await runCli(['train', ...common, '--lr', '1e-9', '--epochs', '1', '--init', trained, '--out', run], env());
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.match(
      dropped.stdout,
      /tiny-test takes 4 layers from tiny-block \(layers\.0 ← layers\.0, layers\.1 ← layers\.1, layers\.4 ← layers\.6, layers\.8 ← layers\.10\)/,
    );
    const source = await decodeModelWeights(await readFile(join(trained, 'best.onnx')), 'best.onnx');
    const started = (await loadCheckpoint(join(run, 'last.ckpt'))).weights;
    const byName = new Map(tensorLayout(source.spec).map((t, i) => [t.name, source.weights[i]!]));
    for (const [name, from] of [
      ['layers.0.weight', 'layers.0.weight'],
      ['layers.4.weight', 'layers.6.weight'],
      ['layers.8.bias', 'layers.10.bias'],
    ]) {
      const i = tensorLayout(tinySpec()).findIndex((t) => t.name === name);
      started[i]!.forEach((v, k) => assert.ok(Math.abs(v - byName.get(from!)![k]!) < 1e-5, `${name}[${k}]: ${v} against ${from}'s`));
    }
  });
});
