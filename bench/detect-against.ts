/**
 * The default DNN detector's time per photo against the detector of an earlier commit, side by side in one process
 * (each photo through one, then the other), on the WIDER FACE dev photos: the ratio is what a change to the detector
 * bought. The earlier src/detect/dnn.ts and dnn-input.ts are written beside the current ones for the run (so their
 * imports resolve) and removed afterwards. Pause a training run while it measures.
 *
 *   npm run bench:detect-against -- <commit> [../shared/data/faces-detect-dev]
 */
import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { nodeSessionOptions } from '../src/core/onnx-runtime.js';
import { loadFaceDetector } from '../src/detect/dnn-node.js';
import { decodeImage } from '../src/recognize/image.js';

const [commit, folder = '../shared/data/faces-detect-dev'] = process.argv.slice(2);
if (!commit) throw new Error('usage: npm run bench:detect-against -- <commit> [folder]');
const dir = new URL('../src/detect/', import.meta.url).pathname;
const earlier = { dnn: join(dir, `.against-dnn.ts`), input: join(dir, `.against-dnn-input.ts`) };
const show = (path: string) => execFileSync('git', ['show', `${commit}:${path}`], { encoding: 'utf8' });
await writeFile(earlier.dnn, show('src/detect/dnn.ts').replace("'./dnn-input.js'", "'./.against-dnn-input.js'"));
await writeFile(earlier.input, show('src/detect/dnn-input.ts'));
try {
  const { createFaceDetector } = (await import(earlier.dnn)) as typeof import('../src/detect/dnn.js');
  const { images } = JSON.parse(await readFile(join(folder, 'boxes.json'), 'utf8')) as { images: { file: string }[] };
  const photos = await Promise.all(images.map((a) => decodeImage(join(folder, a.file))));
  const models = {
    fullRange: await readFile(new URL('../models/face-detector.onnx', import.meta.url)),
    shortRange: await readFile(new URL('../models/face-detector-short.onnx', import.meta.url)),
  };
  // The earlier detector as loadFaceDetector loaded it then: all cores for onnxruntime.
  const before = await createFaceDetector({ ort, models, sessionOptions: nodeSessionOptions(availableParallelism()) }, { minFaceSize: 48 });
  const now = await loadFaceDetector({ minFaceSize: 48 });
  const ms = { before: 0, now: 0 };
  // a warm-up, so neither pays for onnxruntime's first runs
  for (const photo of photos.slice(0, 10)) {
    await before.detect(photo);
    await now.detect(photo);
  }
  for (const photo of photos) {
    for (const [key, detector] of [
      ['before', before],
      ['now', now],
    ] as const) {
      const started = performance.now();
      await detector.detect(photo);
      ms[key] += performance.now() - started;
    }
  }
  console.log(`${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)}; ${photos.length} photos`);
  console.log(`| detector | ms / photo |\n|---|---|`);
  console.log(`| ${commit} | ${(ms.before / photos.length).toFixed(1)} |\n| now | ${(ms.now / photos.length).toFixed(1)} |`);
  console.log(`\nnow ${(ms.before / ms.now).toFixed(2)}× faster`);
  await Promise.all([before.dispose(), now.dispose()]);
} finally {
  await Promise.all([rm(earlier.dnn, { force: true }), rm(earlier.input, { force: true })]);
}
