/**
 * Training throughput, mien's libtorch addon against PyTorch, on the same network (built by both from one ModelSpec)
 * with the same batch size, optimizer and threads. Runs alternate (mien, PyTorch, mien, …) so that a noisy neighbour
 * hits both alike.
 *
 *   npm run bench:train -- [--arch vgg-b] [--batches 40] [--rounds 2]
 *
 * The default, vgg-b, is Net B of ../shared/docs/engines.md, whose PyTorch figures are published there.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FACE_PIXELS } from '../src/core/labels.js';
import { getArchitecture } from '../src/models/zoo.js';
import { type ModelSpec, tensorLayout, tensorSize } from '../src/models/spec.js';
import { createNetwork, engineInfo, setThreads } from '../src/train/engine.js';

// Both engines get the same libgomp policy; the mien addon loads lazily, after this line.
process.env.OMP_WAIT_POLICY = 'PASSIVE';

const BATCH_SIZE = 64;
const WARMUP_BATCHES = 3;
const THREADS = 2;
const LEARNING_RATE = 1e-3;
/** Debian's python3-torch is built for the system Python, not for a pyenv `python3` earlier on PATH. */
const PYTHON = '/usr/bin/python3';
const PYTORCH_SCRIPT = join(import.meta.dirname, 'train_pytorch.py');

function benchMien(spec: ModelSpec, batches: number): number {
  const net = createNetwork(spec, { seed: 0 });
  try {
    net.setOptimizer({ type: 'adam', lr: LEARNING_RATE });
    const images = Float32Array.from({ length: BATCH_SIZE * FACE_PIXELS }, Math.random);
    const labels = Int32Array.from({ length: BATCH_SIZE }, () => Math.floor(Math.random() * spec.classes));
    for (let i = 0; i < WARMUP_BATCHES; i++) net.trainStep(images, labels);
    const start = performance.now();
    for (let i = 0; i < batches; i++) net.trainStep(images, labels);
    return (batches * BATCH_SIZE) / ((performance.now() - start) / 1000);
  } finally {
    net.dispose();
  }
}

function benchPytorch(specFile: string, batches: number): number {
  const args = [PYTORCH_SCRIPT, specFile, '--batches', `${batches}`, '--warmup', `${WARMUP_BATCHES}`];
  args.push('--batch-size', `${BATCH_SIZE}`, '--threads', `${THREADS}`);
  const run = spawnSync(PYTHON, args, { encoding: 'utf8', env: process.env });
  if (run.status !== 0) throw new Error(`${PYTHON} ${PYTORCH_SCRIPT} failed:\n${run.stderr}`);
  return (JSON.parse(run.stdout) as { imagesPerSecond: number }).imagesPerSecond;
}

function hasPytorch(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const rate = (x: number): string => `${x.toFixed(1)} img/s`;

function main(): void {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string', default: 'vgg-b' },
      batches: { type: 'string', default: '40' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const batches = positiveInt('batches', values.batches);
  const rounds = positiveInt('rounds', values.rounds);

  const info = engineInfo();
  if (!info.available) throw new Error(info.reason);
  const withPytorch = hasPytorch();
  if (!withPytorch) {
    console.log(
      `PyTorch not found for ${PYTHON}: install Debian's python3-torch (sudo apt-get install -y python3-torch). Timing mien alone.`,
    );
  }
  setThreads(THREADS);

  const spec = getArchitecture(values.arch);
  const params = tensorLayout(spec)
    .filter((t) => t.trainable)
    .reduce((sum, t) => sum + tensorSize(t), 0);
  console.log(`${spec.name}, ${(params / 1000).toFixed(0)} k trainable parameters: ${spec.description}`);
  console.log(
    `batch ${BATCH_SIZE}, ${batches} timed batches after ${WARMUP_BATCHES} warm-up, Adam, ${THREADS} threads, OMP_WAIT_POLICY=PASSIVE`,
  );
  console.log(`mien: libtorch ${info.torchVersion} (${info.libtorch})`);

  const dir = mkdtempSync(join(tmpdir(), 'mien-bench-'));
  try {
    const specFile = join(dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const mien: number[] = [];
    const pytorch: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      mien.push(benchMien(spec, batches));
      let line = `round ${round}: mien ${rate(mien.at(-1)!)}`;
      if (withPytorch) {
        pytorch.push(benchPytorch(specFile, batches));
        line += `, PyTorch ${rate(pytorch.at(-1)!)}`;
      }
      console.log(line);
    }
    let summary = `mean: mien ${rate(mean(mien))}`;
    if (withPytorch) summary += `, PyTorch ${rate(mean(pytorch))}, mien/PyTorch ${(mean(mien) / mean(pytorch)).toFixed(3)}×`;
    console.log(summary);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(`bench:train: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
