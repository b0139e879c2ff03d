import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { FACE_PIXELS, FACE_SIZE, NUM_CLASSES } from '../src/core/labels.js';
import { facesToInput } from '../src/data/dataset.js';
import { LOGITS_NAME, PROBABILITIES_NAME } from '../src/export/index.js';
import { ttaViews } from '../src/recognize/tta.js';
import { loadExpressionModel, ModelError, resolveModelPath, shippedModelPath } from '../src/recognize/expression-model.js';
import { useTempDir } from './helpers/data-fixtures.js';
import { bandClassifierOnnx, randomLinearOnnx, withMetadata } from './helpers/expression-models.js';
import { syntheticFaces } from './helpers/synthetic.js';

const tempDir = useTempDir('eval-model');
const path = (name: string) => join(tempDir(), name);

/** 300 synthetic faces: more than one 256-face batch. */
const faces = syntheticFaces(300, 5);
const input = facesToInput(faces, 0, 300);

/** The model's raw output for the whole input in one onnxruntime call, as the reference. */
async function reference(file: string, output: string, data = input): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  const tensor = new ort.Tensor('float32', data, [data.length / FACE_PIXELS, 1, FACE_SIZE, FACE_SIZE]);
  return (await session.run({ input: tensor }, [output]))[output]!.data as Float32Array;
}

function assertClose(actual: Float32Array, expected: ArrayLike<number>, tolerance: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= tolerance, `${what}: max |Δ| ${worst} > ${tolerance}`);
}

function mirrored(data: Float32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let row = 0; row < data.length; row += FACE_SIZE) for (let x = 0; x < FACE_SIZE; x++) out[row + x] = data[row + FACE_SIZE - 1 - x]!;
  return out;
}

