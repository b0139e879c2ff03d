import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NO_AUGMENT } from '../src/data/index.js';
import { tensorLayout, tensorSize } from '../src/models/spec.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../src/train/checkpoint.js';
import { DEFAULT_TRAIN_CONFIG, type EpochRecord, type TrainConfig } from '../src/train/config.js';
import { engineInfo } from '../src/train/engine.js';
import { acquireRunLock, LOCK_FILE, RunLockedError } from '../src/train/run-lock.js';
import { train, TrainingDivergedError } from '../src/train/trainer.js';
import { runCli, startCli, type CliResult } from './helpers/cli.js';
import { syntheticFaces, tinySpec, tinyTrainFlags, writeFer2013Csv } from './helpers/synthetic.js';

const engine = engineInfo();
const skip = engine.available ? false : `native addon not built: ${engine.reason}`;
const noStack = (stderr: string) => assert.doesNotMatch(stderr, /\n\s+at /, `no stack trace: ${stderr}`);

/** The pid of a process that has just exited: nothing runs under it. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

const tinyConfig = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  ...DEFAULT_TRAIN_CONFIG,
  arch: 'tiny-test',
  data: 'synthetic',
  augment: NO_AUGMENT,
  epochs: 1,
  batchSize: 16,
  lr: 3e-3,
  threads: 1,
  ...over,
});

/** A checkpoint of the tiny network without training it: every weight 0.5. */
function tinyCheckpoint(): Omit<Checkpoint, 'savedAt'> {
  const spec = tinySpec();
  return {
    spec,
    config: tinyConfig(),
    state: { epoch: 1, lr: 3e-3, history: [], bestValAccuracy: 0.5, bestEpoch: 1, callbacks: {}, rng: [1, 2, 3, 4], finished: false },
    weights: tensorLayout(spec).map((t) => new Float32Array(tensorSize(t)).fill(0.5)),
    optimizer: new Uint8Array([1, 2, 3, 4, 5]),
  };
}

/** The file's bytes with its SHA-256 trailer recomputed, as a checkpoint written that way would have it. */
function withFreshChecksum(bytes: Buffer): Buffer {
  const body = bytes.subarray(0, bytes.byteLength - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

const tensorsOffset = (bytes: Buffer): number => 16 + bytes.readUInt32LE(12);

describe('run-folder lock', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'mien-lock-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  test('a second lock on a held folder fails at once naming the holder; release lets the next run in', () => {
    const lock = acquireRunLock(dir);
    assert.throws(
      () => acquireRunLock(dir),
      (err: unknown) => err instanceof RunLockedError && err.exitCode === 1 && err.message.includes(`pid ${process.pid},`),
    );
    lock.release();
    assert.ok(!existsSync(join(dir, LOCK_FILE)));
    acquireRunLock(dir).release();
  });

  test("a stale lock is taken over with one line; another host's or an unreadable lock is not", async () => {
    const file = join(dir, LOCK_FILE);
    const pid = deadPid();
    await writeFile(file, JSON.stringify({ pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z' }));
    const told: string[] = [];
    const lock = acquireRunLock(dir, { onStale: (m) => told.push(m) });
    assert.deepEqual(told, [`taking over the stale lock of ${dir}: pid ${pid} (since 2026-01-01T00:00:00.000Z) is no longer running`]);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).pid, process.pid);
    lock.release();

    await writeFile(file, JSON.stringify({ pid, hostname: 'elsewhere.example', startedAt: '2026-01-01T00:00:00.000Z' }));
    assert.throws(() => acquireRunLock(dir), new RegExp(`in use by another training run \\(pid ${pid} on elsewhere\\.example`));
    await writeFile(file, '');
    assert.throws(() => acquireRunLock(dir), /names no owner yet/);
    await unlink(file);
  });

  test("release leaves a lock that is no longer this process's alone", async () => {
    const lock = acquireRunLock(dir);
    const other = JSON.stringify({ pid: 1, hostname: hostname(), startedAt: 'later' });
    await writeFile(join(dir, LOCK_FILE), other);
    lock.release();
    assert.equal(await readFile(join(dir, LOCK_FILE), 'utf8'), other);
    await unlink(join(dir, LOCK_FILE));
  });
});

