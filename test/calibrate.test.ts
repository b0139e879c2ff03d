import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { FACE_PIXELS, NUM_CLASSES } from '../src/core/labels.js';
import { Rng } from '../src/data/random.js';
import {
  datasetLogits,
  evaluatePredictions,
  fitTemperature,
  temperatureEce,
  temperatureNll,
  TEMPERATURE_RANGE,
  type TemperatureFit,
} from '../src/eval/index.js';
import { readOnnxMetadata, setOnnxMetadata } from '../src/export/index.js';
import { decodeOnnxMetadata } from '../src/core/model-format.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/data-fixtures.js';
import { bandClassifierOnnx, withMetadata } from './helpers/expression-models.js';
import { syntheticFaces, writeFer2013Csv } from './helpers/synthetic.js';

const tempDir = useTempDir('calibrate');
const path = (name: string) => join(tempDir(), name);

/** softmax(row / T) of every row of n × classes values. */
function softmax(logits: ArrayLike<number>, classes: number, temperature = 1): Float32Array {
  const out = new Float32Array(logits.length);
  for (let row = 0; row < logits.length; row += classes) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[row + k]!);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp((logits[row + k]! - max) / temperature);
    for (let k = 0; k < classes; k++) out[row + k] = Math.exp((logits[row + k]! - max) / temperature) / sum;
  }
  return out;
}

/**
 * n faces whose labels are drawn from softmax(z) itself, so softmax(z) is perfectly calibrated; the logits returned
 * are `scale` × z, which temperature scaling must undo with T = scale.
 */
function calibratedLogits(n: number, classes: number, scale: number, seed: number): { logits: Float32Array; labels: Int8Array } {
  const random = new Rng(seed);
  const z = Float64Array.from({ length: n * classes }, () => 1.5 * random.normal());
  const p = softmax(z, classes);
  const labels = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    let u = random.next();
    let k = 0;
    while (k < classes - 1 && (u -= p[i * classes + k]!) > 0) k++;
    labels[i] = k;
  }
  return { logits: Float32Array.from(z, (x) => scale * x), labels };
}

describe('fitTemperature', () => {
  const data = calibratedLogits(20_000, NUM_CLASSES, 3, 11);

  test('recovers the temperature of overconfident logits: a calibrated distribution × 3 gives T ≈ 3', () => {
    const fit = fitTemperature(data.logits, data.labels, NUM_CLASSES);
    assert.ok(Math.abs(fit.temperature - 3) < 0.1, `T = ${fit.temperature}`);
    assert.equal(fit.n, 20_000);
    assert.equal(fit.atBound, false);
    assert.ok(fit.nllAfter < fit.nllBefore, `NLL ${fit.nllBefore} → ${fit.nllAfter}`);
    assert.ok(fit.eceBefore > 0.1, `ECE before ${fit.eceBefore}: logits × 3 are overconfident`);
    assert.ok(fit.eceAfter < 0.02, `ECE after ${fit.eceAfter}`);
    assert.equal(fit.nllBefore, temperatureNll(data.logits, data.labels, 1));
    assert.equal(fit.nllAfter, temperatureNll(data.logits, data.labels, fit.temperature));
  });

  test('and of underconfident ones (× 0.5 gives T ≈ 0.5), for any number of classes', () => {
    const three = calibratedLogits(20_000, 3, 0.5, 12);
    const fit = fitTemperature(three.logits, three.labels, 3);
    assert.ok(Math.abs(fit.temperature - 0.5) < 0.03, `T = ${fit.temperature}`);
    assert.ok(fit.eceAfter < fit.eceBefore);
  });

  test('finds the minimum of the NLL, deterministically', () => {
    const fit = fitTemperature(data.logits, data.labels);
    for (const t of [fit.temperature * 1.001, fit.temperature / 1.001]) {
      assert.ok(temperatureNll(data.logits, data.labels, t) > fit.nllAfter, `NLL at ${t} is below the NLL at the fitted T`);
    }
    assert.deepEqual(fitTemperature(data.logits, data.labels), fit);
  });

  test('its ECE is the one `mien eval` computes from the probabilities (src/eval/metrics.ts)', () => {
    const fit = fitTemperature(data.logits, data.labels);
    for (const [t, ece] of [
      [1, fit.eceBefore],
      [fit.temperature, fit.eceAfter],
    ] as const) {
      const evaluation = evaluatePredictions(softmax(data.logits, NUM_CLASSES, t), data.labels);
      assert.ok(Math.abs(evaluation.ece - ece) < 1e-6, `T = ${t}: ${evaluation.ece} vs ${ece}`);
      assert.equal(temperatureEce(data.logits, data.labels, t), ece);
    }
  });

  test('a model that is never wrong wants T → 0: the fit stops at the end of the range and says so', () => {
    const labels = Int8Array.from({ length: 70 }, (_, i) => i % NUM_CLASSES);
    const logits = new Float32Array(70 * NUM_CLASSES);
    labels.forEach((c, i) => (logits[i * NUM_CLASSES + c] = 2));
    const fit: TemperatureFit = fitTemperature(logits, labels);
    assert.equal(fit.temperature, TEMPERATURE_RANGE.min);
    assert.equal(fit.atBound, true);
  });

  test('bad input is a RangeError naming the problem', () => {
    assert.throws(() => fitTemperature(new Float32Array(0), new Int8Array(0)), { name: 'RangeError', message: /no faces/ });
    assert.throws(() => fitTemperature(new Float32Array(13), new Int8Array(2)), /expected 2 × 7 logits, got 13 values/);
    assert.throws(() => fitTemperature(new Float32Array(14), Int8Array.of(0, 7)), /label 1 is 7, not a class id in \[0, 7\)/);
    assert.throws(() => fitTemperature(Float32Array.of(NaN, 0, 0), Int8Array.of(0), 3), /logit 0 is NaN/);
    assert.throws(() => temperatureNll(new Float32Array(7), Int8Array.of(0), 0), /positive number/);
  });
});

