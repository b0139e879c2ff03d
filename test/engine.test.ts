import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { FACE_PIXELS, FACE_SIZE, NUM_CLASSES } from '../src/core/labels.js';
import { Rng } from '../src/data/random.js';
import { makeSpec, type ModelSpec, tensorLayout, tensorSize } from '../src/models/spec.js';
import { createNetwork, engineInfo, EngineUnavailableError, type Network, type Precision, setThreads } from '../src/train/engine.js';

const engine = engineInfo();
const skip = engine.available ? false : `native addon not built: ${engine.reason}`;

/** Every layer type but flatten: two kinds of residual block, squeeze-excitation, dropout, 1-D batch norm. */
const everyLayerSpec = (width = 4): ModelSpec =>
  makeSpec('every-layer', 'test net', [
    { type: 'conv', out: width, kernel: 3, padding: 'same' },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool', kernel: 2 },
    {
      type: 'residual',
      body: [{ type: 'conv', out: width, kernel: 3, padding: 'same', bias: false }, { type: 'batchnorm' }],
    },
    { type: 'relu' },
    {
      type: 'residual',
      body: [
        { type: 'conv', out: 2 * width, kernel: 3, stride: 2, padding: 1, bias: false },
        { type: 'batchnorm' },
        { type: 'relu' },
        { type: 'se', reduction: 4 },
      ],
      shortcut: [{ type: 'conv', out: 2 * width, kernel: 1, stride: 2, bias: false }, { type: 'batchnorm' }],
    },
    { type: 'dropout', p: 0.2 },
    { type: 'globalavgpool' },
    { type: 'dense', out: 16 },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'dense', out: NUM_CLASSES },
  ]);

/** Flatten, and no dropout: its steps do not depend on the RNG, so two networks can be compared step for step. */
const flatSpec = (): ModelSpec =>
  makeSpec('flat', 'test net', [
    { type: 'conv', out: 4, kernel: 5, stride: 2, padding: 'valid' },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool', kernel: 3, stride: 2 },
    { type: 'flatten' },
    { type: 'dense', out: NUM_CLASSES },
  ]);

/** A separable set: the label says which quadrant of the face is bright (classes 0–3). */
function quadrantBatch(n: number, seed: number): { images: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const images = new Float32Array(n * FACE_PIXELS);
  const labels = new Int32Array(n);
  const half = FACE_SIZE / 2;
  for (let i = 0; i < n; i++) {
    const label = i % 4;
    labels[i] = label;
    const [top, left] = [Math.floor(label / 2) * half, (label % 2) * half];
    for (let y = 0; y < FACE_SIZE; y++) {
      for (let x = 0; x < FACE_SIZE; x++) {
        const bright = y >= top && y < top + half && x >= left && x < left + half;
        images[i * FACE_PIXELS + y * FACE_SIZE + x] = (bright ? 0.8 : 0) + 0.2 * rng.next();
      }
    }
  }
  return { images, labels };
}

const oneHot = (labels: Int32Array, on = 1): Float32Array => {
  const off = (1 - on) / NUM_CLASSES;
  const targets = new Float32Array(labels.length * NUM_CLASSES).fill(off);
  labels.forEach((label, i) => (targets[i * NUM_CLASSES + label] = on + off));
  return targets;
};

async function withNetwork<T>(
  spec: ModelSpec,
  seed: number,
  use: (net: Network) => T | Promise<T>,
  precision: Partial<Precision> = {},
): Promise<T> {
  const net = createNetwork(spec, { seed, precision });
  try {
    net.setOptimizer({ type: 'adam', lr: 1e-2 });
    return await use(net);
  } finally {
    net.dispose();
  }
}

const trainedWeights = (spec: ModelSpec, seed: number, steps: number): Promise<Float32Array[]> =>
  withNetwork(spec, seed, async (net) => {
    for (let step = 0; step < steps; step++) {
      const { images, labels } = quadrantBatch(8, step);
      await net.trainStep(images, labels);
    }
    return net.getWeights();
  });

