import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NO_AUGMENT } from '../src/data/index.js';
import type { Batch, Callback } from '../src/train/callback.js';
import { EarlyStopping, LrSchedule, ReduceLrOnPlateau } from '../src/train/callbacks/index.js';
import { loadCheckpoint, type Checkpoint } from '../src/train/checkpoint.js';
import { DEFAULT_TRAIN_CONFIG, type EpochRecord, type TrainConfig } from '../src/train/config.js';
import { engineInfo } from '../src/train/engine.js';
import { RUN_FILES, train } from '../src/train/trainer.js';
import { syntheticFaces, tinySpec } from './helpers/synthetic.js';
import { epochRecord, fakeContext } from './helpers/train-context.js';

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
    const result = await train({
      spec: tinySpec(),
      config: config(),
      train: syntheticFaces(224, 1),
      val: syntheticFaces(70, 2),
      outDir: out,
    });
    const h = result.history;
    assert.equal(h.length, 4);
    assert.ok(h[3]!.trainLoss < h[0]!.trainLoss * 0.7, `loss fell: ${h.map((r) => r.trainLoss.toFixed(3))}`);
    assert.ok(h[3]!.valAccuracy > 0.6, `val accuracy rose well above chance (1/7): ${h.map((r) => r.valAccuracy.toFixed(2))}`);
    const written = JSON.parse(await readFile(join(out, RUN_FILES.history), 'utf8')) as EpochRecord[];
    assert.deepEqual(written, h);
    for (const key of ['epoch', 'lr', 'trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'seconds'] as const)
      assert.equal(typeof written[0]![key], 'number');
    const best = await loadCheckpoint(join(out, RUN_FILES.best));
    assert.equal(best.state.epoch, result.bestEpoch);
    assert.equal(Math.max(...h.map((r) => r.valAccuracy)), result.bestValAccuracy);
    const last = await loadCheckpoint(join(out, RUN_FILES.last));
    assert.equal(last.state.epoch, 4);
    assert.ok(last.state.finished);
  });

  test('the same seed gives the same run', async () => {
    const run = async (name: string) =>
      (
        await train({
          spec: tinySpec(),
          config: config({ epochs: 2, augment: { ...NO_AUGMENT, flip: true, shift: 2 } }),
          train: syntheticFaces(96, 1),
          val: syntheticFaces(35, 2),
          outDir: join(dir, name),
        })
      ).history;
    const [a, b] = [await run('seed-a'), await run('seed-b')];
    assert.deepEqual(
      a.map((r) => r.trainLoss),
      b.map((r) => r.trainLoss),
    );
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
          onEpochEnd(ctx, { record }) {
            ctx.setLearningRate(ctx.state.lr / 10);
            if (record.epoch === 3) ctx.stop('stopped by test');
          },
        },
      ],
    });
    assert.equal(result.stoppedEarly, 'stopped by test');
    assert.deepEqual(
      result.history.map((r) => r.epoch),
      [1, 2, 3],
    );
    const lrs = result.history.map((r) => r.lr);
    assert.ok(Math.abs(lrs[2]! - 3e-5) < 1e-12, `lr per epoch: ${lrs}`);
  });

  test('hooks fire in order, batch hooks see every batch, and a batch hook can give soft targets', async () => {
    const events: string[] = [];
    let softLoss = 0;
    const hooks = (tag: string) => ({
      name: tag,
      onTrainStart: () => void events.push(`${tag}:trainStart`),
      onEpochStart: (_: unknown, epoch: number) => void events.push(`${tag}:epochStart ${epoch}`),
      onBatchEnd: (_: unknown, batch: Batch) => void events.push(`${tag}:batch ${batch.epoch}.${batch.index}`),
      onValidationStart: () => void events.push(`${tag}:valStart`),
      onValidationEnd: () => void events.push(`${tag}:valEnd`),
      onEpochEnd: () => void events.push(`${tag}:epochEnd`),
      onTrainEnd: () => void events.push(`${tag}:trainEnd`),
    });
    const uniform: Callback = {
      name: 'uniform-targets',
      onBatchStart(_, batch) {
        batch.softTargets = new Float32Array(batch.labels.length * 7).fill(1 / 7);
      },
      onBatchEnd(_, __, result) {
        softLoss = result.loss;
      },
    };
    await train({
      spec: tinySpec(),
      config: config({ epochs: 2, maxBatches: 2 }),
      train: syntheticFaces(64, 1),
      val: syntheticFaces(14, 2),
      outDir: join(dir, 'hooks'),
      callbacks: [hooks('a'), uniform],
    });
    assert.deepEqual(events, [
      'a:trainStart',
      ...[1, 2].flatMap((e) => [`a:epochStart ${e}`, `a:batch ${e}.0`, `a:batch ${e}.1`, 'a:valStart', 'a:valEnd', 'a:epochEnd']),
      'a:trainEnd',
    ]);
    // cross-entropy against uniform targets is at least log 7, whatever the logits
    assert.ok(softLoss >= Math.log(7) - 1e-6, `loss with uniform soft targets ${softLoss}`);
  });

  test('warm-up and cosine set the rate every batch; the history shows the decay', async () => {
    const result = await train({
      spec: tinySpec(),
      config: config({ epochs: 4, schedule: 'cosine', warmupEpochs: 1 }),
      train: syntheticFaces(64, 1),
      val: syntheticFaces(14, 2),
      outDir: join(dir, 'cosine'),
    });
    const lrs = result.history.map((r) => r.lr);
    // epoch 1 ends its warm-up at the full rate; later epochs end lower each time, the last at the floor
    assert.ok(Math.abs(lrs[0]! - 3e-3) < 1e-9 && lrs[1]! < lrs[0]! && lrs[2]! < lrs[1]!, `lr per epoch: ${lrs}`);
    assert.ok(Math.abs(lrs[3]! - DEFAULT_TRAIN_CONFIG.plateau.minLr) < 1e-9, `last lr ${lrs[3]}`);
  });

  test('weight averaging: validation and best.ckpt use the average, last.ckpt the trained weights; resume is exact', async () => {
    const run = (name: string, epochs: number, resume?: Checkpoint) =>
      train({
        spec: tinySpec(),
        config: config({ epochs, ema: 0.9, augment: { ...NO_AUGMENT, flip: true } }),
        train: syntheticFaces(96, 1),
        val: syntheticFaces(35, 2),
        outDir: join(dir, name),
        resume,
      });
    const straight = await run('ema', 3);
    const best = await loadCheckpoint(join(dir, 'ema', RUN_FILES.best));
    const last = await loadCheckpoint(join(dir, 'ema', RUN_FILES.last));
    assert.notDeepEqual(best.weights, last.weights, 'the average differs from the trained weights');
    const averaged = (last.state.callbacks['ema'] as { weights: string[] }).weights;
    if (best.state.epoch === 3) assert.equal(Buffer.from(best.weights[0]!.buffer).toString('base64'), averaged[0]);
    await run('ema-resumed', 1);
    const after1 = await loadCheckpoint(join(dir, 'ema-resumed', RUN_FILES.last));
    after1.state.finished = false; // extended to 3 epochs, as `mien train --resume --epochs 3` does
    const resumed = await run('ema-resumed', 3, after1);
    assert.deepEqual(
      resumed.history.map((r) => [r.trainLoss, r.valLoss]),
      straight.history.map((r) => [r.trainLoss, r.valLoss]),
    );
  });

  test("distillation from a trained run: the teacher's soft targets change the loss", async () => {
    const teacherDir = join(dir, 'teacher');
    await train({
      spec: tinySpec(),
      config: config({ epochs: 2 }),
      train: syntheticFaces(96, 1),
      val: syntheticFaces(35, 2),
      outDir: teacherDir,
    });
    const student = (name: string, distillation?: TrainConfig['distillation']) =>
      train({
        spec: tinySpec(),
        config: config({ epochs: 1, distillation }),
        train: syntheticFaces(96, 3),
        val: syntheticFaces(35, 2),
        outDir: join(dir, name),
      });
    const plain = await student('student-plain');
    const distilled = await student('student-kd', { teachers: [teacherDir], temperature: 4, weight: 0.7 });
    assert.notEqual(distilled.history[0]!.trainLoss, plain.history[0]!.trainLoss);
    await assert.rejects(
      student('student-bad', { teachers: [join(dir, 'nowhere')], temperature: 4, weight: 0.7 }),
      /cannot read checkpoint/,
    );
  });
});

