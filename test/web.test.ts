import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Download, Page } from 'playwright-core';
import { EXPRESSIONS } from '../src/core/labels.js';
import { PAGE_MODEL, SHIPPED_MODELS, shippedModelPath } from '../src/recognize/expression-model.js';
import type { ModelManifest } from '../src/webapp/protocol.js';
import { createWebServer } from '../src/webapp/server.js';
import { runCli } from './helpers/cli.js';
import { bandClassifierOnnx } from './helpers/expression-models.js';
import {
  buildWebApp,
  chromiumMissing,
  fakeCameraClip,
  launchWithFakeCamera,
  startWebServer,
  type RunningWebServer,
} from './helpers/web-page.js';

const LABEL = new RegExp(`^Face 1: (${EXPRESSIONS.join('|')}) \\d+%`);
/** Where the test leaves its screenshot of the live page. */
const SCREENSHOT = join(tmpdir(), 'mien-web-test.png');

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** The status of a GET of `path` sent exactly as written. */
const rawGetStatus = (base: string, path: string, headers: Record<string, string> = {}): Promise<number> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    get({ host: hostname, port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });

const framesAnalysed = async (page: Page): Promise<number> => Number(await page.getAttribute('#fps', 'data-frames'));

describe('mien web', { skip: chromiumMissing() }, () => {
  let dir: string;
  let server: RunningWebServer;
  let browser: Browser;
  let page: Page;
  let modelName: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-web-'));
    await buildWebApp();
    // The shipped model when there is one; else a tiny model built here (the page runs whatever `mien web` serves).
    let model = shippedModelPath('fast');
    if (!existsSync(model)) {
      model = join(dir, 'band.onnx');
      await writeFile(model, bandClassifierOnnx());
    }
    modelName = existsSync(shippedModelPath('fast')) ? 'fast' : 'band';
    server = await startWebServer(['--model', model]);
    browser = await launchWithFakeCamera(fakeCameraClip(dir, 2, 30));
    page = await (await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 800 } })).newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('serves the page cross-origin isolated, and nothing outside it', async () => {
    const index = await fetch(server.url);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(index.headers.get('cross-origin-embedder-policy'), 'require-corp');
    // The manifest names the model files by content hash: they are cached for a year, the manifest revalidated (304).
    const manifestResponse = await fetch(new URL('models/manifest.json', server.url));
    assert.equal(manifestResponse.headers.get('cache-control'), 'no-cache');
    const manifest = (await manifestResponse.json()) as ModelManifest;
    assert.ok(!('missing' in manifest.expression));
    assert.equal(manifest.expression.name, modelName);
    assert.match(manifest.expression.url, /^models\/[0-9a-f]{16}\/[^/]+\.onnx$/);
    const model = await fetch(new URL(manifest.expression.url, server.url));
    assert.equal(model.status, 200);
    assert.equal(model.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(model.headers.get('cross-origin-embedder-policy'), 'require-corp');
    await model.arrayBuffer();
    const etag = manifestResponse.headers.get('etag')!;
    assert.equal(await rawGetStatus(server.url, '/models/manifest.json', { 'if-none-match': etag }), 304);
    assert.equal(await rawGetStatus(server.url, `/${manifest.expression.url}`, { 'if-none-match': model.headers.get('etag')! }), 304);
    assert.equal(await rawGetStatus(server.url, '/models/0123456789abcdef/fast.onnx'), 404, 'a version that is not served');
    // Sent as they are (fetch would resolve the dots): each reaches the package's own files if the server lets it.
    for (const path of ['/../../package.json', '/..%2f..%2fpackage.json', '/models/..%2f..%2f..%2fpackage.json', '/no-such-file.js']) {
      assert.equal(await rawGetStatus(server.url, path), 404, path);
    }
    // The other shipped models the page may switch to; the one served is not among them.
    assert.deepEqual(
      manifest.others.map((m) => m.name),
      SHIPPED_MODELS.filter((name) => name !== modelName && existsSync(shippedModelPath(name))),
    );
    for (const other of manifest.others) assert.equal((await fetch(new URL(other.url, server.url))).status, 200, other.name);
    const post = await fetch(server.url, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.text();
  });

  test('the model menu lists what the server offers; ?model= picks one, an unknown one is explained', async () => {
    await page.goto(`${server.url}?model=${modelName}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    const manifest = (await (await fetch(new URL('models/manifest.json', server.url))).json()) as ModelManifest;
    const offered = [modelName, ...manifest.others.map((m) => m.name)];
    assert.deepEqual(await page.locator('#model-choice option').allTextContents(), offered);
    assert.equal(await page.inputValue('#model-choice'), modelName);
    await page.goto(`${server.url}?model=nope`);
    await page.waitForSelector('body[data-state="error"]', { timeout: 30_000 });
    assert.equal(await page.textContent('#status'), `There is no model 'nope' here: pick ${offered.join(' or ')}.`);
  });

  test('the live camera: faces found and labelled, FPS and stage times shown', async () => {
    await page.goto(server.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    assert.match((await page.textContent('#backend'))!, /^(wasm, \d+ threads?|WebGPU)$/);
    await page.click('#camera');
    await page.waitForSelector('body[data-state="camera"]');
    await page.waitForSelector('#faces li', { timeout: 30_000 });
    // Enough frames for the readouts to show means over several of them.
    await page.waitForFunction('Number(document.getElementById("fps").dataset.frames) >= 5', undefined, { timeout: 30_000 });
    await page.waitForTimeout(300);
    const labels = await page.locator('#faces li .label').allTextContents();
    assert.equal(labels.length, 1, `one face in the clip: ${labels.join(' | ')}`);
    assert.match(labels[0]!, LABEL);
    assert.ok(Number(await page.textContent('#fps')) > 0);
    for (const stage of ['detect', 'classify', 'draw', 'capture'])
      assert.match((await page.textContent(`#t-${stage}`))!, /^\d+\.\d ms$/, stage);
    await page.screenshot({ path: SCREENSHOT });
  });

  test('Space saves the annotated frame as PNG and its faces as JSON', async () => {
    const downloads: Download[] = [];
    const both = new Promise<void>((resolve) =>
      page.on('download', (d) => {
        downloads.push(d);
        if (downloads.length === 2) resolve();
      }),
    );
    await page.keyboard.press('Space');
    await both;
    const byType = Object.fromEntries(downloads.map((d) => [d.suggestedFilename().split('.').pop(), d]));
    const png = await readFile((await byType.png!.path())!);
    const snapshot = JSON.parse(await readFile((await byType.json!.path())!, 'utf8'));
    assert.deepEqual(pngSize(png), { width: 640, height: 360 });
    assert.equal(snapshot.source, 'camera');
    assert.deepEqual([snapshot.width, snapshot.height], [640, 360]);
    assert.equal(snapshot.faces.length, 1);
    const [face] = snapshot.faces;
    assert.equal(face.trackId, 1, 'the face kept its track through the frames');
    assert.ok(EXPRESSIONS.includes(face.expression));
    assert.deepEqual(Object.keys(face.probabilities), [...EXPRESSIONS], 'the same face record as predict --json');
    assert.ok(Math.abs((Object.values(face.probabilities) as number[]).reduce((a, b) => a + b, 0) - 1) < 1e-3);
    // The face in the clip: a box of plausible size, inside the frame.
    const { x, y, width, height } = face.box;
    assert.ok(width > 60 && height > 60 && x >= 0 && y >= 0 && x + width <= 640 && y + height <= 360, JSON.stringify(face.box));
  });

  test('Esc stops the camera', async () => {
    await page.keyboard.press('Escape');
    await page.waitForSelector('body[data-state="stopped"]');
    assert.match((await page.textContent('#status'))!, /Camera stopped/);
    assert.equal(await page.evaluate('document.getElementById("source").srcObject'), null);
    const frames = await framesAnalysed(page);
    await page.waitForTimeout(400);
    assert.equal(await framesAnalysed(page), frames, 'no frame analysed after stopping');
  });

  test('a picked photo is analysed too', async () => {
    await page.setInputFiles('#file', 'test/fixtures/dnn-face.jpg');
    await page.waitForSelector('body[data-state="photo"]');
    await page.waitForFunction(
      '/face/.test(document.getElementById("status").textContent) && !/Looking/.test(document.getElementById("status").textContent)',
    );
    assert.match((await page.textContent('#status'))!, /dnn-face\.jpg: 1 face\./);
    assert.match((await page.locator('#faces li .label').allTextContents())[0]!, LABEL);
  });

  test(
    'without --model the page runs lite, the shipped model that fits its frame budget',
    { skip: !existsSync(shippedModelPath(PAGE_MODEL)) },
    async () => {
      assert.equal(PAGE_MODEL, 'lite');
      const server = await createWebServer();
      try {
        assert.deepEqual(server.model, { name: 'lite', path: shippedModelPath('lite') });
      } finally {
        await server.close();
      }
    },
  );

  test('a model that is not there stops mien web with one line', async () => {
    const r = await runCli(['web', '--port', '0', '--model', join(dir, 'missing.onnx')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `mien: ${join(dir, 'missing.onnx')}: no such model file`);
  });
});