describe('setOnnxMetadata', () => {
  const model = bandClassifierOnnx({ 'mien.history': '[]', 'mien.val_accuracy': '0.5' });
  const keys = Object.keys(decodeOnnxMetadata(model, 'band'));

  test('sets, replaces in place and removes entries, keeping every other one and their order', () => {
    const added = decodeOnnxMetadata(setOnnxMetadata(model, { 'mien.temperature': '2' }), 'added');
    assert.deepEqual(Object.keys(added), [...keys, 'mien.temperature']);
    assert.deepEqual(added, { ...decodeOnnxMetadata(model, 'band'), 'mien.temperature': '2' });
    const replaced = decodeOnnxMetadata(setOnnxMetadata(model, { 'mien.history': '[1]', 'mien.val_accuracy': undefined }), 'replaced');
    assert.deepEqual(
      Object.keys(replaced),
      keys.filter((k) => k !== 'mien.val_accuracy'),
    );
    assert.equal(replaced['mien.history'], '[1]');
  });

  test('bytes that are not ONNX say so, naming the file', () => {
    assert.throws(
      () => setOnnxMetadata(new TextEncoder().encode('emotion,pixels\n'), {}, 'faces.csv'),
      /^Error: faces\.csv is not an ONNX model/,
    );
  });
});

// 140 val faces (PublicTest), 70 test faces (PrivateTest) and 14 training faces. The band classifier gets every face
// right at about 0.92 confidence, but 3 in 10 val and test faces are labelled as the next class: it is overconfident.
const VAL = 140;
const TEST = 70;
const TRAIN = 14;
const faces = syntheticFaces(VAL + TEST + TRAIN, 6);
for (let i = 0; i < VAL + TEST; i++) if (i % 10 >= 7) faces.labels[i] = (faces.labels[i]! + 1) % NUM_CLASSES;
const usage = (i: number) => (i < VAL ? 'PublicTest' : i < VAL + TEST ? 'PrivateTest' : 'Training');
const valFaces = {
  images: faces.images.subarray(0, VAL * FACE_PIXELS),
  labels: faces.labels.subarray(0, VAL),
  ids: faces.ids.slice(0, VAL),
};

const figures = (stdout: string) =>
  Object.fromEntries(
    stdout
      .trimEnd()
      .split('\n')
      .slice(0, -1)
      .map((line) => line.split(/ {2,}/) as [string, string]),
  );