// The models go into the temp folder, which exists only once useTempDir's hook has run: hooks of a suite run after it.
describe('expression model', () => {
  before(async () => {
    await writeFile(path('band.onnx'), bandClassifierOnnx());
    await writeFile(path('random.onnx'), randomLinearOnnx(3));
    await writeFile(path('warm.onnx'), randomLinearOnnx(3, { 'mien.temperature': '2.5' }));
  });

  describe('finding the model', () => {
    test('a shipped model that is not there yet says so and what to pass instead', async () => {
      const root = path('package');
      await mkdir(join(root, 'models'), { recursive: true });
      assert.throws(() => resolveModelPath('fast', root), {
        name: 'ModelError',
        message: "mien has no shipped model 'fast' yet; pass --model <file.onnx>",
      });
      assert.throws(() => resolveModelPath(undefined, root), /no shipped model 'fast'/, 'fast is the default');
      await writeFile(shippedModelPath('accurate', root), bandClassifierOnnx());
      assert.deepEqual(resolveModelPath('accurate', root), { name: 'accurate', path: join(root, 'models', 'accurate.onnx') });
    });

    test('a path names the model after its file; a missing file or unknown name is a one-line error', () => {
      assert.deepEqual(resolveModelPath(path('band.onnx')), { name: 'band', path: path('band.onnx') });
      assert.throws(() => resolveModelPath(path('nope.onnx')), { name: 'ModelError', message: `${path('nope.onnx')}: no such model file` });
      assert.throws(
        () => resolveModelPath('fastest'),
        /unknown model 'fastest': pass fast or accurate or lite, or the path of an .onnx file/,
      );
    });

    test('a file that is not ONNX, or a model for other classes, is refused with a clear message', async () => {
      await writeFile(path('junk.onnx'), 'not a model at all');
      await assert.rejects(loadExpressionModel(path('junk.onnx')), (err) => err instanceof ModelError && /junk\.onnx/.test(err.message));
      await writeFile(path('reordered.onnx'), withMetadata(bandClassifierOnnx(), { 'mien.classes': JSON.stringify(['happy', 'sad']) }));
      await assert.rejects(loadExpressionModel(path('reordered.onnx')), {
        name: 'ModelError',
        message: `${path('reordered.onnx')} predicts the classes ["happy","sad"]; mien needs angry, disgust, fear, happy, sad, surprise, neutral in that order`,
      });
      await writeFile(path('foreign.onnx'), withMetadata(bandClassifierOnnx(), { 'mien.classes': undefined }));
      await assert.rejects(
        loadExpressionModel(path('foreign.onnx')),
        /is not a mien expression model \(its metadata has no mien.classes\)/,
      );
      await writeFile(path('cold.onnx'), randomLinearOnnx(3, { 'mien.temperature': '-1' }));
      await assert.rejects(loadExpressionModel(path('cold.onnx')), /mien.temperature is "-1", not a positive number/);
    });
  });

  describe('classify', () => {
    test("gives the model's probabilities across several batches, in order", async () => {
      const model = await loadExpressionModel(path('random.onnx'), { threads: 1 });
      assert.equal(model.name, 'random');
      assert.equal(model.metadata['mien.architecture'], 'linear-test');
      assert.equal(model.temperature, undefined);
      const probabilities = await model.classify(input);
      assertClose(probabilities, await reference(path('random.onnx'), PROBABILITIES_NAME), 1e-6, 'probabilities');
    });

    test('the hand-made band classifier recognises every synthetic face', async () => {
      const model = await loadExpressionModel(path('band.onnx'), { threads: 1 });
      const p = await model.classify(input);
      for (let i = 0; i < 300; i++) {
        const row = Array.from(p.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES));
        assert.equal(row.indexOf(Math.max(...row)), faces.labels[i], `face ${i}`);
        assert.ok(Math.abs(row.reduce((a, b) => a + b) - 1) < 1e-5);
      }
    });

    test("with tta 'mirror' it averages each face with its mirror image", async () => {
      const model = await loadExpressionModel(path('random.onnx'), { threads: 1 });
      const plain = await reference(path('random.onnx'), PROBABILITIES_NAME);
      const flipped = await reference(path('random.onnx'), PROBABILITIES_NAME, mirrored(input));
      const progress: number[] = [];
      const tta = await model.classify(input, { tta: 'mirror', onProgress: (done) => progress.push(done) });
      assertClose(
        tta,
        plain.map((x, i) => (x + flipped[i]!) / 2),
        1e-6,
        'tta',
      );
      assert.ok(
        tta.some((x, i) => Math.abs(x - plain[i]!) > 1e-3),
        'mirroring must matter for this model',
      );
      assert.deepEqual(progress, [256, 300]);
    });

    test("with tta 'zoom' (or true) it averages the ten views of each face", async () => {
      const model = await loadExpressionModel(path('random.onnx'), { threads: 1 });
      const views = ttaViews(input, 'zoom');
      assert.equal(views.length, 10 * input.length);
      const perView = await reference(path('random.onnx'), PROBABILITIES_NAME, views);
      const expected = new Float32Array((input.length / FACE_PIXELS) * NUM_CLASSES);
      for (let v = 0; v < 10; v++) for (let i = 0; i < expected.length; i++) expected[i]! += perView[v * expected.length + i]! / 10;
      assertClose(await model.classify(input, { tta: 'zoom' }), expected, 1e-6, 'zoom');
      assertClose(await model.classify(input, { tta: true }), expected, 1e-6, 'true');
    });

    test('a calibrated model gives softmax(logits / T)', async () => {
      const model = await loadExpressionModel(path('warm.onnx'), { threads: 1 });
      assert.equal(model.temperature, 2.5);
      const logits = await reference(path('warm.onnx'), LOGITS_NAME);
      const expected = new Float32Array(logits.length);
      for (let i = 0; i < 300; i++) {
        const row = Array.from(logits.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), (z) => Math.exp(z / 2.5));
        const sum = row.reduce((a, b) => a + b);
        row.forEach((v, k) => (expected[i * NUM_CLASSES + k] = v / sum));
      }
      const probabilities = await model.classify(input);
      assertClose(probabilities, expected, 1e-6, 'tempered probabilities');
      const untempered = await reference(path('warm.onnx'), PROBABILITIES_NAME);
      assert.ok(
        probabilities.some((x, i) => Math.abs(x - untempered[i]!) > 1e-3),
        'the temperature must change the probabilities',
      );
    });

    test('rejects input that is not whole faces', async () => {
      const model = await loadExpressionModel(path('band.onnx'), { threads: 1 });
      await assert.rejects(model.classify(new Float32Array(FACE_PIXELS + 1)), /n × 2304 values/);
    });
  });
});
