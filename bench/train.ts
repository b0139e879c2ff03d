/**
 * Training throughput of mien's libtorch addon: its numerics and allocator variants against each other and against
 * PyTorch, on the same network (built by both from one ModelSpec) with the same batch size, optimizer and threads.
 * Each variant runs in a process of its own (the allocator is chosen when the addon loads), and the variants
 * alternate round by round so that a noisy neighbour hits all alike. Ratios are against mien's default.
 *
 *   npm run bench:train -- [--arch mienet-s] [--batches 40] [--rounds 2] [--variants default,bf16,...]
 *
 * Variants: default (float32, NCHW, mien's caching CPU allocator), libtorch-allocator (libtorch's own allocator,
 * MIEN_CPU_CACHING=0), tcmalloc (that, with tcmalloc preloaded), bf16 (CPU autocast), channels-last, bf16+channels-last,
 * pytorch (Debian's python3-torch, when installed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FACE_PIXELS } from '../src/core/labels.js';
import { getArchitecture } from '../src/models/zoo.js';
import { type ModelSpec, tensorLayout, tensorSize } from '../src/models/spec.js';
import { createNetwork, engineInfo, setThreads, type Precision } from '../src/train/engine.js';

// Every engine gets the same libgomp policy; the mien addon loads lazily, after this line.
process.env.OMP_WAIT_POLICY = 'PASSIVE';

const BATCH_SIZE = 64;
const WARMUP_BATCHES = 3;
const THREADS = 2;
const LEARNING_RATE = 1e-3;
/** Debian's python3-torch is built for the system Python, not for a pyenv `python3` earlier on PATH. */
const PYTHON = '/usr/bin/python3';
const PYTORCH_SCRIPT = join(import.meta.dirname, 'train_pytorch.py');
const TCMALLOC = '/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4';

interface Variant {
  precision?: Partial<Precision>;
  env?: Record<string, string>;
  /** Why it cannot run here, if it cannot. */
  unavailable?: () => string | undefined;
}

const VARIANTS: Record<string, Variant> = {
  default: {},
  'libtorch-allocator': { env: { MIEN_CPU_CACHING: '0' } },
  tcmalloc: {
    env: { MIEN_CPU_CACHING: '0', LD_PRELOAD: TCMALLOC },
    unavailable: () => (existsSync(TCMALLOC) ? undefined : `no ${TCMALLOC} (apt-get install libtcmalloc-minimal4)`),
  },
  bf16: { precision: { bf16: true } },
  'channels-last': { precision: { channelsLast: true } },
  'bf16+channels-last': { precision: { bf16: true, channelsLast: true } },
  pytorch: {
    unavailable: () =>
      spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0
        ? undefined
        : `PyTorch not found for ${PYTHON} (apt-get install python3-torch)`,
  },
};

/** In a child process: one variant's images per second, printed as JSON. */
async function measureMien(spec: ModelSpec, batches: number, precision: Partial<Precision>): Promise<number> {
  setThreads(THREADS);
  const net = createNetwork(spec, { seed: 0, precision });
  try {
    net.setOptimizer({ type: 'adam', lr: LEARNING_RATE });
    const images = Float32Array.from({ length: BATCH_SIZE * FACE_PIXELS }, Math.random);
    const labels = Int32Array.from({ length: BATCH_SIZE }, () => Math.floor(Math.random() * spec.classes));
    for (let i = 0; i < WARMUP_BATCHES; i++) await net.trainStep(images, labels);
    const start = performance.now();
    for (let i = 0; i < batches; i++) await net.trainStep(images, labels);
    return (batches * BATCH_SIZE) / ((performance.now() - start) / 1000);
  } finally {
    net.dispose();
  }
}

function runVariant(name: string, specFile: string, batches: number): number {
  const variant = VARIANTS[name]!;
  const [command, args] =
    name === 'pytorch'
      ? [
          PYTHON,
          [
            PYTORCH_SCRIPT,
            specFile,
            '--batches',
            `${batches}`,
            '--warmup',
            `${WARMUP_BATCHES}`,
            '--batch-size',
            `${BATCH_SIZE}`,
            '--threads',
            `${THREADS}`,
          ],
        ]
      : [process.execPath, ['--import', 'tsx', import.meta.filename, '--child', name, '--spec', specFile, '--batches', `${batches}`]];
  const run = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...variant.env } });
  if (run.status !== 0) throw new Error(`${name} failed:\n${run.stderr}`);
  return (JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { imagesPerSecond: number }).imagesPerSecond;
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string', default: 'mienet-s' },
      batches: { type: 'string', default: '40' },
      rounds: { type: 'string', default: '2' },
      variants: { type: 'string', default: Object.keys(VARIANTS).join(',') },
      child: { type: 'string' },
      spec: { type: 'string' },
    },
  });
  const batches = positiveInt('batches', values.batches);
  if (values.child) {
    const spec = JSON.parse(readFileSync(values.spec!, 'utf8')) as ModelSpec;
    console.log(JSON.stringify({ imagesPerSecond: await measureMien(spec, batches, VARIANTS[values.child]!.precision ?? {}) }));
    return;
  }
  const rounds = positiveInt('rounds', values.rounds);
  const info = engineInfo();
  if (!info.available) throw new Error(info.reason);
  const names = values.variants.split(',').filter((name) => {
    if (!VARIANTS[name]) throw new Error(`unknown variant "${name}": use ${Object.keys(VARIANTS).join(', ')}`);
    const why = VARIANTS[name].unavailable?.();
    if (why) console.log(`${name}: skipped, ${why}`);
    return !why;
  });
  if (!names.includes('default')) names.unshift('default');

  const spec = getArchitecture(values.arch);
  const params = tensorLayout(spec)
    .filter((t) => t.trainable)
    .reduce((sum, t) => sum + tensorSize(t), 0);
  console.log(`${spec.name}, ${(params / 1000).toFixed(0)} k trainable parameters: ${spec.description}`);
  console.log(
    `batch ${BATCH_SIZE}, ${batches} timed batches after ${WARMUP_BATCHES} warm-up, Adam, ${THREADS} threads, OMP_WAIT_POLICY=PASSIVE, libtorch ${info.torchVersion}`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'mien-bench-'));
  try {
    const specFile = join(dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const rates = new Map<string, number[]>(names.map((name) => [name, []]));
    for (let round = 1; round <= rounds; round++) {
      const line = names.map((name) => {
        const r = runVariant(name, specFile, batches);
        rates.get(name)!.push(r);
        return `${name} ${r.toFixed(1)}`;
      });
      console.log(`round ${round} (img/s): ${line.join(', ')}`);
    }
    const base = mean(rates.get('default')!);
    console.log(`\n| variant | img/s (mean of ${rounds}) | × default |\n|---|---|---|`);
    for (const [name, xs] of rates) console.log(`| ${name} | ${mean(xs).toFixed(1)} | ${(mean(xs) / base).toFixed(2)}× |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:train: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