describe('checkpoint integrity', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'mien-ckpt-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  test('a flipped byte anywhere in the file is caught by the checksum', async () => {
    const file = join(dir, 'flip.ckpt');
    await saveCheckpoint(file, tinyCheckpoint());
    const good = await readFile(file);
    assert.equal((await loadCheckpoint(file)).state.epoch, 1);
    for (const at of [20, tensorsOffset(good) + 5, good.byteLength - 40, good.byteLength - 1]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x10;
      await writeFile(file, bad);
      await assert.rejects(loadCheckpoint(file), /flip\.ckpt is damaged: its SHA-256 checksum does not match its contents/, `byte ${at}`);
    }
  });

  test('version-1 checkpoints, which have no checksum, are still read', async () => {
    const file = join(dir, 'v1.ckpt');
    await saveCheckpoint(file, tinyCheckpoint());
    const v2 = await readFile(file);
    const v1 = Buffer.from(v2.subarray(0, v2.byteLength - 32));
    v1.writeUInt32LE(1, 8);
    await writeFile(file, v1);
    const loaded = await loadCheckpoint(file);
    assert.deepEqual(loaded.weights, tinyCheckpoint().weights);
    assert.deepEqual(Array.from(loaded.optimizer), [1, 2, 3, 4, 5]);
  });

  test('NaN or Infinity weights are refused on save and on load', async () => {
    const nan = tinyCheckpoint();
    nan.weights[2]![3] = NaN;
    const refused = join(dir, 'never.ckpt');
    await assert.rejects(saveCheckpoint(refused, nan), /refusing to write .*never\.ckpt: tensor layers\.\S+ holds NaN or Infinity/);
    assert.ok(!existsSync(refused));

    // As a mien without the save-time check would have written them: intact file, checksum and all.
    const file = join(dir, 'nan.ckpt');
    await saveCheckpoint(file, tinyCheckpoint());
    const bytes = await readFile(file);
    bytes.writeFloatLE(NaN, tensorsOffset(bytes));
    await writeFile(file, withFreshChecksum(bytes));
    const first = tensorLayout(tinySpec())[0]!.name;
    await assert.rejects(
      loadCheckpoint(file),
      new RegExp(`holds non-finite weights \\(NaN or Infinity in ${first.replace(/\./g, '\\.')}\\)`),
    );
    bytes.writeFloatLE(Infinity, tensorsOffset(bytes));
    await writeFile(file, withFreshChecksum(bytes));
    await assert.rejects(loadCheckpoint(file), /holds non-finite weights/);
  });
});

