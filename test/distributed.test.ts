import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, parseMaster, rankPlace } from '../src/cli/distributed.js';
import { NUM_CLASSES } from '../src/core/labels.js';
import { makeSpec } from '../src/models/spec.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import type { EpochRecord } from '../src/train/config.js';
import { engineInfo } from '../src/train/engine.js';
import { runCli, startCli } from './helpers/cli.js';
import { syntheticFaces, writeFer2013Csv } from './helpers/synthetic.js';

describe('where a rank finds its group', () => {
  test('flags first, then the torchrun variables; alone without a world size', () => {
    assert.equal(rankPlace({}, {}), undefined);
    assert.equal(rankPlace({ worldSize: 1 }, {}), undefined);
    assert.deepEqual(rankPlace({ worldSize: 4, rank: 2, master: '10.0.0.1:1234' }, {}), {
      rank: 2,
      worldSize: 4,
      localRank: 2,
      host: '10.0.0.1',
      port: 1234,
    });
    const env = { WORLD_SIZE: '8', RANK: '5', LOCAL_RANK: '1', MASTER_ADDR: 'node0', MASTER_PORT: '29400' };
    assert.deepEqual(rankPlace({}, env), { rank: 5, worldSize: 8, localRank: 1, host: 'node0', port: 29400 });
    assert.deepEqual(parseMaster('[fe80::1]:99'), { host: 'fe80::1', port: 99 });
    assert.deepEqual(parseMaster('head'), { host: 'head', port: 29500 });
  });

  test('a missing or impossible place is a usage error naming what to give', () => {
    assert.throws(() => rankPlace({ worldSize: 2 }, {}), /needs --rank \(or RANK\)/);
    assert.throws(() => rankPlace({ worldSize: 2, rank: 2, master: 'h:1' }, {}), /--rank 2 is outside 0–1/);
    assert.throws(() => rankPlace({ worldSize: 2, rank: 1 }, {}), /needs --master host:port/);
    assert.throws(() => rankPlace({ rank: 1 }, {}), /--rank needs --world-size/);
    assert.throws(() => rankPlace({}, { WORLD_SIZE: 'two' }), /WORLD_SIZE=two is not/);
    assert.throws(() => parseMaster('h:99999'), /--master takes host:port/);
  });
});

const engine = engineInfo();
const skip = !engine.available
  ? `native addon not built: ${engine.reason}`
  : !engine.distributedBackends.includes('gloo')
    ? 'the addon was built without Gloo (libgloo-dev)'
    : false;

/** The largest difference between two checkpoints' weights. */
async function weightDistance(a: string, b: string): Promise<number> {
  const [x, y] = await Promise.all([loadCheckpoint(a), loadCheckpoint(b)]);
  let max = 0;
  x.weights.forEach((w, i) => w.forEach((v, j) => (max = Math.max(max, Math.abs(v - y.weights[i]![j]!)))));
  return max;
}

