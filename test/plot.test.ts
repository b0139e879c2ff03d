import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { FACE_PIXELS, EXPRESSIONS } from '../src/core/labels.js';
import { PictureFormatError } from '../src/models/index.js';
import {
  confusionMatrixChart,
  CURVE_PANEL_TITLES,
  CurvesCallback,
  faceGrid,
  HistoryError,
  parseHistory,
  reliabilityChart,
  renderChart,
  renderTrainingCurves,
  writeChart,
} from '../src/plot/index.js';
import { fakeContext } from './helpers/train-context.js';
import type { EpochRecord } from '../src/train/config.js';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/data-fixtures.js';
import { syntheticFaces, writeFer2013Csv } from './helpers/synthetic.js';

const tempDir = useTempDir('plot');

/** A plausible run: losses falling, accuracies rising with a wobble, the rate halved every 10 epochs. */
function history(epochs: number): EpochRecord[] {
  return Array.from({ length: epochs }, (_, i) => {
    const t = (i + 1) / epochs;
    return {
      epoch: i + 1,
      lr: 5e-4 / 2 ** Math.floor(i / 10),
      trainLoss: 1.8 - t,
      trainAccuracy: 0.25 + 0.5 * t,
      valLoss: 1.7 - 0.5 * t + 0.05 * Math.sin(i),
      valAccuracy: 0.25 + 0.4 * t - 0.03 * Math.sin(i * 1.7),
      seconds: 60,
      imagesPerSecond: 300,
    };
  });
}

const pngSize = async (path: string) => {
  const { width, height, format } = await sharp(path).metadata();
  return { width: width!, height: height!, format };
};

describe('training curves', () => {
  for (const epochs of [1, 30]) {
    test(`${epochs} epoch${epochs === 1 ? '' : 's'}: an SVG with the four panels and a 2× PNG`, async () => {
      const out = join(tempDir(), `curves-${epochs}`);
      const paths = await renderTrainingCurves(history(epochs), out);
      assert.deepEqual(paths, { svg: join(out, 'curves.svg'), png: join(out, 'curves.png') });
      const svg = await readFile(paths.svg, 'utf8');
      for (const title of Object.values(CURVE_PANEL_TITLES)) assert.ok(svg.includes(title), `panel "${title}" in the SVG`);
      const best = history(epochs).reduce((a, b) => (b.valAccuracy > a.valAccuracy ? b : a));
      assert.ok(svg.includes(`at epoch ${best.epoch} `), 'the best epoch is named');
      const [, svgWidth, svgHeight] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
      assert.ok(svgWidth! > 600 && svgWidth! < 1600 && svgHeight! > 400 && svgHeight! < 1200, `SVG ${svgWidth}×${svgHeight}`);
      assert.deepEqual(await pngSize(paths.png), { width: 2 * svgWidth!, height: 2 * svgHeight!, format: 'png' });
      assert.ok((await stat(paths.png)).size > 20_000, 'the PNG has drawn content');
    });
  }

  test('with weight averaging, the trained weights are a dotted line beside the average', async () => {
    const out = join(tempDir(), 'curves-ema');
    const averaged = history(5).map((r) => ({ ...r, trainedValAccuracy: r.valAccuracy - 0.01, trainedValLoss: r.valLoss + 0.02 }));
    const svg = await readFile((await renderTrainingCurves(averaged, out)).svg, 'utf8');
    assert.ok(svg.includes('dotted: the trained weights, not averaged'));
    assert.equal((svg.match(/stroke-dasharray="2,2"/g) ?? []).length, 1, 'one dotted line');
    const plain = await readFile((await renderTrainingCurves(history(5), join(out, 'plain'))).svg, 'utf8');
    assert.ok(!plain.includes('dotted') && !plain.includes('stroke-dasharray="2,2"'));
  });

  test("with distillation, the cost panel draws the labels' term, on validation's scale", async () => {
    const out = join(tempDir(), 'curves-kd');
    const distilled = history(5).map((r) => ({ ...r, trainLoss: 20 + r.trainLoss, trainLabelLoss: r.trainLoss }));
    const svg = await readFile((await renderTrainingCurves(distilled, out)).svg, 'utf8');
    const last = distilled[4]!;
    assert.ok(svg.includes(`train ${last.trainLabelLoss.toFixed(3)} (the labels' term; with the teacher's ${last.trainLoss.toFixed(3)})`));
    // The loss axis spans the two curves drawn, not the teacher term's 20 and more.
    assert.ok(!/>20<\/text>/.test(svg.slice(0, svg.indexOf('Training accuracy'))), 'no tick at 20 in the cost panel');
  });

  test('an empty history cannot be drawn', async () => {
    await assert.rejects(renderTrainingCurves([], tempDir()), /at least one epoch/);
  });

  test('parseHistory accepts history.json and names what is wrong with anything else', () => {
    assert.deepEqual(parseHistory(JSON.stringify(history(2)), 'h.json'), history(2));
    assert.throws(
      () => parseHistory('{', 'h.json'),
      (e) => e instanceof HistoryError && /h\.json is not valid JSON/.test(e.message),
    );
    assert.throws(() => parseHistory('{}', 'h.json'), /not a training history/);
    assert.throws(() => parseHistory('[]', 'h.json'), /holds no epochs yet/);
    assert.throws(() => parseHistory('[{"epoch":1,"lr":0.1}]', 'h.json'), /epoch entry 1 has no number "trainLoss"/);
  });
});

