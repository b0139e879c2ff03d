import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { FACE_PIXELS } from '../src/core/labels.js';
import { buildOnnx, decodeModelWeights, ModelWeightsError, quantizeOnnx } from '../src/export/index.js';
import { tensorLayout, tensorSize } from '../src/models/spec.js';
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

describe('decodeModelWeights: the weights of an export, read back', () => {
  test('gives back the architecture and every tensor of buildOnnx exactly', () => {
    const weights = randomWeights(3);
    const decoded = decodeModelWeights(buildOnnx(tinySpec(), weights), 'tiny.onnx');
    assert.deepEqual(decoded.spec, tinySpec());
    assert.deepEqual(decoded.weights, weights);
  });

  test('refuses an int8 model, a model without mien.spec and bytes that are not ONNX, each with a one-line ModelWeightsError', async () => {
    const float = buildOnnx(tinySpec(), randomWeights(4));
    const int8 = await quantizeOnnx(float, {
      calibration: syntheticFaces(8).images.reduce((f, p, i) => ((f[i] = p / 255), f), new Float32Array(8 * FACE_PIXELS)),
      runtime: ort,
    });
    assert.throws(
      () => decodeModelWeights(int8, 'q.onnx'),
      (err: Error) => err instanceof ModelWeightsError && /q\.onnx is int8-quantised .*give the float export/.test(err.message),
    );
    const foreign = buildOnnx(tinySpec(), randomWeights(4));
    // The same graph with its mien.spec entry renamed: an ONNX model mien did not write.
    const renamed = Buffer.from(foreign).toString('latin1').replace('mien.spec', 'mien.xxxx');
    assert.throws(() => decodeModelWeights(Buffer.from(renamed, 'latin1'), 'other.onnx'), /other\.onnx has no mien\.spec metadata/);
    assert.throws(() => decodeModelWeights(Buffer.from('not a model at all'), 'text.onnx'), /text\.onnx is not an ONNX model/);
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
    const { spec, weights } = decodeModelWeights(await readFile(join(trained, 'best.onnx')), 'best.onnx');

    const faces = Float32Array.from(syntheticFaces(6, 9).images, (p) => p / 255);
    const net = createNetwork(spec);
    net.setWeights(weights);
    const logits = await net.forward(faces);
    net.dispose();
    const session = await ort.InferenceSession.create(join(trained, 'best.onnx'));
    const expected = (await session.run({ input: new ort.Tensor('float32', faces, [6, 1, 48, 48]) })).logits!.data as Float32Array;
    logits.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `logit ${i}: ${v} against onnxruntime's ${expected[i]}`));

    // A learning rate too small to learn anything: what the run validates is what it started from.
    const still = ['--lr', '1e-9', '--epochs', '1'];
    const fromScratch = await runCli(['train', ...common, ...still, '--out', join(dir, 'scratch')], env());
    const fromInit = await runCli(
      [
        'train',
        ...common.filter((f, i, all) => f !== '--arch' && all[i - 1] !== '--arch'),
        ...still,
        '--init',
        trained,
        '--out',
        join(dir, 'init'),
      ],
      env(),
    );
    assert.equal(fromScratch.code, 0, fromScratch.stderr);
    assert.equal(fromInit.code, 0, fromInit.stderr);
    assert.match(fromInit.stdout, new RegExp(`starting from the weights of ${resolve(trained, 'best.onnx').replace(/[/.]/g, '\\$&')}`));
    const best = Math.max(...(await history(trained)).map((r) => r.valAccuracy));
    const [initEpoch] = await history(join(dir, 'init'));
    const [scratchEpoch] = await history(join(dir, 'scratch'));
    assert.ok(best > 0.6, `the first run learnt the bands (${best})`);
    assert.ok(
      Math.abs(initEpoch!.valAccuracy - best) < 0.1,
      `--init starts at the trained accuracy: ${initEpoch!.valAccuracy} against ${best}`,
    );
    assert.ok(scratchEpoch!.valAccuracy < best - 0.3, `a fresh network does not: ${scratchEpoch!.valAccuracy}`);
    const config = (await loadCheckpoint(join(dir, 'init', 'last.ckpt'))).config;
    assert.equal(config.init, resolve(trained, 'best.onnx'));
    assert.equal(config.arch, 'tiny-test');
  });

  test('a missing model, an int8 one, a shipped int8-only one and a different --arch are refused before training', async () => {
    const run = join(dir, 'refused');
    const missing = await runCli(['train', ...common, '--init', join(dir, 'nope.onnx'), '--out', run], env());
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--init .*nope\.onnx: no such file/);

    const float = buildOnnx(tinySpec(), randomWeights(5));
    const int8 = await quantizeOnnx(float, { calibration: new Float32Array(4 * FACE_PIXELS).fill(0.5), runtime: ort });
    await writeFile(join(dir, 'int8.onnx'), int8);
    const quantized = await runCli(['train', ...common, '--init', join(dir, 'int8.onnx'), '--out', run], env());
    assert.equal(quantized.code, 1);
    assert.match(quantized.stderr, /int8\.onnx is int8-quantised/);
    assert.doesNotMatch(quantized.stderr, /\n\s+at /, 'no stack trace');

    const shipped = await runCli(['train', ...common, '--init', 'accurate', '--out', run], env());
    assert.equal(shipped.code, 2);
    assert.match(shipped.stderr, /--init accurate: mien ships accurate as an int8 model only/);

    await writeFile(join(dir, 'float.onnx'), float);
    const other = await runCli(
      ['train', ...common.slice(0, 2), '--arch', 'mienet-s', '--init', join(dir, 'float.onnx'), '--out', run],
      env(),
    );
    assert.equal(other.code, 2);
    assert.match(other.stderr, /--init .*float\.onnx is a tiny-test, which does not fit --arch mienet-s/);
  });
});
