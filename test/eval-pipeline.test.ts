import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { EXPRESSIONS, FACE_PIXELS, NUM_CLASSES } from '../src/core/labels.js';
import { evaluatePredictions } from '../src/eval/index.js';
import { buildOnnx } from '../src/export/index.js';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/data-fixtures.js';
import { LINEAR_SPEC } from './helpers/expression-models.js';

const FACE_PHOTO = fileURLToPath(new URL('fixtures/dnn-face.jpg', import.meta.url));
const tempDir = useTempDir('eval-pipeline');
const path = (...parts: string[]) => join(tempDir(), ...parts);
const HAPPY = EXPRESSIONS.indexOf('happy');

/** A model that answers `happy` whatever the face: the scores then depend only on which photos had a face. */
const alwaysHappy = () => {
  const bias = new Float32Array(NUM_CLASSES);
  bias[HAPPY] = 5;
  return buildOnnx(LINEAR_SPEC, [new Float32Array(NUM_CLASSES * FACE_PIXELS), bias]);
};

test('evaluatePredictions: photos without a face count as wrong, outside the confusion matrix', () => {
  const probabilities = new Float32Array(4 * NUM_CLASSES);
  for (let i = 0; i < 4; i++) probabilities[i * NUM_CLASSES + HAPPY] = 1;
  const labels = [HAPPY, HAPPY, 0, 0];
  const e = evaluatePredictions(probabilities, labels, [true, false, true, false]);
  assert.equal(e.n, 4);
  assert.equal(e.accuracy, 0.25);
  assert.equal(e.perClass[HAPPY]!.support, 2);
  assert.equal(e.perClass[HAPPY]!.recall, 0.5);
  assert.equal(e.perClass[HAPPY]!.precision, 0.5);
  assert.equal(e.perClass[0]!.support, 2);
  assert.equal(e.noFace![HAPPY], 1);
  assert.equal(e.noFace![0], 1);
  assert.equal(
    e.confusion.flat().reduce((a, b) => a + b, 0),
    2,
  );
});

describe('mien eval --detector', () => {
  before(async () => {
    await mkdir(path('photos', 'happy'), { recursive: true });
    await mkdir(path('photos', 'sad'), { recursive: true });
    await copyFile(FACE_PHOTO, path('photos', 'happy', 'face.jpg'));
    // a photo with no face in it, and a file that is not an image at all
    await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } })
      .png()
      .toFile(path('photos', 'sad', 'wall.png'));
    await writeFile(path('photos', 'sad', 'broken.jpg'), 'not a jpeg');
    await writeFile(path('happy.onnx'), alwaysHappy());
  });

  test('scores whole photos through the pipeline; no face = wrong and listed, unreadable = skipped and named', async () => {
    const r = await runCli(['eval', '--data', path('photos'), '--detector', 'dnn', '--model', path('happy.onnx'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.n, 2);
    assert.equal(out.accuracy, 0.5);
    assert.equal(out.detector, 'dnn');
    assert.deepEqual(out.noFaceFiles, [path('photos', 'sad', 'wall.png')]);
    assert.equal(out.noFace.sad, 1);
    assert.equal(out.perClass.happy.recall, 1);
    assert.match(r.stderr, /skipped 1 bad file \(first: .*broken\.jpg/);
    assert.match(r.stderr, /no face found in 1 photos \(counted as wrong\): .*wall\.png/);

    const text = await runCli(['eval', '--data', path('photos'), '--detector', 'dnn', '--model', path('happy.onnx')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /accuracy 50\.00% .* 2 photos, 1 with no face found \(counted as wrong\)/);
    assert.match(text.stdout, /true \\ predicted .* no face/);
  });

  test('usage mistakes are one-line errors', async () => {
    await writeFile(path('faces.csv'), 'emotion,pixels,Usage\n');
    const csv = await runCli(['eval', '--data', path('faces.csv'), '--detector', 'dnn', '--model', path('happy.onnx')]);
    assert.equal(csv.code, 2);
    assert.match(csv.stderr, /--detector needs class folders of photos; .*faces\.csv is not a folder/);
    const report = await runCli([
      'eval',
      '--data',
      path('photos'),
      '--detector',
      'haar',
      '--model',
      path('happy.onnx'),
      '--report',
      path('r'),
    ]);
    assert.equal(report.code, 2);
    assert.doesNotMatch(csv.stderr + report.stderr, /\n\s+at /);
  });
});