describe('CurvesCallback', () => {
  test("redraws the curves from the trainer's history after every epoch", async () => {
    const out = join(tempDir(), 'callback');
    const [e1, e2, e3] = history(3);
    const { ctx, state, logged } = fakeContext({ outDir: out, history: [e1!, e2!] });
    const callback = new CurvesCallback();
    await callback.onEpochEnd(ctx);
    const svgAfter2 = await readFile(join(out, 'curves.svg'), 'utf8');
    assert.ok(svgAfter2.includes(`last epoch: ${(100 * e2!.trainAccuracy).toFixed(2)}%`));
    state.history.push(e3!);
    await callback.onEpochEnd(ctx);
    const svgAfter3 = await readFile(join(out, 'curves.svg'), 'utf8');
    assert.ok(svgAfter3.includes(`last epoch: ${(100 * e3!.trainAccuracy).toFixed(2)}%`), 'redrawn with epoch 3');
    assert.ok((await stat(join(out, 'curves.png'))).size > 0);
    assert.deepEqual(logged, []);
  });

  test('a drawing failure is logged, not thrown: it must not end a training run', async () => {
    const notAFolder = join(tempDir(), 'file-in-the-way');
    await writeFile(notAFolder, 'x');
    const { ctx, logged } = fakeContext({ outDir: notAFolder, history: history(1) });
    await new CurvesCallback().onEpochEnd(ctx);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /^could not draw the training curves: /);
  });
});

