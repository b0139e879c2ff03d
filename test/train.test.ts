import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NO_AUGMENT } from '../src/data/index.js';
import type { Batch, Callback } from '../src/train/callback.js';
import {
  Distillation,
  EarlyStopping,
  LrSchedule,
  Mixing,
  ReduceLrOnPlateau,
  TeacherError,
  type TeacherView,
} from '../src/train/callbacks/index.js';
import { formatEpochLine } from '../src/train/progress.js';
import { validatedWeights } from '../src/train/callbacks/ema.js';
import { decodeModelWeights, exportRun, readOnnxMetadata } from '../src/export/index.js';
import { FACE_PIXELS } from '../src/core/labels.js';
import { Rng } from '../src/data/random.js';
import { loadCheckpoint, type Checkpoint } from '../src/train/checkpoint.js';
import { classWeightsFor, DEFAULT_TRAIN_CONFIG, type EpochRecord, type TrainConfig } from '../src/train/config.js';
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
  /** One epoch on the same faces, `over` changed: runs that differ only there compare. */
  const oneEpoch = (name: string, over: Partial<TrainConfig> = {}) =>
    train({
      spec: tinySpec(),
      config: config({ epochs: 1, ...over }),
      train: syntheticFaces(96, 3),
      val: syntheticFaces(35, 2),
      outDir: join(dir, name),
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
    const run = (name: string, epochs: number, resume?: Checkpoint, ema = 0.9) =>
      train({
        spec: tinySpec(),
        config: config({ epochs, ema, augment: { ...NO_AUGMENT, flip: true } }),
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
    // Exporting last.ckpt writes the epoch-3 average, the weights validation measured then, not the trained ones.
    assert.deepEqual(validatedWeights(best), best.weights);
    const lastAverage = validatedWeights(last);
    assert.equal(Buffer.from(lastAverage[0]!.buffer).toString('base64'), averaged[0]);
    const lastOnnx = join(dir, 'ema-last.onnx');
    await exportRun(join(dir, 'ema', RUN_FILES.last), lastOnnx);
    assert.equal((await readOnnxMetadata(lastOnnx))['mien.epoch'], '3');
    assert.deepEqual((await decodeModelWeights(await readFile(lastOnnx), 'ema-last.onnx')).weights, lastAverage);
    await exportRun(join(dir, 'ema'), join(dir, 'ema-best.onnx'));
    assert.equal((await readOnnxMetadata(join(dir, 'ema-best.onnx')))['mien.epoch'], String(best.state.epoch));
    await run('ema-resumed', 1);
    const after1 = await loadCheckpoint(join(dir, 'ema-resumed', RUN_FILES.last));
    after1.state.finished = false; // extended to 3 epochs, as `mien train --resume --epochs 3` does
    const resumed = await run('ema-resumed', 3, after1);
    assert.deepEqual(
      resumed.history.map((r) => [r.trainLoss, r.valLoss]),
      straight.history.map((r) => [r.trainLoss, r.valLoss]),
    );
    // Averaging draws no random numbers: the trained weights' figures are exactly those of the run without it.
    const plain = await run('ema-off', 3, undefined, 0);
    assert.ok(plain.history.every((r) => r.trainedValAccuracy === undefined && r.trainedValLoss === undefined));
    assert.deepEqual(
      straight.history.map((r) => [r.trainedValLoss, r.trainedValAccuracy]),
      plain.history.map((r) => [r.valLoss, r.valAccuracy]),
    );
    assert.notDeepEqual(
      straight.history.map((r) => r.valLoss),
      plain.history.map((r) => r.valLoss),
    );
  });

  test('mixup in real training steps: the loss sees the mixed targets, and the run resumes with its config', async () => {
    const plain = await oneEpoch('mix-plain');
    const mixed = await oneEpoch('mix-mixup', { mixing: { mode: 'mixup', alpha: 0.4 } });
    assert.notEqual(mixed.history[0]!.trainLoss, plain.history[0]!.trainLoss);
    // Mixed targets replace the labels (no separate label term): the loss is already on validation's scale.
    assert.equal(mixed.history[0]!.trainLabelLoss, undefined);
    assert.deepEqual((await loadCheckpoint(join(dir, 'mix-mixup', RUN_FILES.last))).config.mixing, { mode: 'mixup', alpha: 0.4 });
  });

  test('class weights in real training steps change the loss, and the run keeps them for resume', async () => {
    const plain = await oneEpoch('cw-plain');
    const weights = [1, 4, 2, 0.5, 1, 1, 0.5];
    const weighted = await oneEpoch('cw-weighted', { classWeights: weights });
    assert.notEqual(weighted.history[0]!.trainLoss, plain.history[0]!.trainLoss);
    assert.deepEqual((await loadCheckpoint(join(dir, 'cw-weighted', RUN_FILES.last))).config.classWeights, weights);
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
    const plain = await oneEpoch('student-plain');
    const distilled = await oneEpoch('student-kd', { distillation: { teachers: [teacherDir], temperature: 4, weight: 0.7 } });
    assert.notEqual(distilled.history[0]!.trainLoss, plain.history[0]!.trainLoss);
    // Its loss is mostly the T²-scaled teacher term; the labels' term is recorded apart, on validation's scale.
    const [record] = distilled.history;
    assert.ok(record!.trainLabelLoss! > 0 && record!.trainLabelLoss! < record!.trainLoss / 2, JSON.stringify(record));
    assert.match(formatEpochLine(record!, 1, false), new RegExp(`\\(labels ${record!.trainLabelLoss!.toFixed(4)}\\)`));
    assert.equal(plain.history[0]!.trainLabelLoss, undefined);
    await assert.rejects(
      oneEpoch('student-bad', { distillation: { teachers: [join(dir, 'nowhere')], temperature: 4, weight: 0.7 } }),
      /cannot read checkpoint/,
    );
  });

  test('teachers that see clean faces: the trainer hands them each face with its geometry alone', async () => {
    const teacherDir = join(dir, 'teacher');
    const camera = { ...NO_AUGMENT, flip: true, shift: 2, brightness: 0.3, blur: 1.2, jpeg: 0.5, noise: 6, erase: 0.5 };
    /** One epoch distilled with the teachers seeing `view`, and the first batch's faces as the student and the teacher saw them. */
    const run = async (name: string, view: TeacherView) => {
      let first: Batch | undefined;
      const recorder: Callback = { name: 'recorder', onBatchStart: (_ctx, batch) => void (first ??= { ...batch }) };
      const result = await train({
        spec: tinySpec(),
        config: config({ epochs: 1, augment: camera, distillation: { teachers: [teacherDir], temperature: 4, weight: 0.7, view } }),
        train: syntheticFaces(96, 3),
        val: syntheticFaces(35, 2),
        outDir: join(dir, name),
        callbacks: [recorder],
      });
      return { result, first: first! };
    };
    const augmented = await run('kd-view-augmented', 'augmented');
    const clean = await run('kd-view-clean', 'clean');
    assert.equal(augmented.first.cleanImages, undefined);
    // The clean views draw nothing: the student sees the same faces either way, and only the teacher's targets change.
    assert.deepEqual(clean.first.images, augmented.first.images);
    assert.notDeepEqual(clean.first.cleanImages, clean.first.images);
    assert.notDeepEqual(clean.first.softTargets, augmented.first.softTargets);
    assert.notEqual(clean.result.history[0]!.trainLoss, augmented.result.history[0]!.trainLoss);
    assert.equal((await loadCheckpoint(join(dir, 'kd-view-clean', RUN_FILES.last))).config.distillation?.view, 'clean');
  });

  test('an exported model teaches as its run does: the same soft targets from the .onnx file as from best.ckpt', async () => {
    const teacherDir = join(dir, 'teacher');
    const onnxFile = join(dir, 'teacher.onnx');
    await exportRun(teacherDir, onnxFile);
    const faces = syntheticFaces(12, 5);
    const softTargets = async (source: string) => {
      const kd = await Distillation.load([source], { temperature: 4, weight: 0.7 }, { device: 'cpu', threads: 1 });
      const images = Float32Array.from(faces.images, (v) => v / 255);
      const batch: Batch = { epoch: 1, index: 0, images, labels: Int32Array.from(faces.labels) };
      await kd.onBatchStart(fakeContext(), batch);
      await kd.dispose();
      return batch.softTargets!;
    };
    const fromRun = await softTargets(teacherDir);
    const fromOnnx = await softTargets(onnxFile);
    assert.equal(fromOnnx.length, 12 * 7);
    assert.ok(
      fromOnnx.every((p, i) => Math.abs(p - fromRun[i]!) < 1e-4),
      `largest difference ${Math.max(...fromOnnx.map((p, i) => Math.abs(p - fromRun[i]!)))}`,
    );
    // Its rows are probability distributions at temperature 4, not one-hot labels.
    assert.ok(Math.abs(fromOnnx.slice(0, 7).reduce((a, b) => a + b) - 1) < 1e-5);
    // Seeing clean faces, the teacher reads the batch's cleanImages, and fails plainly on a batch without them.
    const kd = await Distillation.load([onnxFile], { temperature: 4, weight: 0.7, view: 'clean' }, { device: 'cpu', threads: 1 });
    const batch: Batch = {
      epoch: 1,
      index: 0,
      images: new Float32Array(12 * FACE_PIXELS).fill(0.5),
      cleanImages: Float32Array.from(faces.images, (v) => v / 255),
      labels: Int32Array.from(faces.labels),
    };
    await kd.onBatchStart(fakeContext(), batch);
    assert.ok(batch.softTargets!.every((p, i) => Math.abs(p - fromOnnx[i]!) < 1e-6));
    await assert.rejects(kd.onBatchStart(fakeContext(), { ...batch, cleanImages: undefined }), /clean faces, but the batch has none/);
    await kd.dispose();
    await writeFile(join(dir, 'not-a-model.onnx'), 'text');
    await assert.rejects(softTargets(join(dir, 'not-a-model.onnx')), TeacherError);
  });
});

