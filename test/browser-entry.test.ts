/**
 * The package's browser entry (dist/browser, the `browser` export) used from a plain page, as a user without a
 * bundler would: an import map for onnxruntime-web, the package's model files served beside the page, and images,
 * canvases, bitmaps and ImageData handed to createRecognizer's recognizer in real Chromium.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { createRecognizer } from '../src/recognize/recognizer.js';
import { CHROMIUM, chromiumMissing } from './helpers/web-page.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PHOTO = 'test/fixtures/dnn-face.jpg';

/** The page: the entry's `exports` path, the package's models folder, and nothing else of mien. */
const PAGE = `<!doctype html>
<script type="importmap">{ "imports": { "onnxruntime-web/wasm": "/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs" } }</script>
<img id="photo" src="/${PHOTO}">
<canvas id="view" width="480" height="360"></canvas>
<script type="module">
  import { createRecognizer, drawFaces } from '/dist/browser/index.js';
  const summary = (faces) => faces.map((f) => ({ box: f.box, expression: f.expression, expressions: f.expressions, normalizedBox: f.normalizedBox }));
  try {
    const img = document.getElementById('photo');
    await img.decode();
    const recognizer = await createRecognizer({ modelsUrl: '/models/' });
    await recognizer.warmup();
    const canvas = document.getElementById('view');
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const fromImage = await recognizer.analyze(img);
    const fromCanvas = await recognizer.recognize(canvas);
    const fromBitmap = await recognizer.recognize(await createImageBitmap(img));
    const fromImageData = await recognizer.recognize(ctx.getImageData(0, 0, 480, 360));
    const before = ctx.getImageData(0, 0, 480, 360).data.slice();
    drawFaces(ctx, fromImage.faces);
    const after = ctx.getImageData(0, 0, 480, 360).data;
    let changed = 0;
    for (let i = 0; i < after.length; i += 4) if (after[i] !== before[i] || after[i + 1] !== before[i + 1]) changed++;
    const single = await recognizer.recognizeSingle(img);
    await recognizer.dispose();
    window.result = {
      image: summary(fromImage.faces), canvas: summary(fromCanvas), bitmap: summary(fromBitmap), imageData: summary(fromImageData),
      timings: fromImage.timings, changed, single: single?.expression,
    };
  } catch (err) {
    window.result = { error: String(err && err.stack || err) };
  }
</script>`;

describe('the browser entry from a plain page', { skip: chromiumMissing() }, () => {
  let app: FastifyInstance;
  let browser: Browser;
  let url: string;
  before(async () => {
    // `npm ci` builds dist/ (prepare); a checkout built only for Node gets the browser entry here.
    if (!existsSync(`${ROOT}dist/browser/index.js`)) execFileSync('npx', ['tsc', '-p', 'tsconfig.browser.json'], { cwd: ROOT });
    app = Fastify();
    await app.register(fastifyStatic, { root: ROOT, serve: true, index: false });
    app.get('/', (_request, reply) => reply.type('text/html').send(PAGE));
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('images, canvases, bitmaps and ImageData give the faces Node finds, and drawFaces draws them', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction('window.result', undefined, { timeout: 120_000 });
    const result = (await page.evaluate('window.result')) as Record<string, unknown> & { error?: string };
    assert.equal(result.error, undefined, result.error);
    const node = await createRecognizer();
    const [expected] = await node.recognize(PHOTO);
    await node.dispose();
    type Face = { box: { x: number; y: number; width: number }; expression: string; expressions: { probability: number }[] };
    for (const kind of ['image', 'canvas', 'bitmap', 'imageData']) {
      const faces = result[kind] as Face[];
      assert.equal(faces.length, 1, kind);
      const [face] = faces;
      assert.equal(face!.expression, expected!.expression, `${kind}: the same expression as in Node`);
      // The browser's JPEG decoder is not libjpeg-turbo's to the bit: boxes agree to a few pixels.
      assert.ok(Math.abs(face!.box.x - expected!.box.x) < 4 && Math.abs(face!.box.width - expected!.box.width) < 4, `${kind} box`);
      assert.ok(Math.abs(face!.expressions[0]!.probability - expected!.expressions[0]!.probability) < 0.05, `${kind} probability`);
    }
    assert.equal(result.single, expected!.expression);
    assert.ok((result.changed as number) > 500, `drawFaces changed ${String(result.changed)} pixels`);
    const timings = result.timings as Record<string, number>;
    assert.ok(timings.detect! > 0 && timings.classify! > 0 && timings.total! >= timings.detect!);
  });
});