describe('mien train across processes (Gloo on 127.0.0.1)', { skip }, () => {
  let dir: string;
  let common: string[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-dist-'));
    await writeFer2013Csv(join(dir, 'fer.csv'), syntheticFaces(420, 5), (i) => (i % 6 === 0 ? 'PublicTest' : 'Training'));
    // No batch norm and no dropout: then a rank's share of a batch computes exactly what the whole batch would.
    const plain = makeSpec('plain-test', 'test network without batch statistics or dropout', [
      { type: 'conv', out: 8, kernel: 3, stride: 2, padding: 'same' },
      { type: 'relu' },
      { type: 'maxpool', kernel: 2 },
      { type: 'conv', out: 4, kernel: 3, padding: 'same' },
      { type: 'relu' },
      { type: 'flatten' },
      { type: 'dense', out: NUM_CLASSES },
    ]);
    await writeFile(join(dir, 'plain.json'), JSON.stringify(plain));
    common = ['--data', join(dir, 'fer.csv'), '--arch', join(dir, 'plain.json'), '--lr', '0.003', '--seed', '7'];
    common.push('--augment', 'shift=2,flip', '--early-stop', '0', '--no-bf16', '--threads', '1');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const env = () => ({ MIEN_CACHE_DIR: join(dir, 'cache') });
  const history = async (run: string) => JSON.parse(await readFile(join(run, 'history.json'), 'utf8')) as EpochRecord[];

  test('2 ranks of batch 16 reach the weights of 1 rank of batch 32', async () => {
    const steps = ['--epochs', '2', '--max-batches', '4'];
    const alone = await runCli(['train', ...common, ...steps, '--batch', '32', '--out', join(dir, 'alone')], env());
    assert.equal(alone.code, 0, alone.stderr);
    const pair = await runCli(['train', ...common, ...steps, '--batch', '16', '--procs', '2', '--out', join(dir, 'pair')], env());
    assert.equal(pair.code, 0, pair.stderr);
    assert.match(pair.stdout, /ranks: 2 × batch 16 \(gloo\)/);

    // 8 Adam steps on augmented batches; only the order of float additions differs.
    const distance = await weightDistance(join(dir, 'alone', 'last.ckpt'), join(dir, 'pair', 'last.ckpt'));
    assert.ok(distance < 1e-5, `weights differ by ${distance}`);
    const [a, p] = [await history(join(dir, 'alone')), await history(join(dir, 'pair'))];
    for (let e = 0; e < 2; e++) {
      assert.ok(Math.abs(a[e]!.trainLoss - p[e]!.trainLoss) < 1e-5, `epoch ${e + 1} train loss ${a[e]!.trainLoss} vs ${p[e]!.trainLoss}`);
      assert.ok(Math.abs(a[e]!.valLoss - p[e]!.valLoss) < 1e-5, 'validation, split between the ranks, adds up to the whole');
    }
    // Rank 0 alone writes the run folder, the export included.
    assert.ok(existsSync(join(dir, 'pair', 'best.onnx')));
    const { config } = await loadCheckpoint(join(dir, 'pair', 'last.ckpt'));
    assert.equal(config.worldSize, 2);
  });

  test('kill -9 of one rank stops the other with a clear error; --resume continues exactly', async () => {
    const run = join(dir, 'killed');
    const port = String(await freePort());
    const batch = ['--batch', '16'];
    const rank0 = startCli(
      ['train', ...common, ...batch, '--epochs', '500', '--out', run, '--world-size', '2', '--rank', '0', '--master', `127.0.0.1:${port}`],
      env(),
    );
    // Rank 1 needs nothing but its place (here from the torchrun variables): the run comes from rank 0.
    const rank1 = startCli(['train'], { ...env(), WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port });
    let stderr0 = '';
    rank0.stderr!.on('data', (b: Buffer) => (stderr0 += b));
    const exit0 = new Promise<number | null>((r) => rank0.on('close', r));
    for (let i = 0; i < 600 && !(existsSync(join(run, 'history.json')) && (await history(run).catch(() => [])).length >= 2); i++)
      await sleep(50);
    rank1.kill('SIGKILL');
    assert.equal(await exit0, 1, stderr0);
    assert.match(stderr0, /rank 0 of 2 lost its group \(.*\): another rank stopped .* start every rank again with --resume/);
    assert.doesNotMatch(stderr0, /internal error|\n\s+at /, 'one line, no stack trace');

    const killedAt = (await loadCheckpoint(join(run, 'last.ckpt'))).state.epoch;
    const target = String(killedAt + 2);
    const resumed = await runCli(['train', '--resume', run, '--epochs', target, '--procs', '2'], env());
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`resuming .* after epoch ${killedAt}`));
    const straight = join(dir, 'straight');
    const uninterrupted = await runCli(['train', ...common, ...batch, '--epochs', target, '--procs', '2', '--out', straight], env());
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
    assert.equal(await weightDistance(join(run, 'last.ckpt'), join(straight, 'last.ckpt')), 0, 'the same batches, the same weights');
  });

  test('a rank whose rank 0 never comes says so, and --procs stops all when one rank fails', async () => {
    const port = String(await freePort());
    const lonely = await runCli(
      ['train', '--world-size', '2', '--rank', '1', '--master', `127.0.0.1:${port}`, '--group-timeout', '2'],
      env(),
    );
    assert.equal(lonely.code, 1);
    assert.match(lonely.stderr, new RegExp(`rank 1 could not join rank 0 at 127\\.0\\.0\\.1:${port} within 2 s`));

    const broken = await runCli(['train', '--procs', '2', '--arch', join(dir, 'plain.json'), '--group-timeout', '30'], env());
    assert.equal(broken.code, 2, 'the usage error of rank 0 is the exit code');
    assert.match(broken.stderr, /train needs --data/);
    assert.match(broken.stderr, /rank 0 of 2 exited with code 2; stopping the others/);
  });
});
