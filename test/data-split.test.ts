import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FACE_PIXELS, NUM_CLASSES } from '../src/core/labels.js';
import { classCounts, DataError, Rng, splitStratified, type FaceDataset } from '../src/data/index.js';

describe('Rng', () => {
  test('the same seed gives the same stream, another seed another', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 20 }, () => rng.uint32());
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
    assert.notDeepEqual(draw(1), draw(2 ** 32 + 1), 'seeds beyond 32 bits are not truncated');
  });

  test('a saved state resumes the exact stream', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 100; i++) rng.next();
    const resumed = Rng.fromState(rng.getState());
    assert.deepEqual(
      Array.from({ length: 50 }, () => resumed.next()),
      Array.from({ length: 50 }, () => rng.next()),
    );
    assert.throws(() => Rng.fromState([1, 2, 3]), RangeError);
  });

  test('next, int and normal have the right ranges and moments', () => {
    const rng = new Rng(3);
    const n = 20000;
    const uniforms = Array.from({ length: n }, () => rng.next());
    assert.ok(uniforms.every((u) => u >= 0 && u < 1));
    assert.ok(Math.abs(uniforms.reduce((a, b) => a + b) / n - 0.5) < 0.01);
    const ints = new Array(7).fill(0);
    for (let i = 0; i < n; i++) ints[rng.int(7)]++;
    assert.ok(
      ints.every((c) => Math.abs(c - n / 7) < n / 7 / 10),
      `int(7) is uniform: ${ints}`,
    );
    const normals = Array.from({ length: n }, () => rng.normal());
    const mean = normals.reduce((a, b) => a + b) / n;
    const variance = normals.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `normal: mean ${mean}, variance ${variance}`);
  });

  test('shuffle permutes, deterministically for a seed', () => {
    const shuffled = (seed: number) => {
      const a = Int32Array.from({ length: 100 }, (_, i) => i);
      new Rng(seed).shuffle(a);
      return Array.from(a);
    };
    assert.deepEqual(
      [...shuffled(1)].sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(shuffled(1), shuffled(1));
    assert.notDeepEqual(shuffled(1), shuffled(2));
  });
});

describe('splitStratified', () => {
  /** Class c has counts[c] faces; each face's first pixel and id record its index so parts can be traced. */
  function dataset(counts: number[]): FaceDataset {
    const labels = Int8Array.from(counts.flatMap((count, c) => new Array<number>(count).fill(c === NUM_CLASSES ? -1 : c)));
    const images = new Uint8Array(labels.length * FACE_PIXELS);
    labels.forEach((_, i) => (images[i * FACE_PIXELS] = i % 256));
    return { images, labels, ids: Array.from(labels, (_, i) => String(i)) };
  }

  const counts = [100, 10, 51, 200, 7, 3, 40];

  test('every class is divided in the given proportions and every face lands in exactly one part', () => {
    const d = dataset([...counts, 20]); // plus 20 unlabelled faces
    const parts = splitStratified(d, [0.8, 0.1, 0.1], 5);
    assert.equal(parts.length, 3);
    const perPart = parts.map((p) => classCounts(p, NUM_CLASSES));
    counts.forEach((n, c) => {
      assert.equal(perPart[0]![c]! + perPart[1]![c]! + perPart[2]![c]!, n, `class ${c} kept whole`);
      assert.ok(Math.abs(perPart[0]![c]! - 0.8 * n) < 1, `class ${c}: train ${perPart[0]![c]} of ${n}`);
      assert.ok(Math.abs(perPart[1]![c]! - 0.1 * n) < 1, `class ${c}: val ${perPart[1]![c]} of ${n}`);
    });
    assert.deepEqual(
      parts.map((p) => p.labels.filter((l) => l === -1).length),
      [16, 2, 2],
      'unlabelled faces are split too',
    );
    const ids = parts
      .flatMap((p) => p.ids)
      .map(Number)
      .sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      Array.from({ length: d.labels.length }, (_, i) => i),
    );
    for (const p of parts) {
      p.ids.forEach((id, k) => {
        assert.equal(p.images[k * FACE_PIXELS], Number(id) % 256, 'images travel with their ids');
        assert.equal(p.labels[k], d.labels[Number(id)]);
      });
      assert.deepEqual(
        p.ids.map(Number),
        p.ids.map(Number).sort((a, b) => a - b),
        'original order kept',
      );
    }
  });

  test('the seed fixes the result', () => {
    const d = dataset(counts);
    const ids = (seed: number) => splitStratified(d, [0.7, 0.3], seed).map((p) => p.ids);
    assert.deepEqual(ids(11), ids(11));
    assert.notDeepEqual(ids(11), ids(12));
  });

  test('fractions must be non-negative and sum to 1', () => {
    const d = dataset(counts);
    for (const bad of [[0.5, 0.4], [1.2, -0.2], []]) assert.throws(() => splitStratified(d, bad, 1), DataError);
  });
});
