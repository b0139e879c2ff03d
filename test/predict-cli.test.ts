import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import sharp, { type FormatEnum } from 'sharp';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';
import { overlayShapes, type OverlayShape } from '../src/core/overlay.js';
import { textWidth } from '../src/core/text-width.js';
import { decodeImage, IMAGE_EXTENSIONS } from '../src/recognize/image.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { bandClassifierOnnx } from './helpers/expression-models.js';
import { syntheticFaces } from './helpers/synthetic.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** `mien ...args` with `input` piped to its stdin. */
function runCliWithStdin(args: string[], input: Buffer): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  child.stdin.end(input);
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const noStack = (stderr: string) => assert.doesNotMatch(stderr, /\n\s+at /, `no stack trace: ${stderr}`);

describe('mien predict: stdin, JSON errors, formats, annotation', () => {
  let dir: string;
  let model: string;
  let happy: Buffer;
  let cli: string[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-predict-'));
    model = join(dir, 'band.onnx');
    await writeFile(model, bandClassifierOnnx());
    const faces = syntheticFaces(7, 2);
    happy = await sharp(Buffer.from(faces.images.subarray(3 * FACE_PIXELS, 4 * FACE_PIXELS)), {
      raw: { width: FACE_SIZE, height: FACE_SIZE, channels: 1 },
    })
      .png()
      .toBuffer();
    await writeFile(join(dir, 'happy.png'), happy);
    await writeFile(join(dir, 'broken.jpg'), 'xx');
    cli = ['--detector', 'none', '--model', model];
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('- reads one image from stdin', async () => {
    const r = await runCliWithStdin(['predict', '-', '--json', ...cli], happy);
    assert.equal(r.code, 0, r.stderr);
    const [line, ...rest] = jsonLines(r.stdout);
    assert.equal(rest.length, 0);
    assert.equal(line!.file, '-');
    assert.equal((line!.faces as { expression: string }[])[0]!.expression, 'happy');
    const empty = await runCliWithStdin(['predict', '-', ...cli], Buffer.alloc(0));
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /stdin: empty/);
    const twice = await runCli(['predict', '-', '-', ...cli]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /only once/);
  });

  test('--json: every failed input gets a {file, error} line in input order; exit 1 only when all fail', async () => {
    const files = [join(dir, 'broken.jpg'), join(dir, 'happy.png'), join(dir, 'missing.png')];
    const r = await runCli(['predict', ...files, '--json', ...cli]);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    assert.deepEqual(
      lines.map((l) => l.file),
      files,
    );
    assert.deepEqual(Object.keys(lines[0]!), ['file', 'error']);
    assert.match(lines[0]!.error as string, /broken\.jpg: not an image/);
    assert.deepEqual(Object.keys(lines[1]!), ['file', 'width', 'height', 'faces']);
    assert.match(lines[2]!.error as string, /missing\.png: no such file/);
    assert.match(r.stderr, /broken\.jpg: not an image/, 'still reported on stderr');

    const big = await runCli(['predict', join(dir, 'happy.png'), '--json', '--max-pixels', '100', ...cli]);
    assert.equal(big.code, 1);
    const [only] = jsonLines(big.stdout);
    assert.equal(only!.file, join(dir, 'happy.png'));
    assert.match(only!.error as string, /megapixel limit/);
    noStack(big.stderr);
  });

  test('folders are searched for what sharp decodes, and every collected extension decodes', async () => {
    for (const [id, format] of Object.entries(sharp.format)) {
      for (const suffix of format.input.fileSuffix ?? []) {
        if (IMAGE_EXTENSIONS.has(suffix)) assert.ok(format.input.file, `${suffix} (${id}) is collected but sharp cannot read it`);
      }
    }
    assert.ok(['.jpg', '.jpeg', '.png', '.webp'].every((e) => IMAGE_EXTENSIONS.has(e)));
    assert.equal(IMAGE_EXTENSIONS.has('.bmp'), sharp.format.magick.input.file, '.bmp only with a build that reads it');
    assert.equal(IMAGE_EXTENSIONS.has('.heic'), (sharp.format.heif.input.fileSuffix ?? []).includes('.heic'));
    // write a tiny picture in each writable format under each of its collected names, and decode it
    const tiny = sharp(Buffer.alloc(8 * 8 * 3, 128), { raw: { width: 8, height: 8, channels: 3 } });
    for (const [id, format] of Object.entries(sharp.format)) {
      if (!format.output.buffer || id === 'raw' || id === 'dz') continue;
      const encoded = await tiny
        .clone()
        .toFormat(id === 'heif' ? 'avif' : (id as keyof FormatEnum))
        .toBuffer();
      for (const suffix of (format.input.fileSuffix ?? []).filter((s: string) => IMAGE_EXTENSIONS.has(s))) {
        const file = join(dir, `tiny${suffix}`);
        await writeFile(file, encoded);
        assert.equal((await decodeImage(file)).width, 8, suffix);
        await rm(file);
      }
    }

    const folder = join(dir, 'mixed');
    await mkdir(folder);
    await writeFile(join(folder, 'happy.png'), happy);
    // a real 2×2 BMP and a file named .heic: this sharp build reads neither, so neither may be collected
    const bmp = Buffer.alloc(70);
    bmp.write('BM', 0);
    bmp.writeUInt32LE(70, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(2, 18);
    bmp.writeInt32LE(2, 22);
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(24, 28);
    bmp.writeUInt32LE(16, 34);
    await writeFile(join(folder, 'photo.bmp'), bmp);
    await writeFile(join(folder, 'photo.heic'), 'not really');
    const r = await runCli(['predict', folder, '--json', ...cli]);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    const expected = [join(folder, 'happy.png')];
    if (IMAGE_EXTENSIONS.has('.bmp')) expected.unshift(join(folder, 'photo.bmp'));
    if (IMAGE_EXTENSIONS.has('.heic')) expected.push(join(folder, 'photo.heic'));
    assert.deepEqual(
      lines.map((l) => l.file),
      expected,
    );
    if (!IMAGE_EXTENSIONS.has('.bmp')) assert.equal(r.stderr, '', 'nothing collected only to fail');
  });

  test('--annotate: each path written on stderr; onto a file, or over an existing one, is one line and exit 2', async () => {
    const out = join(dir, 'annotated');
    const r = await runCli(['predict', join(dir, 'happy.png'), '--annotate', out, ...cli]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /happy\.png {2}face 1\/1/);
    assert.equal(r.stderr, `wrote ${join(out, 'happy.jpg')}\n`);

    const again = await runCli(['predict', join(dir, 'happy.png'), '--annotate', out, ...cli]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^mien: --annotate .*happy\.jpg already exists, and mien does not overwrite files/);
    assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);

    const onFile = await runCli(['predict', join(dir, 'happy.png'), '--annotate', join(dir, 'happy.png'), ...cli]);
    assert.equal(onFile.code, 2);
    assert.match(onFile.stderr, /--annotate .*happy\.png: is a file, not a folder/);
    assert.doesNotMatch(onFile.stderr, /EEXIST/);
    noStack(onFile.stderr);

    const under = await runCli(['predict', join(dir, 'happy.png'), '--annotate', join(dir, 'happy.png', 'sub'), ...cli]);
    assert.equal(under.code, 2);
    assert.doesNotMatch(under.stderr, /ENOTDIR|EEXIST/);
  });

  test('annotation layout: tags measured and inside the picture, panels never over a face', () => {
    const probabilities = { angry: 0, disgust: 0, fear: 0.05, happy: 0.05, sad: 0, surprise: 0.8, neutral: 0.1 };
    const size = { width: 400, height: 300 };
    type Rect = { x: number; y: number; width: number; height: number };
    const rects = (shapes: OverlayShape[]) => shapes.filter((s): s is OverlayShape & Rect & { kind: 'rect' } => s.kind === 'rect');
    const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    // a face at the right edge: its tag is pulled inside, its panel goes left
    const edge = { box: { x: 340, y: 0, width: 60, height: 60 }, expression: 'surprise' as const, probabilities };
    const shapes = overlayShapes(size, [edge]);
    for (const r of rects(shapes)) assert.ok(r.x >= 0 && r.x + r.width <= size.width + 1e-9 && r.y >= 0, JSON.stringify(r));
    const tag = shapes.find((s) => s.kind === 'text' && s.bold)!;
    assert.ok(tag.kind === 'text' && tag.x + textWidth(tag.text, tag.size, true) <= size.width, 'the label fits in the picture');
    // two faces side by side: neither panel may cover the other face; with no free side the panel is left out
    const left = { box: { x: 100, y: 100, width: 80, height: 80 }, expression: 'surprise' as const, probabilities };
    const right = { box: { x: 190, y: 100, width: 80, height: 80 }, expression: 'surprise' as const, probabilities };
    const both = overlayShapes(size, [left, right]);
    const panels = rects(both).filter((r) => r.opacity === 0.55 && r.height > 60);
    for (const p of panels) for (const f of [left, right]) assert.ok(!overlaps(p, f.box), `panel ${JSON.stringify(p)} covers a face`);
    const texts = both.flatMap((s) => (s.kind === 'text' ? [s.text] : []));
    assert.ok(texts.filter((t) => t === 'surprise 80%').length === 2, 'both tags are drawn');
  });

  test('--no-panels leaves out the probability panels and keeps the box and tag', async () => {
    const face = {
      box: { x: 10, y: 40, width: 100, height: 100 },
      expression: 'happy' as const,
      probabilities: { angry: 0, disgust: 0, fear: 0, happy: 0.9, sad: 0, surprise: 0, neutral: 0.1 },
    };
    const texts = (shapes: ReturnType<typeof overlayShapes>) => shapes.flatMap((s) => (s.kind === 'text' ? [s.text] : []));
    assert.deepEqual(texts(overlayShapes({ width: 400, height: 400 }, [face], { panels: false })), ['happy 90%']);
    assert.equal(texts(overlayShapes({ width: 400, height: 400 }, [face])).length, 8, 'the default keeps the panel: the tag and 7 names');

    const withPanels = join(dir, 'with');
    const without = join(dir, 'without');
    // A photo with room beside its face for the panel (a whole-image face never gets one: it would cover the face).
    const photo = 'test/fixtures/dnn-face.jpg';
    const a = await runCli(['predict', photo, '--annotate', withPanels]);
    const b = await runCli(['predict', photo, '--annotate', without, '--no-panels']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(await readdir(without), ['dnn-face.jpg']);
    const pixels = async (folder: string) => (await decodeImage(join(folder, 'dnn-face.jpg'))).data;
    assert.notDeepEqual(await pixels(withPanels), await pixels(without));
    assert.ok(existsSync(join(withPanels, 'dnn-face.jpg')));
  });
});