/** A CLI error: one `mien: …` line, exit code 2 for a usage mistake and 1 for bad input, no stack trace. */
function assertOneLine(r: { code: number | null; stderr: string; stdout: string }, message: RegExp) {
  assert.ok(r.code === 1 || r.code === 2, `exit code ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^mien: [^\n]+\n$/);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  assert.equal(r.stdout, '');
}

describe('mien calibrate', () => {
  let expected: TemperatureFit;
  const original = bandClassifierOnnx({ 'mien.history': '[]', 'mien.val_accuracy': '0.7000' });

  before(async () => {
    await writeFer2013Csv(path('fer.csv'), faces, usage);
    await writeFile(path('band.onnx'), original);
    const model = await loadExpressionModel(path('band.onnx'), { threads: 1 });
    expected = fitTemperature(await datasetLogits(model, valFaces), valFaces.labels);
  });

  test('fits T on the val split, prints the figures and writes mien.temperature, keeping the other entries', async () => {
    const r = await runCli(['calibrate', '--model', path('band.onnx'), '--data', path('fer.csv'), '--out', path('out/calibrated.onnx')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /calibrating .*band\.onnx on the val split of .*fer\.csv: 140 faces\n/);
    assert.ok(expected.temperature > 1.2, `T = ${expected.temperature}: the model is overconfident`);
    assert.deepEqual(figures(r.stdout), {
      temperature: expected.temperature.toFixed(4),
      'NLL before': expected.nllBefore.toFixed(4),
      'NLL after': expected.nllAfter.toFixed(4),
      'ECE before': expected.eceBefore.toFixed(4),
      'ECE after': expected.eceAfter.toFixed(4),
    });
    assert.ok(r.stdout.endsWith(`\nwrote ${path('out/calibrated.onnx')}\n`));
    assert.ok(expected.eceAfter < expected.eceBefore && expected.nllAfter < expected.nllBefore);

    const before = await readOnnxMetadata(path('band.onnx'));
    assert.equal(before['mien.temperature'], undefined, 'without --out only --out is written');
    assert.deepEqual(await readOnnxMetadata(path('out/calibrated.onnx')), { ...before, 'mien.temperature': String(expected.temperature) });
  });

  test('the classifier then applies T, and `mien eval` reports the calibrated ECE with the same accuracy', async () => {
    const calibrated = await loadExpressionModel(path('out/calibrated.onnx'), { threads: 1 });
    assert.equal(calibrated.temperature, expected.temperature);
    const raw = await loadExpressionModel(path('band.onnx'), { threads: 1 });
    const logits = await datasetLogits(raw, valFaces);
    assert.deepEqual(await datasetLogits(calibrated, valFaces), logits, 'the weights are untouched');

    const evalOf = async (model: string) => {
      const r = await runCli(['eval', '--data', path('fer.csv'), '--split', 'val', '--model', model, '--json']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { accuracy: number; ece: number };
    };
    const [uncalibrated, after] = [await evalOf(path('band.onnx')), await evalOf(path('out/calibrated.onnx'))];
    assert.ok(Math.abs(uncalibrated.ece - expected.eceBefore) < 1e-6, `${uncalibrated.ece} vs ${expected.eceBefore}`);
    assert.ok(Math.abs(after.ece - expected.eceAfter) < 1e-6, `${after.ece} vs ${expected.eceAfter}`);
    assert.equal(after.accuracy, uncalibrated.accuracy);
    assert.ok(Math.abs(after.accuracy - 0.7) < 1e-12);
  });

  test('in place by default; a calibrated model is fitted again from its raw logits, not on top of its old T', async () => {
    await writeFile(path('warm.onnx'), withMetadata(original, { 'mien.temperature': '0.3' }));
    const r = await runCli(['calibrate', '--model', path('warm.onnx'), '--data', path('fer.csv')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /it was calibrated with T = 0\.3; fitting again from its raw logits/);
    assert.equal(figures(r.stdout)['temperature'], expected.temperature.toFixed(4));
    assert.ok(r.stdout.endsWith(`\nwrote ${path('warm.onnx')}\n`));
    const metadata = await readOnnxMetadata(path('warm.onnx'));
    assert.equal(metadata['mien.temperature'], String(expected.temperature));
    assert.equal(Object.keys(metadata).filter((k) => k === 'mien.temperature').length, 1);
    assert.deepEqual(
      (await readdir(tempDir())).filter((f) => f.endsWith('.tmp')),
      [],
      'no temp file is left behind',
    );
  });

  test('bad input is one line and exit code 2', async () => {
    await writeFile(path('junk.onnx'), 'this is not a model\n');
    await writeFile(path('empty.csv'), 'emotion,pixels,Usage\n');
    await writeFer2013Csv(path('no-val.csv'), faces, (i) => (i < VAL ? 'Training' : 'PrivateTest'));
    await writeFile(path('unlabelled.csv'), `pixels\n${Array.from(faces.images.subarray(0, FACE_PIXELS)).join(' ')}\n`);
    const calibrate = (model: string, data: string, ...rest: string[]) => runCli(['calibrate', '--model', model, '--data', data, ...rest]);

    assertOneLine(await calibrate(path('missing.onnx'), path('fer.csv')), /missing\.onnx: no such model file/);
    assertOneLine(await calibrate(path('junk.onnx'), path('fer.csv')), /junk\.onnx is not an ONNX model/);
    assertOneLine(await calibrate(path('band.onnx'), path('missing.csv')), /missing\.csv: no such file or folder/);
    assertOneLine(await calibrate(path('band.onnx'), path('empty.csv')), /empty\.csv/);
    assertOneLine(
      await calibrate(path('band.onnx'), path('no-val.csv')),
      /has no val split .*pass --split with faces the model was not trained on/,
    );
    assertOneLine(await calibrate(path('band.onnx'), path('unlabelled.csv')), /has no labels/);
    assertOneLine(await calibrate(path('band.onnx'), path('fer.csv'), '--split', 'holdout'), /unknown split 'holdout'/);
    assert.deepEqual(await readFile(path('band.onnx')), Buffer.from(original), 'a failed run leaves the model as it was');

    const noModel = await runCli(['calibrate', '--data', path('fer.csv')]);
    assert.equal(noModel.code, 2);
    assert.match(noModel.stderr, /required option '--model <file.onnx>' not specified/);
  });
});
