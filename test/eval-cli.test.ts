import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { EXPRESSIONS, FACE_PIXELS, NUM_CLASSES } from '../src/core/labels.js';
import { REPORT_SECTIONS, type CalibrationBin } from '../src/eval/index.js';
import { shippedModelPath } from '../src/recognize/expression-model.js';
import type { EpochRecord } from '../src/train/config.js';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/data-fixtures.js';
import { bandClassifierOnnx } from './helpers/expression-models.js';
import { syntheticFaces, writeFer2013Csv } from './helpers/synthetic.js';

const tempDir = useTempDir('eval-cli');
const path = (name: string) => join(tempDir(), name);

// 84 synthetic faces: 70 PrivateTest (the test split), then 14 Training. The band classifier gets every face right,
// but every tenth test face is labelled as the next class, so the scores are known exactly: class c loses face
// 10c+9's label to class c+1 and gains one from class c−1.
const TEST_FACES = 70;
const TRAIN_FACES = 14;
const faces = syntheticFaces(TEST_FACES + TRAIN_FACES, 4);
const trueClass = Array.from(faces.labels);
const mislabelled = (i: number) => i < TEST_FACES && i % 10 === 9;
for (let i = 0; i < faces.labels.length; i++) if (mislabelled(i)) faces.labels[i] = (trueClass[i]! + 1) % NUM_CLASSES;

const HISTORY: EpochRecord[] = [1, 2, 3].map((epoch) => ({
  epoch,
  lr: 5e-4,
  trainLoss: 1.9 - 0.3 * epoch,
  trainAccuracy: 0.2 + 0.1 * epoch,
  valLoss: 1.95 - 0.25 * epoch,
  valAccuracy: 0.18 + 0.09 * epoch,
  seconds: 10,
  imagesPerSecond: 300,
}));

const pixelsOf = (i: number) => Array.from(faces.images.subarray(i * FACE_PIXELS, (i + 1) * FACE_PIXELS)).join(' ');

interface Prediction {
  id: string;
  emotion: number;
  probabilities: number[];
}

async function readPredictions(file: string): Promise<{ header: string; rows: Prediction[] }> {
  const [header, ...lines] = (await readFile(file, 'utf8')).trimEnd().split('\n');
  const rows = lines.map((line) => {
    const [id, emotion, ...p] = line.split(',');
    return { id: id!, emotion: Number(emotion), probabilities: p.map(Number) };
  });
  return { header: header!, rows };
}

