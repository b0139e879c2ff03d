/**
 * The shipped ONNX face detectors compute what the original TensorFlow.js graphs compute: same random input, outputs
 * equal within 1e-4. Also checks that the committed .onnx files are what scripts/convert-detector.ts writes today.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import * as ort from 'onnxruntime-node';
import { Rng } from '../src/data/random.js';
import { convertDetector, shippedDetectors, type DetectorSource } from '../scripts/convert-detector.js';

/** The tfjs graph model loaded from its model.json and weight files, without fetch. */
async function loadTfjs(jsonPath: string): Promise<Awaited<ReturnType<typeof loadGraphModel>>> {
  const json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
  const dir = jsonPath.slice(0, jsonPath.lastIndexOf('/') + 1);
  const specs = json.weightsManifest.flatMap((group) => group.weights);
  const bins = await Promise.all(json.weightsManifest.flatMap((group) => group.paths.map((p) => readFile(dir + p))));
  const weights = Buffer.concat(bins);
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength);
  return loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));
}

async function maxAbsDiff(source: DetectorSource, seed: number): Promise<number> {
  await tf.setBackend('cpu');
  const size = source.inputSize;
  const rng = new Rng(seed);
  // Two images in one batch: the converted graph must keep the batch dimension dynamic.
  const input = Float32Array.from({ length: 2 * size * size * 3 }, () => rng.next() * 2 - 1);

  const tfModel = await loadTfjs(source.json);
  const tfInput = tf.tensor4d(input, [2, size, size, 3]);
  const tfOut = tfModel.execute(tfInput, source.faceOutput) as tf.Tensor;
  const expected = (await tfOut.data()) as Float32Array;
  assert.deepEqual(tfOut.shape.slice(2), [17]);
  tf.dispose([tfInput, tfOut]);

  const session = await ort.InferenceSession.create(source.out);
  const result = await session.run({ input: new ort.Tensor('float32', input, [2, size, size, 3]) });
  const actual = result.detections!;
  assert.deepEqual(actual.dims, tfOut.shape);
  const data = actual.data as Float32Array;
  let max = 0;
  for (let i = 0; i < data.length; i++) max = Math.max(max, Math.abs(data[i]! - expected[i]!));
  return max;
}

describe('converted face detectors', () => {
  for (const source of shippedDetectors()) {
    const name = source.out.slice(source.out.lastIndexOf('/') + 1);
    test(`${name} matches the tfjs original within 1e-4`, async () => {
      const diff = await maxAbsDiff(source, 7);
      assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    });

    test(`${name} is what the converter writes`, async () => {
      const [committed, fresh] = await Promise.all([readFile(source.out), convertDetector(source)]);
      assert.ok(Buffer.from(fresh).equals(committed), 'models/ is stale: run npx tsx scripts/convert-detector.ts');
    });
  }
});
