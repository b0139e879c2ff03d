import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import type { EpochRecord } from '../src/train/config.js';
import { engineInfo } from '../src/train/engine.js';
import { runCli, startCli } from './helpers/cli.js';
import { syntheticFaces, tinySpec, tinyTrainFlags, writeFer2013Csv } from './helpers/synthetic.js';

const engine = engineInfo();
const skip = engine.available ? false : `native addon not built: ${engine.reason}`;

describe('mien train --resume after kill -9', { skip }, () => {
  let dir: string;
  let common: string[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-resume-'));
    await writeFer2013Csv(join(dir, 'fer.csv'), syntheticFaces(420, 5), (i) => (i % 6 === 0 ? 'PublicTest' : 'Training'));
    await writeFile(join(dir, 'tiny.json'), JSON.stringify(tinySpec()));
    common = [...tinyTrainFlags(join(dir, 'tiny.json'), 'shift=2,flip,erase=0.3'), '--seed', '7'];
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const env = () => ({ MIEN_CACHE_DIR: join(dir, 'cache') });
  const history = async (run: string) => JSON.parse(await readFile(join(run, 'history.json'), 'utf8')) as EpochRecord[];

  test('continues at the right epoch with the history intact and no corrupt file', async () => {
    const run = join(dir, 'killed');
    const child = startCli(['train', '--data', join(dir, 'fer.csv'), '--epochs', '500', '--out', run, ...common], env());
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b));
    // Kill as soon as two epochs are on disk: mid-epoch, possibly mid-write.
    for (let i = 0; i < 600 && !(existsSync(join(run, 'history.json')) && (await history(run).catch(() => [])).length >= 2); i++)
      await sleep(50);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    assert.ok(existsSync(join(run, 'last.ckpt')), `training wrote checkpoints before the kill: ${stderr}`);

    const killedAt = (await loadCheckpoint(join(run, 'last.ckpt'))).state.epoch;
    const before = await history(run);
    assert.ok(killedAt >= 2 && killedAt < 500);
    assert.ok(before.length === killedAt || before.length === killedAt - 1, 'history.json is at most one epoch behind the checkpoint');
    assert.deepEqual(
      (await readdir(run)).filter((f) => f.endsWith('.tmp')),
      [],
      'no half-written files left visible',
    );

    const target = killedAt + 2;
    const resumed = await runCli(['train', '--resume', run, '--epochs', String(target)], env());
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`resuming .* after epoch ${killedAt}`));
    const after = await history(run);
    assert.deepEqual(
      after.map((r) => r.epoch),
      Array.from({ length: target }, (_, i) => i + 1),
    );
    assert.deepEqual(after.slice(0, before.length), before, 'finished epochs are kept as they were');

    // The resumed run matches one that was never interrupted: same shuffles, augmentation, weights and optimizer state.
    const straight = join(dir, 'straight');
    const uninterrupted = await runCli(
      ['train', '--data', join(dir, 'fer.csv'), '--epochs', String(target), '--out', straight, ...common],
      env(),
    );
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
    const reference = await history(straight);
    for (let e = 0; e < target; e++) {
      assert.ok(
        Math.abs(reference[e]!.trainLoss - after[e]!.trainLoss) < 1e-4,
        `epoch ${e + 1}: ${reference[e]!.trainLoss} vs ${after[e]!.trainLoss}`,
      );
      assert.equal(reference[e]!.valAccuracy.toFixed(3), after[e]!.valAccuracy.toFixed(3));
    }
    assert.ok(existsSync(join(run, 'best.onnx')));
  });

  test('killed again and again at random moments, the run still ends exactly as an uninterrupted one', async () => {
    const epochs = 6;
    const run = join(dir, 'killed-often');
    const fresh = ['train', '--data', join(dir, 'fer.csv'), '--epochs', String(epochs), '--out', run, ...common];
    // seeded, so a failure comes back on the next run: the kill delays in ms after a checkpoint is on disk
    let seed = 20261202;
    const nextDelay = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 1500;
    const delays: number[] = [];
    for (let kill = 0; kill < 4; kill++) {
      const child = startCli(kill === 0 ? fresh : ['train', '--resume', run, '--epochs', String(epochs)], env());
      const closed = new Promise((r) => child.on('close', r));
      for (let i = 0; i < 600 && !existsSync(join(run, 'last.ckpt')); i++) await sleep(20);
      const delay = nextDelay();
      delays.push(Math.round(delay));
      await sleep(delay);
      child.kill('SIGKILL');
      await closed;
    }
    const finished = await runCli(['train', '--resume', run, '--epochs', String(epochs)], env());
    assert.equal(finished.code, 0, `killed after ${delays.join(', ')} ms: ${finished.stderr}`);
    const straight = join(dir, 'straight-6');
    assert.equal(
      (
        await runCli(
          fresh.map((a) => (a === run ? straight : a)),
          env(),
        )
      ).code,
      0,
    );
    const [resumed, reference] = [await history(run), await history(straight)];
    assert.deepEqual(
      resumed.map((r) => r.epoch),
      reference.map((r) => r.epoch),
    );
    resumed.forEach((r, e) =>
      assert.ok(Math.abs(r.trainLoss - reference[e]!.trainLoss) < 1e-4, `epoch ${e + 1} (kills after ${delays.join(', ')} ms)`),
    );
  });

  test('refuses to overwrite a run and explains how to resume it', async () => {
    const run = join(dir, 'twice');
    const first = await runCli(['train', '--data', join(dir, 'fer.csv'), '--epochs', '1', '--out', run, ...common], env());
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli(['train', '--data', join(dir, 'fer.csv'), '--epochs', '1', '--out', run, ...common], env());
    assert.equal(second.code, 2);
    assert.match(second.stderr, /already holds a run: continue it with --resume/);
    assert.doesNotMatch(second.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });
});