describe('native engine', { skip }, () => {
  before(() => setThreads(1));

  test('reports libtorch', () => {
    assert.match(engine.torchVersion ?? '', /^\d+\.\d+/);
    assert.ok(engine.libtorch);
  });

  for (const makeTestSpec of [everyLayerSpec, flatSpec]) {
    test(`${makeTestSpec().name}: getWeights follows tensorLayout, batch norm starting at identity`, async () => {
      const spec = makeTestSpec();
      await withNetwork(spec, 1, (net) => {
        const weights = net.getWeights();
        const layout = tensorLayout(spec);
        assert.deepEqual(
          weights.map((w) => w.length),
          layout.map(tensorSize),
        );
        // Batch norm's four tensors have the same size, so only their values show the order is right.
        const bnStart: Record<string, number> = { weight: 1, bias: 0, running_mean: 0, running_var: 1 };
        layout.forEach((info, i) => {
          const field = info.name.split('.').at(-1)!;
          const isBatchNorm = layout.some((other) => other.name === info.name.replace(/[^.]+$/, 'running_mean'));
          if (isBatchNorm)
            assert.ok(
              weights[i]!.every((v) => v === bnStart[field]),
              `${info.name} starts at ${bnStart[field]}`,
            );
          else if (field === 'weight')
            assert.ok(
              weights[i]!.some((v) => v !== 0),
              `${info.name} is initialised`,
            );
        });
      });
    });
  }

  test('setWeights then getWeights gives the same tensors', async () => {
    await withNetwork(everyLayerSpec(), 1, (net) => {
      const rng = new Rng(3);
      const weights = net.getWeights().map((w) => w.map(() => rng.uniform(0.5, 1.5)));
      net.setWeights(weights);
      assert.deepEqual(net.getWeights(), weights);
    });
  });

  test('forward gives n × classes logits, the same each call (eval mode)', async () => {
    await withNetwork(everyLayerSpec(), 1, async (net) => {
      const { images } = quadrantBatch(3, 1);
      const logits = await net.forward(images);
      assert.equal(logits.length, 3 * NUM_CLASSES);
      assert.ok(logits.every(Number.isFinite));
      assert.deepEqual(await net.forward(images), logits);
    });
  });

  test('training on a separable set lowers the loss', async () => {
    await withNetwork(everyLayerSpec(), 2, async (net) => {
      const { images, labels } = quadrantBatch(16, 5);
      const losses: number[] = [];
      for (let i = 0; i < 12; i++) losses.push((await net.trainStep(images, labels)).loss);
      assert.ok(losses.at(-1)! < 0.5 * losses[0]!, `loss went ${losses[0]} → ${losses.at(-1)}`);
      const { correct } = await net.trainStep(images, labels);
      assert.ok(correct >= 12, `${correct}/16 correct after training`);
    });
  });

  test('precision options: channels-last computes the same logits, bf16 close to them, and both train', async () => {
    const { images, labels } = quadrantBatch(16, 5);
    const run = (precision: Partial<Precision>) =>
      withNetwork(
        // 8 channels wide: float32 channels-last refuses 2–7 without AVX-512 (the next test)
        everyLayerSpec(8),
        2,
        async (net) => {
          const before = await net.forward(images);
          const losses: number[] = [];
          for (let i = 0; i < 12; i++) losses.push((await net.trainStep(images, labels)).loss);
          return { before, losses, weights: net.getWeights() };
        },
        precision,
      );
    const float32 = await run({});
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
    const nhwc = await run({ channelsLast: true });
    assert.ok(maxDiff(nhwc.before, float32.before) < 1e-4, 'channels-last logits');
    assert.deepEqual(
      nhwc.weights.map((w) => w.length),
      float32.weights.map((w) => w.length),
      'weights still come out in tensorLayout order and size',
    );
    const bf16 = await run({ bf16: true });
    // bfloat16 keeps 8 bits of mantissa: logits agree to about 1 %, not to float32's 1e-6.
    assert.ok(maxDiff(bf16.before, float32.before) < 0.05 * Math.max(...float32.before.map(Math.abs)), 'bf16 logits');
    assert.ok(
      bf16.weights.every((w) => w instanceof Float32Array && w.every(Number.isFinite)),
      'weights stay float32',
    );
    for (const { losses } of [nhwc, bf16]) assert.ok(losses.at(-1)! < 0.5 * losses[0]!, `loss went ${losses[0]} → ${losses.at(-1)}`);
  });

  test('float32 channels-last is refused, in one line, where libtorch would corrupt its heap', async () => {
    const avx512 = /\bavx512f\b/.test(await readFile('/proc/cpuinfo', 'utf8').catch(() => ''));
    const make = (precision: Partial<Precision>) => () => createNetwork(everyLayerSpec(4), { precision }).dispose();
    if (avx512) make({ channelsLast: true })();
    else
      assert.throws(
        make({ channelsLast: true }),
        (err: Error) =>
          err instanceof EngineUnavailableError && /layers\.\d+\.body\.0\.weight reads 4\): .*or with bf16$/.test(err.message),
      );
    make({ channelsLast: true, bf16: true })();
    make({})();
  });

  test('soft targets: one-hot equals hard labels, smoothed equals labelSmoothing', async () => {
    const { images, labels } = quadrantBatch(8, 7);
    const loss = (options: Parameters<Network['trainStep']>[2]) =>
      withNetwork(flatSpec(), 4, async (net) => (await net.trainStep(images, labels, options)).loss);
    const hard = await loss({});
    assert.ok(Math.abs((await loss({ softTargets: oneHot(labels) })) - hard) < 1e-6);
    const smoothed = await loss({ labelSmoothing: 0.2 });
    assert.ok(Math.abs(smoothed - hard) > 1e-3, 'smoothing changes the loss');
    assert.ok(Math.abs((await loss({ softTargets: oneHot(labels, 0.8) })) - smoothed) < 1e-6);
  });

  test('distillation loss: (1 − w) · CE(labels) + w · T² · CE(logits / T, soft)', async () => {
    const { images, labels } = quadrantBatch(8, 7);
    const soft = oneHot(labels, 0.6);
    // No batch norm or dropout, so train mode (the step) and eval mode (the reference's forward) compute the same logits.
    const plain = makeSpec('plain', 'test net', [
      { type: 'conv', out: 4, kernel: 5, stride: 2, padding: 'valid' },
      { type: 'relu' },
      { type: 'flatten' },
      { type: 'dense', out: NUM_CLASSES },
    ]);
    const loss = (options: Parameters<Network['trainStep']>[2]) =>
      withNetwork(plain, 4, async (net) => (await net.trainStep(images, labels, options)).loss);
    const logits = await withNetwork(plain, 4, (net) => net.forward(images));
    const ce = (t: number, targets: Float32Array) => {
      let sum = 0;
      for (let r = 0; r < labels.length; r++) {
        const row = logits.subarray(r * NUM_CLASSES, (r + 1) * NUM_CLASSES).map((v) => v / t);
        const max = Math.max(...row);
        const logZ = Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max;
        for (let c = 0; c < NUM_CLASSES; c++) sum -= targets[r * NUM_CLASSES + c]! * (row[c]! - logZ);
      }
      return sum / labels.length;
    };
    const expected = 0.3 * ce(1, oneHot(labels)) + 0.7 * 16 * ce(4, soft);
    const got = await loss({ softTargets: soft, softWeight: 0.7, temperature: 4 });
    assert.ok(Math.abs(got - expected) < 1e-4 * expected, `loss ${got}, expected ${expected}`);
    // The label term alone comes back beside it; without soft targets it is the loss itself.
    const step = (options: Parameters<Network['trainStep']>[2]) => withNetwork(plain, 4, (net) => net.trainStep(images, labels, options));
    const distilled = await step({ softTargets: soft, softWeight: 0.7, temperature: 4 });
    assert.ok(Math.abs(distilled.labelLoss - ce(1, oneHot(labels))) < 1e-5, `labelLoss ${distilled.labelLoss}`);
    const alone = await step({});
    assert.equal(alone.labelLoss, alone.loss);
  });

  test('class weights: Σ w_y · CE / Σ w_y, with labels and with soft targets alike', async () => {
    const { images, labels } = quadrantBatch(8, 7);
    const plain = makeSpec('plain', 'test net', [
      { type: 'conv', out: 4, kernel: 5, stride: 2, padding: 'valid' },
      { type: 'relu' },
      { type: 'flatten' },
      { type: 'dense', out: NUM_CLASSES },
    ]);
    const weights = Float32Array.from({ length: NUM_CLASSES }, (_, c) => 0.5 + c);
    const loss = (options: Parameters<Network['trainStep']>[2]) =>
      withNetwork(plain, 4, async (net) => (await net.trainStep(images, labels, options)).loss);
    const logits = await withNetwork(plain, 4, (net) => net.forward(images));
    // Per face and class: −log softmax, the terms both references weigh.
    const nll = (r: number, c: number) => {
      const row = logits.subarray(r * NUM_CLASSES, (r + 1) * NUM_CLASSES);
      const max = Math.max(...row);
      return Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max - row[c]!;
    };
    let weighted = 0;
    let weightSum = 0;
    labels.forEach((y, r) => ((weighted += weights[y]! * nll(r, y)), (weightSum += weights[y]!)));
    const withLabels = await loss({ classWeights: weights });
    assert.ok(Math.abs(withLabels - weighted / weightSum) < 1e-4 * withLabels, `loss ${withLabels}, expected ${weighted / weightSum}`);
    assert.ok(Math.abs(withLabels - (await loss({}))) > 1e-3, 'the weights change the loss');

    const soft = oneHot(labels, 0.6);
    // Each face weighed by its label's weight, not each target class by its own: a flat teacher distribution must not
    // tilt toward the heavy classes.
    let expected = 0;
    labels.forEach((y, r) => {
      for (let c = 0; c < NUM_CLASSES; c++) expected += weights[y]! * soft[r * NUM_CLASSES + c]! * nll(r, c);
    });
    expected /= weightSum;
    const withSoft = await loss({ softTargets: soft, classWeights: weights });
    assert.ok(Math.abs(withSoft - expected) < 1e-4 * expected, `loss ${withSoft}, expected ${expected}`);
    await withNetwork(plain, 4, async (net) => {
      await assert.rejects(net.trainStep(images, labels, { classWeights: new Float32Array(3).fill(1) }), /classWeights has 3 values/);
      await assert.rejects(net.trainStep(images, labels, { classWeights: weights.map((w, c) => (c === 2 ? 0 : w)) }), /positive/);
    });
  });

  test('steps run off the JavaScript thread: the event loop turns while a step computes', async () => {
    await withNetwork(everyLayerSpec(), 1, async (net) => {
      const { images, labels } = quadrantBatch(64, 3);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      const step = net.trainStep(images, labels);
      assert.throws(() => net.getWeights(), /busy/, 'the network refuses other calls while a step runs');
      await step;
      for (let i = 0; i < 3; i++) await net.trainStep(images, labels);
      clearInterval(timer);
      assert.ok(ticks > 0, 'timers fired during the steps');
    });
  });

  test('optimizer state (and the dropout RNG) survives bytes → another network', async () => {
    const spec = everyLayerSpec();
    const first = quadrantBatch(8, 1);
    const next = quadrantBatch(8, 2);
    const [weights, state, expected] = await withNetwork(spec, 1, async (net) => {
      await net.trainStep(first.images, first.labels);
      await net.trainStep(first.images, first.labels);
      const saved = [net.getWeights(), net.getOptimizerState()] as const;
      await net.trainStep(next.images, next.labels);
      return [...saved, net.getWeights()] as const;
    });
    const resumedStep = (withState: boolean) =>
      withNetwork(spec, 99, async (net) => {
        net.setWeights(weights);
        if (withState) net.setOptimizerState(state);
        await net.trainStep(next.images, next.labels);
        return net.getWeights();
      });
    assert.deepEqual(await resumedStep(true), expected);
    assert.notDeepEqual(await resumedStep(false), expected, 'without the state, Adam takes a different step');
  });

  test('setLearningRate keeps the optimizer: lr 0 leaves trainable weights alone', async () => {
    const spec = flatSpec();
    const trainable = tensorLayout(spec).map((t) => t.trainable);
    for (const type of ['adam', 'adamw', 'sgd'] as const) {
      await withNetwork(spec, 1, async (net) => {
        net.setOptimizer({ type, lr: 0.1, weightDecay: 1e-4 });
        const { images, labels } = quadrantBatch(8, 1);
        await net.trainStep(images, labels);
        net.setLearningRate(0);
        const before = net.getWeights();
        await net.trainStep(images, labels);
        net.getWeights().forEach((w, i) => {
          if (trainable[i]) assert.deepEqual(w, before[i], `${type}: tensor ${i} moved at lr 0`);
        });
      });
    }
  });

  test('mismatched sizes throw errors instead of crashing', async () => {
    await withNetwork(flatSpec(), 1, async (net) => {
      const { images, labels } = quadrantBatch(4, 1);
      await assert.rejects(net.trainStep(images.subarray(FACE_PIXELS), labels), /expected 9216/);
      await assert.rejects(net.trainStep(images, Int32Array.of(0, 1, 2, 7)), /label 7 is outside/);
      await assert.rejects(net.trainStep(images, labels, { softTargets: new Float32Array(5) }), /softTargets has 5 values/);
      await assert.rejects(net.trainStep(images, labels, { softTargets: oneHot(labels), temperature: 0 }), /temperature must be positive/);
      await assert.rejects(net.forward(images.subarray(1)), /not a positive multiple of 2304/);
      const weights = net.getWeights();
      assert.throws(() => net.setWeights(weights.slice(1)), /got 7 tensors, the network has 8/);
      weights[1] = new Float32Array(3);
      assert.throws(() => net.setWeights(weights), /weights\[1\] \(layers\.0\.bias\) has 3 values, expected 4/);
      assert.throws(() => net.setOptimizerState(Uint8Array.of(1, 2, 3)), /not a mien optimizer state/);
      const adamState = net.getOptimizerState();
      net.setOptimizer({ type: 'sgd', lr: 0.1 });
      assert.throws(() => net.setOptimizerState(adamState), /state is for adam, but this network's optimizer is sgd/);
    });
  });

  test('the same seed gives the same weights after 3 steps, another seed does not', async () => {
    const spec = everyLayerSpec();
    assert.deepEqual(await trainedWeights(spec, 5, 3), await trainedWeights(spec, 5, 3));
    assert.notDeepEqual(await trainedWeights(spec, 5, 3), await trainedWeights(spec, 6, 3));
  });

  test('a disposed network refuses work', async () => {
    const net = createNetwork(flatSpec());
    net.dispose();
    await assert.rejects(net.forward(new Float32Array(FACE_PIXELS)), /disposed/);
    net.dispose();
  });
});