describe('mien eval and predict-csv', () => {
  before(async () => {
    await writeFer2013Csv(path('fer.csv'), faces, (i) => (i < TEST_FACES ? 'PrivateTest' : 'Training'));
    await writeFile(path('band.onnx'), bandClassifierOnnx({ 'mien.history': JSON.stringify(HISTORY), 'mien.val_accuracy': '0.4500' }));
    const first5 = [0, 1, 2, 3, 4];
    await writeFile(path('test.csv'), ['pixels', ...first5.map(pixelsOf)].join('\n') + '\n');
    await writeFile(path('test-ids.csv'), ['id,pixels', ...first5.map((i) => `face-${100 + i},${pixelsOf(i)}`)].join('\n') + '\n');
  });

  test('--json prints exactly one JSON object with the hand-computed scores', async () => {
    const r = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /on the test split of .*fer\.csv: 70 faces/);
    const json = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(json), ['n', 'accuracy', 'macroF1', 'ece', 'labels', 'perClass', 'confusion', 'calibration']);
    assert.equal(json.n, TEST_FACES);
    assert.equal(json.accuracy, 0.9);
    assert.deepEqual(json.labels, [...EXPRESSIONS]);
    for (const name of EXPRESSIONS) {
      assert.deepEqual(Object.keys(json.perClass[name]), ['precision', 'recall', 'f1', 'support']);
      assert.equal(json.perClass[name].support, 10);
      assert.ok(Math.abs(json.perClass[name].precision - 0.9) < 1e-12);
      assert.ok(Math.abs(json.perClass[name].recall - 0.9) < 1e-12);
    }
    assert.ok(Math.abs(json.macroF1 - 0.9) < 1e-12);
    // rows are the labels, columns the predictions: label c+1 was given to a face of class c
    const expected = EXPRESSIONS.map((_, t) => EXPRESSIONS.map((_, p) => (t === p ? 9 : t === (p + 1) % NUM_CLASSES ? 1 : 0)));
    assert.deepEqual(json.confusion, expected);
    assert.ok(json.ece >= 0 && json.ece < 0.2, `ece ${json.ece}`);
    // the ECE is the face-weighted gap of the reliability bins printed beside it
    assert.equal(json.calibration.length, 15);
    const bins = json.calibration as CalibrationBin[];
    assert.equal(
      bins.reduce((sum, b) => sum + b.count, 0),
      TEST_FACES,
    );
    const gap = bins.reduce((sum, b) => sum + (b.count / TEST_FACES) * Math.abs(b.accuracy - b.confidence), 0);
    assert.ok(Math.abs(gap - json.ece) < 1e-9, `${gap} against ${json.ece}`);
  });

  test('prints the scores as text, with --tta, and writes the HTML report', async () => {
    const report = path('report');
    const r = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--tta', '--report', report]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^accuracy 90\.00% {2}macro-F1 0\.9000 {2}ECE 0\.\d{4} \(15 bins\) {2}70 faces$/m);
    assert.match(r.stdout, /^happy\s+0\.9000\s+0\.9000\s+0\.9000\s+10$/m);
    assert.match(r.stdout, /confusion matrix \(rows: true class, columns: predicted\)/);
    assert.match(r.stderr, /with zoom TTA \(10 views\)/);
    assert.match(r.stderr, /wrote .*report\/index\.html/);
    const html = await readFile(join(report, 'index.html'), 'utf8');
    for (const heading of Object.values(REPORT_SECTIONS)) assert.ok(html.includes(`<h2>${heading}</h2>`), `section ${heading}`);
    assert.ok((html.match(/<svg /g) ?? []).length >= 4, 'confusion counts, confusion shares, reliability, training curves');
    assert.match(html, /data:image\/png;base64,/, 'the mistakes grid is an inline PNG');
    assert.doesNotMatch(html, /<script|src="(?!data:)|href="http/, 'nothing external');
    assert.match(html, /90\.00%/);
  });

  test('--tta mirror averages two views; --tta with anything but a mode is exit 2 naming the modes', async () => {
    const r = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--tta', 'mirror', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /with mirror TTA \(2 views\)/);
    assert.equal(JSON.parse(r.stdout).accuracy, 0.9);
    // a file name right after a bare --tta is read as its mode: the message says how to write it
    const bad = await runCli(['eval', '--tta', path('fer.csv'), '--model', path('band.onnx'), '--data', path('fer.csv')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--tta takes mirror or zoom; .*write --tta=zoom/);
    assert.doesNotMatch(bad.stderr, /evaluating|\n\s+at /);
  });

  test('--confusion draws the confusion matrix; a picture type mien cannot write is exit 2 before evaluating', async () => {
    const picture = path('confusion.svg');
    const r = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--confusion', picture]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /wrote .*confusion\.svg/);
    const svg = await readFile(picture, 'utf8');
    assert.match(svg, /^<svg /);
    for (const expression of ['angry', 'neutral']) assert.ok(svg.includes(expression), expression);
    const bad = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--confusion', path('c.jpg')]);
    assert.equal(bad.code, 2);
    assert.doesNotMatch(bad.stderr, /evaluating/);
  });

  test('--split picks a split by Usage or split name, and says which', async () => {
    const r = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--split', 'Training', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /on the train split/);
    const json = JSON.parse(r.stdout);
    assert.equal(json.n, TRAIN_FACES);
    assert.equal(json.accuracy, 1);
  });

  test('a split the data lacks, or a name that is not a split, is one line and a usage error (exit 2)', async () => {
    const missing = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--split', 'PublicTest']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `mien: ${path('fer.csv')} has no val split (--split PublicTest); it has the splits test, train\n`);
    const bogus = await runCli(['eval', '--data', path('fer.csv'), '--model', path('band.onnx'), '--split', 'holdout']);
    assert.equal(bogus.code, 2);
    assert.equal(bogus.stderr, "mien: unknown split 'holdout': use Training, PublicTest, PrivateTest, train, val, test or all\n");
  });

  test('a missing required option is a usage error (exit 2)', async () => {
    const r = await runCli(['predict-csv', '--data', path('test.csv')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /required option '--out <predictions.csv>' not specified/);
  });

  test(
    'without --model it asks for one while no model ships',
    { skip: existsSync(shippedModelPath('fast')) && 'a fast model ships' },
    async () => {
      const r = await runCli(['eval', '--data', path('fer.csv')]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "mien: mien has no shipped model 'fast' yet; pass --model <file.onnx>\n");
    },
  );

  test('unlabelled data points to predict-csv', async () => {
    const r = await runCli(['eval', '--data', path('test.csv'), '--model', path('band.onnx')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^mien: .*test\.csv has no labels .*`mien predict-csv` predicts them\n$/);
  });

  test('predict-csv writes one row per face of a Kaggle test.csv: row number or id, prediction, probabilities', async () => {
    for (const [input, ids] of [
      ['test.csv', ['0', '1', '2', '3', '4']],
      ['test-ids.csv', ['face-100', 'face-101', 'face-102', 'face-103', 'face-104']],
    ] as const) {
      const out = path(`${input}.predictions.csv`);
      const r = await runCli(['predict-csv', '--data', path(input), '--model', path('band.onnx'), '--out', out, '--tta']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /wrote .* 5 predictions/);
      const { header, rows } = await readPredictions(out);
      assert.equal(header, 'id,emotion,angry,disgust,fear,happy,sad,surprise,neutral');
      assert.deepEqual(
        rows.map((p) => p.id),
        ids,
      );
      rows.forEach((p, i) => {
        assert.equal(p.emotion, trueClass[i], `row ${i}`);
        assert.equal(p.probabilities.length, NUM_CLASSES);
        assert.ok(Math.abs(p.probabilities.reduce((a, b) => a + b) - 1) < 1e-5, `row ${i} sums to 1`);
      });
    }
  });

  test('predict-csv on a labelled FER2013 CSV predicts every row of every split, in file order', async () => {
    const out = path('all.predictions.csv');
    const r = await runCli(['predict-csv', '--data', path('fer.csv'), '--model', path('band.onnx'), '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const { rows } = await readPredictions(out);
    assert.equal(rows.length, TEST_FACES + TRAIN_FACES);
    assert.deepEqual(
      rows.map((p) => p.id),
      rows.map((_, i) => String(i)),
    );
    assert.deepEqual(
      rows.map((p) => p.emotion),
      trueClass,
    );
  });
});