describe('mien train: concurrent runs, damaged checkpoints, divergence, interrupted writes', { skip }, () => {
  let dir: string;
  let csv: string;
  let common: string[];
  let base: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-faults-'));
    csv = join(dir, 'fer.csv');
    await writeFer2013Csv(csv, syntheticFaces(168, 5), (i) => (i % 6 === 0 ? 'PublicTest' : 'Training'));
    await writeFile(join(dir, 'tiny.json'), JSON.stringify(tinySpec()));
    common = tinyTrainFlags(join(dir, 'tiny.json'));
    base = join(dir, 'base');
    const r = await fresh(base, 2);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const env = () => ({ MIEN_CACHE_DIR: join(dir, 'cache') });
  const fresh = (out: string, epochs: number, ...extra: string[]): Promise<CliResult> =>
    runCli(['train', '--data', csv, '--out', out, '--epochs', String(epochs), ...common, ...extra], env());
  const history = async (run: string) => JSON.parse(await readFile(join(run, 'history.json'), 'utf8')) as EpochRecord[];
  const copyOfBase = async (name: string) => {
    const run = join(dir, name);
    await cp(base, run, { recursive: true });
    return run;
  };

  test('two trains into one folder at once: exactly one runs, the other stops at once with the lock error', async () => {
    const run = join(dir, 'same');
    const children = [0, 1].map(() => startCli(['train', '--data', csv, '--out', run, '--epochs', '3', ...common], env()));
    const results = await Promise.all(
      children.map(
        (child) =>
          new Promise<CliResult & { pid: number }>((resolve) => {
            let [stdout, stderr] = ['', ''];
            child.stdout!.on('data', (b: Buffer) => (stdout += b));
            child.stderr!.on('data', (b: Buffer) => (stderr += b));
            child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! }));
          }),
      ),
    );
    const winners = results.filter((r) => r.code === 0);
    const losers = results.filter((r) => r.code !== 0);
    assert.equal(winners.length, 1, results.map((r) => r.stderr).join('\n'));
    assert.equal(losers[0]!.code, 1);
    assert.match(losers[0]!.stderr, new RegExp(`^mien: .*same is in use by another training run \\(pid ${winners[0]!.pid}, since `));
    assert.equal(losers[0]!.stderr.trim().split('\n').length, 1, 'one line');
    assert.doesNotMatch(losers[0]!.stdout, /epoch 1\//, 'the loser trained nothing');
    assert.deepEqual(
      (await history(run)).map((r) => r.epoch),
      [1, 2, 3],
    );
    assert.ok(!existsSync(join(run, LOCK_FILE)), 'the lock is released at the end');
  });

  test("a stale lock is taken over; only mien's own leftover temp files of dead writers are removed", async () => {
    const run = join(dir, 'stale');
    await mkdir(run);
    const pid = deadPid();
    await writeFile(join(run, LOCK_FILE), JSON.stringify({ pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z' }));
    const leftovers = { dead: `.last.ckpt.${pid}.tmp`, live: `.history.json.${process.pid}.tmp`, foreign: 'notes.tmp' };
    for (const name of Object.values(leftovers)) await writeFile(join(run, name), 'partial');
    const r = await fresh(run, 1);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^mien: warning: taking over the stale lock of .*stale: pid ${pid} .* is no longer running$`, 'm'));
    assert.match(
      r.stderr,
      new RegExp(`^mien: warning: removed what interrupted writes left in .*stale: \\.last\\.ckpt\\.${pid}\\.tmp$`, 'm'),
    );
    const files = await readdir(run);
    assert.ok(!files.includes(leftovers.dead));
    assert.ok(files.includes(leftovers.live) && files.includes(leftovers.foreign), files.join(' '));
    assert.ok(!files.includes(LOCK_FILE));
  });

  test('a flipped byte in last.ckpt: resume says so and goes on from best.ckpt, naming its epoch', async () => {
    const run = await copyOfBase('flipped');
    const bestEpoch = (await loadCheckpoint(join(run, 'best.ckpt'))).state.epoch;
    const last = await readFile(join(run, 'last.ckpt'));
    last[tensorsOffset(last) + 7]! ^= 0x01;
    await writeFile(join(run, 'last.ckpt'), last);
    const r = await runCli(['train', '--resume', run, '--epochs', '3'], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^mien: warning: .*last\\.ckpt is damaged: its SHA-256 checksum does not match its contents; ` +
          `resuming from .*best\\.ckpt instead, after epoch ${bestEpoch} \\(later epochs are trained again\\)$`,
        'm',
      ),
    );
    assert.match(r.stdout, new RegExp(`resuming .* after epoch ${bestEpoch}`));
    assert.deepEqual(
      (await history(run)).map((r) => r.epoch),
      [1, 2, 3],
    );
    assert.equal((await loadCheckpoint(join(run, 'last.ckpt'))).state.epoch, 3, 'last.ckpt is whole again');
  });

  test("only an epoch-1 best.ckpt (killed between the first epoch's two writes): resume goes on from it, with a warning", async () => {
    const run = join(dir, 'only-best');
    assert.equal((await fresh(run, 1)).code, 0);
    await unlink(join(run, 'last.ckpt'));
    const again = await fresh(run, 1);
    assert.equal(again.code, 2, 'a fresh run does not overwrite it');
    assert.match(again.stderr, /already holds a run: continue it with --resume/);
    const r = await runCli(['train', '--resume', run, '--epochs', '2'], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^mien: warning: .*only-best has no last\.ckpt; resuming from .*best\.ckpt instead, after epoch 1 /m);
    assert.deepEqual(
      (await history(run)).map((r) => r.epoch),
      [1, 2],
    );
  });

  test('SIGINT releases the lock', async () => {
    const run = join(dir, 'interrupted');
    const child = startCli(['train', '--data', csv, '--out', run, '--epochs', '500', ...common], env());
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b));
    for (let i = 0; i < 600 && !existsSync(join(run, 'last.ckpt')); i++) await sleep(50);
    assert.ok(existsSync(join(run, LOCK_FILE)), `locked while training: ${stderr}`);
    child.kill('SIGINT');
    const signal = await new Promise((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    assert.equal(signal, 'SIGINT');
    assert.match(stderr, /^mien: SIGINT: training stopped; continue with mien train --resume .*interrupted$/m);
    assert.ok(!existsSync(join(run, LOCK_FILE)));
  });

  test('a diverging loss (--lr 1e30) stops with one line naming epoch, batch and learning rate: exit 1, no stack, no checkpoint', async () => {
    const run = join(dir, 'diverged');
    const r = await fresh(run, 2, '--lr', '1e30');
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^mien: training diverged at epoch 1, (batch \d+ of \d+|validation after its last batch) \(loss (NaN|-?Infinity)\), most likely because the learning rate 1e\+30 is too high: try a lower --lr; the diverged weights were not saved$/m,
    );
    assert.doesNotMatch(r.stderr, /internal error/);
    noStack(r.stderr);
    const files = await readdir(run);
    assert.ok(!files.some((f) => f.endsWith('.ckpt') || f === LOCK_FILE), files.join(' '));
  });

  test('divergence after good epochs leaves their checkpoints byte for byte', async () => {
    const run = await copyOfBase('diverged-later');
    const before = await Promise.all(['last.ckpt', 'best.ckpt'].map((f) => readFile(join(run, f))));
    const resume = await loadCheckpoint(join(run, 'last.ckpt'));
    resume.state.lr = 1e30;
    resume.state.finished = false;
    await assert.rejects(
      train({
        spec: resume.spec,
        config: { ...resume.config, epochs: 4 },
        train: syntheticFaces(112, 5),
        val: syntheticFaces(28, 6),
        outDir: run,
        resume,
      }),
      (err: unknown) =>
        err instanceof TrainingDivergedError &&
        err.exitCode === 1 &&
        /^training diverged at epoch 3, .*learning rate 1e\+30 is too high.*keeps its checkpoints of epoch 2$/.test(err.message),
    );
    const afterwards = await Promise.all(['last.ckpt', 'best.ckpt'].map((f) => readFile(join(run, f))));
    assert.ok(before.every((b, i) => b.equals(afterwards[i]!)));
  });
});