describe('callbacks', () => {
  /** A batch of 8 faces, face i filled with the value i / 10, labelled i mod 7. */
  const flatBatch = (index = 0): Batch => ({
    epoch: 2,
    index,
    images: Float32Array.from({ length: 8 * FACE_PIXELS }, (_, p) => Math.floor(p / FACE_PIXELS) / 10),
    labels: Int32Array.from({ length: 8 }, (_, i) => i % 7),
  });

  test('class weights: balanced is N / (K · N_c), sqrt its root, both averaging 1 per face; lists are normalised', () => {
    // 6 faces of class 0, 3 of class 1, 1 of class 2 (−1: unlabelled, not counted).
    const labels = Int32Array.of(0, 0, 0, 0, 0, 0, 1, 1, 1, 2, -1);
    const counts = [6, 3, 1];
    const close = (got: Float32Array | undefined, want: number[]) =>
      assert.ok(got && want.every((w, c) => Math.abs(got[c]! - w) < 1e-6), `${got ? [...got].join(', ') : got} vs ${want.join(', ')}`);
    close(classWeightsFor('balanced', labels, 3), [10 / 18, 10 / 9, 10 / 3]);
    const sqrt = classWeightsFor('sqrt', labels, 3)!;
    assert.ok(Math.abs(sqrt[2]! / sqrt[0]! - Math.sqrt(6)) < 1e-5);
    assert.ok(Math.abs(counts.reduce((sum, n, c) => sum + (n / 10) * sqrt[c]!, 0) - 1) < 1e-6, 'the average face weighs 1');
    close(classWeightsFor([2, 2, 2], labels, 3), [1, 1, 1]);
    assert.equal(classWeightsFor(undefined, labels, 3), undefined);
    assert.throws(() => classWeightsFor('balanced', labels, 4), /need training faces of every class; happy has none/);
    assert.throws(() => classWeightsFor([1, 2], labels, 3), /2 values for 3 classes/);
  });

  test('mixup blends each face with a partner of its batch, and the labels in the same proportion', () => {
    const { ctx } = fakeContext();
    const batch = flatBatch();
    new Mixing('mixup', 0.4, 5).onBatchStart(ctx, batch);
    const targets = batch.softTargets!;
    assert.equal(batch.softWeight, 1);
    // One λ for the batch: the own-label weight of a face whose partner has another label.
    const row = (i: number) => Array.from(targets.subarray(i * 7, (i + 1) * 7));
    const mixedFace = [...Array(8).keys()].find((i) => row(i).filter((t) => t > 0).length === 2)!;
    const lambda = row(mixedFace)[mixedFace % 7]!;
    assert.ok(lambda > 0.01 && lambda < 0.99, `λ ${lambda}`);
    for (let i = 0; i < 8; i++) {
      // A flat face stays flat, at λ · its value + (1 − λ) · its partner's; the partner's label gets 1 − λ.
      const face = batch.images.subarray(i * FACE_PIXELS, (i + 1) * FACE_PIXELS);
      assert.ok(face.every((v) => Math.abs(v - face[0]!) < 1e-6));
      const partner = Math.round(((face[0]! - (lambda * i) / 10) * 10) / (1 - lambda));
      assert.ok(partner >= 0 && partner < 8, `face ${i}: partner ${partner}`);
      assert.ok(Math.abs(lambda * i + (1 - lambda) * partner - 10 * face[0]!) < 1e-4, `face ${i} is a blend with face ${partner}`);
      const expected = new Array<number>(7).fill(0);
      expected[i % 7]! += lambda;
      expected[partner % 7]! += 1 - lambda;
      row(i).forEach((t, c) => assert.ok(Math.abs(t - expected[c]!) < 1e-6, `face ${i} class ${c}: ${t} vs ${expected[c]}`));
    }
    const again = flatBatch();
    new Mixing('mixup', 0.4, 5).onBatchStart(ctx, again);
    assert.deepEqual(again.images, batch.images, 'the same seed, epoch and batch mix the same way (resume is exact)');
    const next = flatBatch(1);
    new Mixing('mixup', 0.4, 5).onBatchStart(ctx, next);
    assert.notDeepEqual(next.images, batch.images, 'another batch, other draws');
  });

  test('cutmix pastes one rectangle of a partner, and λ is the share of the face left uncovered', () => {
    const { ctx } = fakeContext();
    for (let index = 0; index < 20; index++) {
      const batch = flatBatch(index);
      new Mixing('cutmix', 1, 9).onBatchStart(ctx, batch);
      for (let i = 0; i < 8; i++) {
        const face = batch.images.subarray(i * FACE_PIXELS, (i + 1) * FACE_PIXELS);
        const kept = face.filter((v) => Math.abs(v - i / 10) < 1e-6).length / FACE_PIXELS;
        const row = batch.softTargets!.subarray(i * 7, (i + 1) * 7);
        // Faces 0 and 7 share label 0, and a face may be its own partner: then the whole weight is on one label.
        const own = row[i % 7]!;
        const values = new Set(face);
        assert.ok(values.size <= 2, `batch ${index} face ${i}: its own pixels and one partner's`);
        if (values.size === 2) assert.ok(Math.abs(own - kept) < 1e-6 || own === 1, `batch ${index} face ${i}: λ ${own}, kept ${kept}`);
      }
    }
  });

  test('beta draws have the mean and variance of Beta(a, b), also below shape 1', () => {
    const rng = new Rng(11);
    for (const [a, b] of [
      [0.2, 0.2],
      [1, 1],
      [2, 5],
    ] as const) {
      const draws = Array.from({ length: 20_000 }, () => rng.beta(a, b));
      const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
      const variance = draws.reduce((s, x) => s + (x - mean) ** 2, 0) / draws.length;
      assert.ok(draws.every((x) => x >= 0 && x <= 1));
      assert.ok(Math.abs(mean - a / (a + b)) < 0.01, `Beta(${a}, ${b}) mean ${mean}`);
      const expected = (a * b) / ((a + b) ** 2 * (a + b + 1));
      assert.ok(Math.abs(variance - expected) < 0.1 * expected, `Beta(${a}, ${b}) variance ${variance}, expected ${expected}`);
    }
  });

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
