/**
 * The expression model alone in headless Chromium, batch 1, one wasm thread, on each of onnxruntime-web's two builds:
 * the default one (`onnxruntime-web`, its wasm compiled for the WebGPU execution provider) and the wasm-only one
 * (`onnxruntime-web/wasm`), a blank page each, in turn, round after round. Median milliseconds of 300 runs after 200
 * warm-up runs; why the browser entry and the webcam page load the wasm-only build on the CPU:
 *
 *   npm run bench:ort-builds -- [--model models/fast.onnx] [--rounds 2]
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { CHROMIUM } from '../test/helpers/web-page.js';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'models/fast.onnx' }, rounds: { type: 'string', default: '2' } },
});
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILDS = { default: 'ort.bundle.min.mjs', 'wasm-only': 'ort.wasm.bundle.min.mjs' } as const;
const TYPES: Record<string, string> = { '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };

const page = (bundle: string) => `<!doctype html><script type="module">
import * as ort from '/node_modules/onnxruntime-web/dist/${bundle}';
ort.env.wasm.numThreads = 1;
const bytes = new Uint8Array(await (await fetch('/${values.model}')).arrayBuffer());
const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
const input = new ort.Tensor('float32', Float32Array.from({ length: 48 * 48 }, () => Math.random()), [1, 1, 48, 48]);
for (let i = 0; i < 200; i++) await session.run({ input });
const times = [];
for (let i = 0; i < 300; i++) { const started = performance.now(); await session.run({ input }); times.push(performance.now() - started); }
times.sort((a, b) => a - b);
window.median = times[150];
</script>`;

const server = createServer((request, response) => {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const bundle = /^\/page\/(.+)$/.exec(path)?.[1];
  if (bundle) return void response.writeHead(200, { 'content-type': 'text/html' }).end(page(bundle));
  readFile(join(ROOT, path)).then(
    (bytes) => response.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(bytes),
    () => response.writeHead(404).end(),
  );
}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address() as AddressInfo;
const browser = await chromium.launch({ executablePath: CHROMIUM });
console.log(`${values.model} in headless Chromium ${browser.version()}, batch 1, 1 wasm thread: median of 300 runs`);
const medians: Record<string, number[]> = { default: [], 'wasm-only': [] };
try {
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const [name, bundle] of Object.entries(BUILDS)) {
      const tab = await browser.newPage();
      await tab.goto(`http://127.0.0.1:${port}/page/${bundle}`);
      await tab.waitForFunction('window.median', undefined, { timeout: 120_000 });
      const median = (await tab.evaluate('window.median')) as number;
      medians[name]!.push(median);
      console.log(`round ${round}: ${name} build (${bundle}): ${median.toFixed(2)} ms`);
      await tab.close();
    }
  }
} finally {
  await browser.close();
  server.close();
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  `mean: default ${mean(medians.default!).toFixed(2)} ms, wasm-only ${mean(medians['wasm-only']!).toFixed(2)} ms; default / wasm-only ${(mean(medians.default!) / mean(medians['wasm-only']!)).toFixed(2)}×`,
);
