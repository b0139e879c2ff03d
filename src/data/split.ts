import { subset, type FaceDataset } from './dataset.js';
import { DataError } from './problems.js';
import { Rng } from './random.js';

/**
 * Splits a dataset in the given proportions (e.g. [0.8, 0.1, 0.1]), class by class, so every part keeps the class
 * balance of the whole; unlabelled faces (-1) are divided as a group of their own. Which face goes where is fixed by
 * the seed. Within each part faces keep their original order.
 */
export function splitStratified(d: FaceDataset, fractions: readonly number[], seed: number): FaceDataset[] {
  const total = fractions.reduce((a, b) => a + b, 0);
  if (fractions.length === 0 || fractions.some((f) => !(f >= 0)) || Math.abs(total - 1) > 1e-6) {
    throw new DataError(`split fractions must be non-negative and sum to 1, got ${fractions.join(', ')}`);
  }
  const byLabel = new Map<number, number[]>();
  d.labels.forEach((label, i) => {
    const group = byLabel.get(label);
    if (group) group.push(i);
    else byLabel.set(label, [i]);
  });
  const rng = new Rng(seed);
  const parts: number[][] = fractions.map(() => []);
  // Labels in ascending order, so the random stream, hence the result, does not depend on which class came first.
  for (const label of [...byLabel.keys()].sort((a, b) => a - b)) {
    const group = byLabel.get(label)!;
    rng.shuffle(group);
    let start = 0;
    apportion(group.length, fractions).forEach((count, p) => {
      for (const end = start + count; start < end; start++) parts[p]!.push(group[start]!);
    });
  }
  return parts.map((indices) =>
    subset(
      d,
      indices.sort((a, b) => a - b),
    ),
  );
}

/** Divides n items in the given proportions, exactly n in all (largest remainder; ties go to the earlier part). */
function apportion(n: number, fractions: readonly number[]): number[] {
  const counts = fractions.map((f) => Math.floor(n * f));
  const byRemainder = fractions.map((f, i) => ({ i, rest: n * f - counts[i]! })).sort((a, b) => b.rest - a.rest || a.i - b.i);
  for (let k = 0, left = n - counts.reduce((a, b) => a + b, 0); k < left; k++) counts[byRemainder[k % fractions.length]!.i]!++;
  return counts;
}
