import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { blurDataset, NO_AUGMENT } from '../src/data/index.js';
import { readOnnxMetadata } from '../src/export/index.js';
import { EarlyStopping, ReduceLrOnPlateau } from '../src/train/callbacks.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { DEFAULT_TRAIN_CONFIG, type EpochRecord, type TrainConfig } from '../src/train/config.js';
import { engineInfo } from '../src/train/engine.js';
import { RUN_FILES, train } from '../src/train/trainer.js';
import { syntheticFaces, tinySpec } from './helpers/synthetic.js';

const engine = engineInfo();
const skip = engine.available ? false : `native addon not built: ${engine.reason}`;

describe('training loop', { skip }, () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'mien-train-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  const config = (over: Partial<TrainConfig> = {}): TrainConfig => ({
    ...DEFAULT_TRAIN_CONFIG,
    arch: 'tiny-test',
    data: 'synthetic',
    augment: NO_AUGMENT,
    epochs: 4,
    batchSize: 16,
    lr: 3e-3,
    threads: 1,
    ...over,
  });

  test('real training steps make the loss fall and accuracy rise, and write the run folder', async () => {
    const out = join(dir, 'run');
    const result = await train({ spec: tinySpec(), config: config(), train: syntheticFaces(224, 1), val: syntheticFaces(70, 2), outDir: out });
    const h = result.history;
    assert.equal(h.length, 4);
    assert.ok(h[3]!.trainLoss < h[0]!.trainLoss * 0.7, `loss fell: ${h.map((r) => r.trainLoss.toFixed(3))}`);
    assert.ok(h[3]!.valAccuracy > 0.6, `val accuracy rose well above chance (1/7): ${h.map((r) => r.valAccuracy.toFixed(2))}`);
    const written = JSON.parse(await readFile(join(out, RUN_FILES.history), 'utf8')) as EpochRecord[];
    assert.deepEqual(written, h);
    for (const key of ['epoch', 'lr', 'trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'seconds'] as const) assert.equal(typeof written[0]![key], 'number');
    const best = await loadCheckpoint(join(out, RUN_FILES.best));
    assert.equal(best.state.epoch, result.bestEpoch);
    assert.equal(Math.max(...h.map((r) => r.valAccuracy)), result.bestValAccuracy);
    const last = await loadCheckpoint(join(out, RUN_FILES.last));
    assert.equal(last.state.epoch, 4);
    assert.ok(last.state.finished);
  });

  test('--input-blur: the val faces are blurred for selection and the exported model blurs its input', async () => {
    const blurredTrain = blurDataset(syntheticFaces(112, 1), 2);
    const val = syntheticFaces(35, 2);
    const run = async (name: string, inputBlur: number) =>
      train({ spec: tinySpec(), config: config({ epochs: 1, inputBlur }), train: blurredTrain, val, outDir: join(dir, name) });
    const [sharpVal, blurredVal] = [await run('blur-0', 0), await run('blur-2', 2)];
    // same weights (same seed, same training data), so only the val faces differ between the two runs
    assert.notEqual(sharpVal.history[0]!.valLoss, blurredVal.history[0]!.valLoss);
    const direct = await train({ spec: tinySpec(), config: config({ epochs: 1 }), train: blurredTrain, val: blurDataset(val, 2), outDir: join(dir, 'blur-direct') });
    assert.equal(direct.history[0]!.valLoss, blurredVal.history[0]!.valLoss);
    assert.equal((await readOnnxMetadata(blurredVal.bestOnnx))['mien.input_blur'], '2');
    assert.equal((await readOnnxMetadata(sharpVal.bestOnnx))['mien.input_blur'], undefined);
  });

  test('the same seed gives the same run', async () => {
    const run = async (name: string) =>
      (await train({ spec: tinySpec(), config: config({ epochs: 2, augment: { ...NO_AUGMENT, flip: true, shift: 2 } }), train: syntheticFaces(96, 1), val: syntheticFaces(35, 2), outDir: join(dir, name) })).history;
    const [a, b] = [await run('seed-a'), await run('seed-b')];
    assert.deepEqual(a.map((r) => r.trainLoss), b.map((r) => r.trainLoss));
  });

  test('a callback can change the learning rate and stop the run; the history records both', async () => {
    const result = await train({
      spec: tinySpec(),
      config: config({ epochs: 10 }),
      train: syntheticFaces(64, 1),
      val: syntheticFaces(35, 2),
      outDir: join(dir, 'callback'),
      callbacks: [
        {
          name: 'test',
          onEpochEnd(record, control) {
            control.setLearningRate(control.lr / 10);
            if (record.epoch === 3) control.stop('stopped by test');
          },
        },
      ],
    });
    assert.equal(result.stoppedEarly, 'stopped by test');
    assert.deepEqual(result.history.map((r) => r.epoch), [1, 2, 3]);
    const lrs = result.history.map((r) => r.lr);
    assert.ok(Math.abs(lrs[2]! - 3e-5) < 1e-12, `lr per epoch: ${lrs}`);
  });
});

describe('callbacks', () => {
  const record = (epoch: number, valLoss: number, valAccuracy: number): EpochRecord => ({
    epoch, lr: 0, trainLoss: 1, trainAccuracy: 0.5, valLoss, valAccuracy, seconds: 1, imagesPerSecond: 1,
  });
  const control = () => {
    const c = { lr: 1e-3, stopped: '', logs: [] as string[] };
    return {
      c,
      control: {
        get lr() { return c.lr; },
        setLearningRate: (lr: number) => void (c.lr = lr),
        stop: (reason: string) => void (c.stopped = reason),
        log: (m: string) => void c.logs.push(m),
      },
    };
  };

  test('reduce-LR-on-plateau waits `patience` epochs without a better val loss, then multiplies by factor', () => {
    const cb = new ReduceLrOnPlateau(0.5, 2, 1e-4);
    const { c, control: ctl } = control();
    for (const [e, loss] of [[1, 1.0], [2, 0.9], [3, 0.95], [4, 0.91]] as const) cb.onEpochEnd(record(e, loss, 0.5), ctl);
    assert.equal(c.lr, 5e-4);
    cb.onEpochEnd(record(5, 0.92, 0.5), ctl);
    cb.onEpochEnd(record(6, 0.92, 0.5), ctl);
    assert.equal(c.lr, 2.5e-4);
    // state survives a JSON round trip (it lives in checkpoints)
    const restored = new ReduceLrOnPlateau(0.5, 2, 1e-4);
    restored.setState(JSON.parse(JSON.stringify(cb.getState())));
    assert.deepEqual(restored.getState(), cb.getState());
    for (let e = 7; e < 20; e++) cb.onEpochEnd(record(e, 0.92, 0.5), ctl);
    assert.equal(c.lr, 1e-4, 'never below minLr');
  });

  test('early stopping stops after `patience` epochs without a better val accuracy', () => {
    const cb = new EarlyStopping(2);
    const { c, control: ctl } = control();
    cb.onEpochEnd(record(1, 1, 0.5), ctl);
    cb.onEpochEnd(record(2, 1, 0.6), ctl);
    cb.onEpochEnd(record(3, 1, 0.6), ctl);
    assert.equal(c.stopped, '');
    const fresh = new EarlyStopping(2);
    fresh.setState(JSON.parse(JSON.stringify(cb.getState())));
    fresh.onEpochEnd(record(4, 1, 0.55), ctl);
    assert.match(c.stopped, /2 epochs/);
  });
});