describe('callbacks', () => {
  test('reduce-LR-on-plateau waits `patience` epochs without a better val loss, then multiplies by factor', () => {
    const cb = new ReduceLrOnPlateau(0.5, 2, 1e-4);
    const { ctx, state } = fakeContext();
    const end = (e: number, loss: number) => cb.onEpochEnd(ctx, { record: epochRecord(e, loss, 0.5), isBest: false, validatedWeights: [] });
    for (const [e, loss] of [
      [1, 1.0],
      [2, 0.9],
      [3, 0.95],
      [4, 0.91],
    ] as const)
      end(e, loss);
    assert.equal(state.lr, 5e-4);
    end(5, 0.92);
    end(6, 0.92);
    assert.equal(state.lr, 2.5e-4);
    // state survives a JSON round trip (it lives in checkpoints)
    const restored = new ReduceLrOnPlateau(0.5, 2, 1e-4);
    restored.setState(JSON.parse(JSON.stringify(cb.getState())));
    assert.deepEqual(restored.getState(), cb.getState());
    for (let e = 7; e < 20; e++) end(e, 0.92);
    assert.equal(state.lr, 1e-4, 'never below minLr');
  });

  test('early stopping stops after `patience` epochs without a better val accuracy', () => {
    const cb = new EarlyStopping(2);
    const { ctx, stopped } = fakeContext();
    const end = (c: EarlyStopping, e: number, acc: number) =>
      c.onEpochEnd(ctx, { record: epochRecord(e, 1, acc), isBest: false, validatedWeights: [] });
    end(cb, 1, 0.5);
    end(cb, 2, 0.6);
    end(cb, 3, 0.6);
    assert.equal(stopped(), undefined);
    const fresh = new EarlyStopping(2);
    fresh.setState(JSON.parse(JSON.stringify(cb.getState())));
    end(fresh, 4, 0.55);
    assert.match(stopped() ?? '', /2 epochs/);
  });

  test('the rate schedule: linear warm-up from base/steps, cosine down to the floor, plateau left alone after warm-up', () => {
    const cosine = new LrSchedule('cosine', 1e-2, 1e-5, 1);
    assert.ok(Math.abs(cosine.rateAt(0, 10, 100)! - 1e-3) < 1e-12);
    assert.ok(Math.abs(cosine.rateAt(9, 10, 100)! - 1e-2) < 1e-12);
    assert.ok(Math.abs(cosine.rateAt(10, 10, 100)! - 1e-2) < 1e-12);
    assert.ok(Math.abs(cosine.rateAt(99, 10, 100)! - 1e-5) < 1e-12);
    const middle = cosine.rateAt(55, 10, 100)!;
    assert.ok(Math.abs(middle - (1e-5 + (1e-2 - 1e-5) / 2)) < 1e-4, `half-way ${middle}`);
    const plateau = new LrSchedule('plateau', 1e-2, 1e-5, 0.5);
    assert.ok(Math.abs(plateau.rateAt(4, 10, 100)! - 1e-2) < 1e-12);
    assert.equal(plateau.rateAt(5, 10, 100), 1e-2, 'the step after warm-up restores the base rate');
    assert.equal(plateau.rateAt(6, 10, 100), undefined, 'then the plateau callback owns the rate');
  });
});