describe('charts', () => {
  const labels = ['angry', 'happy', 'sad'];
  const confusion = [
    [8, 1, 1],
    [0, 30, 0],
    [3, 0, 1],
  ];

  test('confusion matrix: counts, or row shares, in every cell', async () => {
    const counts = await renderChart(confusionMatrixChart(confusion, labels, false));
    for (const value of [8, 30, 3]) assert.match(counts, new RegExp(`>${value}</text>`));
    const shares = await renderChart(confusionMatrixChart(confusion, labels, true));
    for (const share of ['80%', '100%', '75%', '25%']) assert.ok(shares.includes(`>${share}</text>`), share);
    for (const label of labels) assert.ok(shares.includes(`>${label}</text>`), label);
    assert.throws(() => confusionMatrixChart([[1, 2]], labels, false), /must be 3×3/);
  });

  test('confusion matrix text is white on the dark cells and dark on the light ones', async () => {
    const svg = await renderChart(confusionMatrixChart(confusion, labels, false));
    const fillOf = (value: number) => new RegExp(`fill="([^"]+)"[^>]*>${value}</text>`).exec(svg)?.[1];
    assert.equal(fillOf(30), 'white');
    assert.equal(fillOf(8), '#222222');
  });

  test('reliability diagram renders bars, the gap and the faces per bin (empty bins left out)', async () => {
    const bins = [
      { confidence: 0, accuracy: 0, count: 0 },
      { confidence: 0.42, accuracy: 0.35, count: 20 },
      { confidence: 0.63, accuracy: 0.6, count: 50 },
      { confidence: 0.91, accuracy: 0.85, count: 130 },
    ];
    const svg = await renderChart(reliabilityChart(bins));
    assert.ok(svg.includes('Reliability'));
    assert.ok(svg.includes('>faces</text>'));
    assert.throws(() => reliabilityChart([]), /at least one bin/);
  });

  test('writeChart picks SVG or PNG by extension and refuses anything else', async () => {
    const spec = confusionMatrixChart(confusion, labels, false);
    await writeChart(spec, join(tempDir(), 'cm.svg'));
    assert.match(await readFile(join(tempDir(), 'cm.svg'), 'utf8'), /^<svg/);
    await writeChart(spec, join(tempDir(), 'cm.PNG'));
    assert.equal((await pngSize(join(tempDir(), 'cm.PNG'))).format, 'png');
    await assert.rejects(writeChart(spec, join(tempDir(), 'cm.jpg')), PictureFormatError);
  });
});

describe('faceGrid', () => {
  const uniform = (value: number) => new Uint8Array(FACE_PIXELS).fill(value);

  test('lays out rows of faces with captions at the documented size, faces where they belong', async () => {
    const rows = [
      { label: 'angry', faces: [uniform(0), uniform(0), uniform(0), uniform(0)], captions: ['sad 93%', 'fear 51%'] },
      { label: 'happy', faces: [uniform(128)] },
      { label: 'sad', faces: [] },
    ];
    const png = await faceGrid(rows, { labelWidth: 60 });
    const { width, height, channels } = await sharp(png).metadata();
    // margin 12 + label 60 + 12 + 4 columns of 96 with 3 gaps of 6 + margin 12
    assert.equal(width, 12 + 60 + 12 + 4 * 96 + 3 * 6 + 12);
    // margin 12 + 3 rows of (96 face + 18 caption) with 2 gaps of 6 + margin 12
    assert.equal(height, 12 + 3 * (96 + 18) + 2 * 6 + 12);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const pixel = (x: number, y: number) => data[(y * width! + x) * channels!]!;
    const [gridLeft, secondRowTop] = [12 + 60 + 12, 12 + 96 + 18 + 6];
    assert.equal(pixel(gridLeft + 48, 12 + 48), 0, 'first face of the first row is black');
    assert.equal(pixel(gridLeft + 48, secondRowTop + 48), 128, 'first face of the second row is gray');
    assert.equal(pixel(gridLeft + 3 * 102 + 48, 12 + 48), 0, 'fourth face of the first row is black');
    assert.equal(pixel(gridLeft + 102 + 48, secondRowTop + 48), 255, 'beside the lone face of the second row: white background');
  });

  test('a caption wider than a face widens every column', async () => {
    const caption = 'a caption far wider than the face above it';
    const { width } = await sharp(
      await faceGrid([{ label: 'l', faces: [uniform(0), uniform(0)], captions: [caption] }], { labelWidth: 10 }),
    ).metadata();
    assert.ok(width! > 12 + 10 + 12 + 2 * 200, `${width}`);
  });

  test('the label column fits the labels by default, and a title adds a line', async () => {
    const rows = [{ label: 'x', faces: [uniform(9)] }];
    const narrow = await sharp(await faceGrid(rows)).metadata();
    const wide = await sharp(await faceGrid([{ ...rows[0]!, label: 'a much longer label' }], { title: 'Faces' })).metadata();
    assert.ok(wide.width! > narrow.width! + 100);
    assert.equal(wide.height! - narrow.height!, 30);
    assert.equal(narrow.height, 12 + 96 + 12, 'faces are drawn at 96 px by default, no caption row without captions');
  });

  test('a face of the wrong size is refused', async () => {
    await assert.rejects(faceGrid([{ label: 'bad', faces: [new Uint8Array(10)] }]), /2304 bytes/);
  });
});

