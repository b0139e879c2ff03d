/**
 * Data-parallel training throughput: `mien train --procs N` for N = 1, 2 (and 4 where there are 4 cores) on the same
 * cores, the same network and the same per-rank batch, and the bytes the ranks send each other per step.
 *
 *   npm run bench:dist -- [--arch mienet-s] [--batches 30] [--rounds 3] [--batch 64]
 *
 * Beside each N-rank group runs one process with the group's global batch (N × `--batch`), the single-process way to
 * take the same steps. Each configuration trains 2 epochs of `--batches` steps on synthetic 48×48 faces (throughput
 * does not depend on what the pixels show); the figure is epoch 2's images per second over all ranks, from the run's history.json, so
 * start-up, rendezvous and the first epoch's warm-up are left out. Configurations alternate round by round so a noisy
 * neighbour hits all alike; medians are printed, and ratios against one process using every core. Bytes are what the
 * loopback interface carried during the run (/proc/net/dev, so keep the machine otherwise quiet), divided by the
 * steps taken.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FACE_PIXELS, NUM_CLASSES } from '../src/core/labels.js';
import { getArchitecture } from '../src/models/zoo.js';
import { tensorLayout, tensorSize } from '../src/models/spec.js';
import type { EpochRecord } from '../src/train/config.js';
import { engineInfo } from '../src/train/engine.js';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'mienet-s' },
    batches: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
  },
});
const arch = values.arch;
const batches = Number(values.batches);
const rounds = Number(values.rounds);
const batch = Number(values.batch);

const engine = engineInfo();
if (!engine.available || !engine.distributedBackends.includes('gloo')) {
  console.error(`bench:dist needs the addon with Gloo: ${engine.reason ?? 'built without libgloo-dev'}`);
  process.exit(1);
}

const cores = availableParallelism();
const rankCounts = [1, 2, 4].filter((n) => n <= Math.max(2, cores));

interface Configuration {
  ranks: number;
  /** Per rank. */
  batch: number;
}
const configurations: Configuration[] = rankCounts.flatMap((ranks) =>
  ranks === 1
    ? [{ ranks, batch }]
    : [
        { ranks, batch },
        { ranks: 1, batch: ranks * batch },
      ],
);
const label = (c: Configuration) =>
  `${c.ranks} × ${Math.max(1, Math.floor(cores / c.ranks))} threads, batch ${c.batch}${c.ranks > 1 ? ' each' : ''}`;
const dir = mkdtempSync(join(tmpdir(), 'mien-bench-dist-'));

/** A FER2013-style CSV of random faces: enough rows for the largest group's steps, and a small validation split. */
function writeData(): string {
  const train = Math.max(...configurations.map((c) => c.ranks * c.batch)) * batches + batch;
  const rows = ['emotion,pixels,Usage'];
  let s = 1;
  const pixel = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24).toString();
  for (let i = 0; i < train + 256; i++) {
    const pixels = Array.from({ length: FACE_PIXELS }, pixel).join(' ');
    rows.push(`${i % NUM_CLASSES},${pixels},${i < train ? 'Training' : 'PublicTest'}`);
  }
  const file = join(dir, 'faces.csv');
  writeFileSync(file, rows.join('\n') + '\n');
  return file;
}

/** Bytes sent over the loopback interface so far (each local message crosses it once). */
function loopbackBytes(): number {
  const line = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('lo:'));
  if (!line) return NaN;
  const fields = line.split(':')[1]!.trim().split(/\s+/).map(Number);
  return fields[8]!; // transmit bytes
}

interface Sample {
  imagesPerSecond: number;
  bytesPerStep: number;
}

function measure(data: string, { ranks, batch }: Configuration, round: number): Sample {
  const out = join(dir, `run-${ranks}-${batch}-${round}`);
  const threads = Math.max(1, Math.floor(cores / ranks));
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'train', '--data', data, '--arch', arch, '--epochs', '2'];
  args.push('--max-batches', String(batches), '--batch', String(batch), '--early-stop', '0', '--out', out);
  args.push(...(ranks > 1 ? ['--procs', String(ranks)] : []), '--threads', String(threads));
  const before = loopbackBytes();
  const run = spawnSync(process.execPath, args, {
    cwd: join(import.meta.dirname, '..'),
    encoding: 'utf8',
    env: { ...process.env, MIEN_CACHE_DIR: join(dir, 'cache') },
  });
  const sent = loopbackBytes() - before;
  if (run.status !== 0) throw new Error(`${ranks} rank(s) failed:\n${run.stderr}`);
  const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as EpochRecord[];
  rmSync(out, { recursive: true, force: true });
  return { imagesPerSecond: history[1]!.imagesPerSecond, bytesPerStep: sent / (2 * batches) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  const data = writeData();
  const gradientBytes = tensorLayout(getArchitecture(arch))
    .filter((t) => t.trainable)
    .reduce((n, t) => n + 4 * tensorSize(t), 0);
  console.log(
    `${arch}, batch ${batch} per rank, ${batches} steps an epoch, ${cores} cores, ${rounds} rounds; gradients ${(gradientBytes / 2 ** 20).toFixed(2)} MiB a step`,
  );
  const samples = configurations.map(() => [] as Sample[]);
  for (let round = 0; round < rounds; round++) {
    configurations.forEach((configuration, i) => {
      const sample = measure(data, configuration, round);
      samples[i]!.push(sample);
      console.log(
        `  round ${round + 1}: ${label(configuration)}: ${sample.imagesPerSecond.toFixed(0)} img/s, ` +
          `${(sample.bytesPerStep / 2 ** 20).toFixed(2)} MiB over loopback a step`,
      );
    });
  }
  const base = median(samples[0]!.map((s) => s.imagesPerSecond));
  console.log('\n| ranks × threads, batch | images/s (all ranks, median) | vs 1 process, batch ' + batch + ' | sent per step, all ranks |');
  console.log('|---|---|---|---|');
  configurations.forEach((configuration, i) => {
    const ips = median(samples[i]!.map((s) => s.imagesPerSecond));
    const bytes = median(samples[i]!.map((s) => s.bytesPerStep));
    console.log(`| ${label(configuration)} | ${ips.toFixed(0)} | ${(ips / base).toFixed(2)}× | ${(bytes / 2 ** 20).toFixed(2)} MiB |`);
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
