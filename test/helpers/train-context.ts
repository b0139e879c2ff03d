import type { TrainContext } from '../../src/train/callback.js';
import type { EpochRecord } from '../../src/train/config.js';
import { DEFAULT_TRAIN_CONFIG } from '../../src/train/config.js';
import type { TrainerState } from '../../src/train/checkpoint.js';
import { NO_AUGMENT } from '../../src/data/index.js';
import { tinySpec } from './synthetic.js';

/** A training context without a network, for unit tests of callbacks: it records the rate, stops and log lines. */
export function fakeContext(over: { outDir?: string; history?: EpochRecord[]; lr?: number } = {}) {
  const state: TrainerState = {
    epoch: over.history?.length ?? 0,
    lr: over.lr ?? 1e-3,
    history: over.history ?? [],
    bestValAccuracy: -1,
    bestEpoch: 0,
    callbacks: {},
    rng: [1, 2, 3, 4],
    finished: false,
  };
  const logged: string[] = [];
  let stopped: string | undefined;
  const ctx: TrainContext = {
    spec: tinySpec(),
    config: { ...DEFAULT_TRAIN_CONFIG, arch: 'tiny-test', data: 'synthetic', augment: NO_AUGMENT },
    outDir: over.outDir ?? '.',
    get net(): never {
      throw new Error('this test context has no network');
    },
    state,
    batchesPerEpoch: 10,
    step: 0,
    setLearningRate: (lr) => void (state.lr = lr),
    stop: (reason) => void (stopped ??= reason),
    get stopReason() {
      return stopped;
    },
    log: (m) => void logged.push(m),
    checkpoint: () => {
      throw new Error('this test context cannot checkpoint');
    },
  };
  return { ctx, state, logged, stopped: () => stopped };
}

export const epochRecord = (epoch: number, valLoss: number, valAccuracy: number): EpochRecord => ({
  epoch,
  lr: 0,
  trainLoss: 1,
  trainAccuracy: 0.5,
  valLoss,
  valAccuracy,
  seconds: 1,
  imagesPerSecond: 1,
});