describe('mien plot', () => {
  test('draws the curves of a run folder and prints the paths', async () => {
    const run = join(tempDir(), 'run');
    await mkdir(run, { recursive: true });
    await writeFile(join(run, 'history.json'), JSON.stringify(history(5), null, 2));
    const r = await runCli(['plot', run]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `wrote ${join(run, 'curves.svg')}\nwrote ${join(run, 'curves.png')}\n`);
    assert.ok((await stat(join(run, 'curves.png'))).size > 20_000);
  });

  test('a folder without history.json, or with a broken one, gets one clear line', async () => {
    const empty = join(tempDir(), 'not-a-run');
    await mkdir(empty, { recursive: true });
    const missing = await runCli(['plot', empty]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `mien: ${empty} has no history.json (is it a training run folder?)\n`);
    await writeFile(join(empty, 'history.json'), '[]');
    const broken = await runCli(['plot', empty]);
    assert.equal(broken.code, 1);
    assert.equal(broken.stderr, `mien: ${join(empty, 'history.json')} holds no epochs yet\n`);
  });
});

describe('mien data stats', () => {
  test('prints faces per class and split with totals, and draws the distribution and the sample faces', async () => {
    const csv = join(tempDir(), 'tiny.csv');
    // syntheticFaces labels face i as class i % 7: 35 faces, 5 per class; faces 0–27 Training, 28–34 PublicTest (val)
    await writeFer2013Csv(csv, syntheticFaces(35), (i) => (i < 28 ? 'Training' : 'PublicTest'));
    const out = join(tempDir(), 'stats');
    const r = await runCli(['data', 'stats', csv, '--out', out, '--per-class', '3']);
    assert.equal(r.code, 0, r.stderr);
    const table = r.stdout.split('\n').filter((line) => /^\S+\s+\d/.test(line));
    const rows = Object.fromEntries(table.map((line) => line.split(/\s+/)).map(([name, ...cells]) => [name, cells]));
    for (const name of EXPRESSIONS) assert.deepEqual(rows[name], ['4', '1', '5', '14.3%'], name);
    assert.deepEqual(rows['total'], ['28', '7', '35', '100.0%']);
    assert.match(r.stdout, /^class\s+train\s+val\s+total\s+share$/m);
    assert.match(r.stdout, /: 35 faces \(fer2013-csv/);

    assert.ok((await readFile(join(out, 'class-distribution.svg'), 'utf8')).includes('Faces per class'));
    assert.equal((await pngSize(join(out, 'class-distribution.png'))).format, 'png');
    // 7 class rows of 3 faces (96 px, captioned with the split) under a title
    const samples = await pngSize(join(out, 'samples.png'));
    assert.equal(samples.height, 12 + 30 + 7 * (96 + 18) + 6 * 6 + 12);
    for (const file of ['class-distribution.svg', 'class-distribution.png', 'samples.png'])
      assert.ok(r.stdout.includes(`wrote ${join(out, file)}`));
  });

  test('a missing source is one line', async () => {
    const r = await runCli(['data', 'stats', join(tempDir(), 'nope.csv'), '--out', join(tempDir(), 'x')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^mien: .*nope\.csv: no such file or folder\n$/);
  });
});
