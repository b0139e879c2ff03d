import { join } from 'node:path';
import { Command } from 'commander';
import {
  classCounts,
  datasetSize,
  faceAt,
  loadFaces,
  medianSharpness,
  Rng,
  SHARPNESS_RATIO_WARNING,
  summarizeProblems,
  type FaceDataset,
} from '../data/index.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { EXPRESSIONS, NUM_CLASSES } from '../core/labels.js';
import { classDistributionChart, faceGrid, writeChart, type FaceGridRow } from '../plot/index.js';
import { checkOutputFolder, outputFolder } from './output.js';
import { int, positiveInt } from './parse.js';
import { progressPrinter } from './progress.js';

/** Files `mien data stats` writes into its output folder. */
const STATS_FILES = {
  distributionSvg: 'class-distribution.svg',
  distributionPng: 'class-distribution.png',
  samples: 'samples.png',
} as const;

/** The usual splits first, in the order a training run uses them; any others after, as the source lists them. */
const SPLIT_ORDER = ['train', 'val', 'test'];

function orderedSplits(splits: Record<string, FaceDataset>): string[] {
  const rank = (name: string): number => (SPLIT_ORDER.includes(name) ? SPLIT_ORDER.indexOf(name) : SPLIT_ORDER.length);
  return Object.keys(splits).sort((a, b) => rank(a) - rank(b));
}

/** Faces per class (rows) and split (columns) with totals, right-aligned; unlabelled faces get their own row. */
function formatCountsTable(counts: Record<string, number[]>, unlabelled: Record<string, number>): string {
  const splits = Object.keys(counts);
  const rows: Array<{ name: string; values: number[] }> = EXPRESSIONS.map((name, c) => ({
    name,
    values: splits.map((s) => counts[s]![c]!),
  }));
  if (splits.some((s) => unlabelled[s]! > 0)) rows.push({ name: 'unlabelled', values: splits.map((s) => unlabelled[s]!) });
  const total = rows.reduce((sum, r) => sum + r.values.reduce((a, b) => a + b, 0), 0);
  const withTotals = [...rows, { name: 'total', values: splits.map((_, i) => rows.reduce((sum, r) => sum + r.values[i]!, 0)) }];
  const header = ['class', ...splits, 'total', 'share'];
  const body = withTotals.map((r) => {
    const rowTotal = r.values.reduce((a, b) => a + b, 0);
    return [r.name, ...r.values.map(String), String(rowTotal), total > 0 ? `${((100 * rowTotal) / total).toFixed(1)}%` : '-'];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), ...body.map(line)].join('\n');
}

/**
 * `perClass` faces of each class drawn at random (seeded) from all splits together, each captioned with its split:
 * splits that differ in look (a blurred or re-encoded copy, say) show up side by side.
 */
function sampleFaces(splits: Record<string, FaceDataset>, names: string[], perClass: number, seed: number): FaceGridRow[] {
  const byClass: Array<Array<{ split: string; index: number }>> = Array.from({ length: NUM_CLASSES }, () => []);
  for (const split of names) {
    const labels = splits[split]!.labels;
    for (let index = 0; index < labels.length; index++) if (labels[index]! >= 0) byClass[labels[index]!]!.push({ split, index });
  }
  const rng = new Rng(seed);
  return byClass.map((faces, c) => {
    // A partial Fisher–Yates: only the first perClass places need drawing.
    const take = Math.min(perClass, faces.length);
    for (let k = 0; k < take; k++) {
      const j = k + rng.int(faces.length - k);
      [faces[k], faces[j]] = [faces[j]!, faces[k]!];
    }
    const picked = faces.slice(0, take);
    return { label: EXPRESSIONS[c]!, faces: picked.map((f) => faceAt(splits[f.split]!, f.index)), captions: picked.map((f) => f.split) };
  });
}

interface StatsFlags {
  out: string;
  perClass: number;
  seed: number;
  strict?: boolean;
  cache: boolean;
}

export const dataCommand = new Command('data')
  .description('look at a data set')
  // Set here, not only by main.ts: `stats` copies its parent's settings when it is created, below.
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

dataCommand
  .command('stats')
  .description('faces per class and split: a table, a class-distribution chart and a grid of sample faces per class')
  .argument('<csv|dir>', 'FER2013 CSV or class folders')
  .option('--out <dir>', 'where to write the pictures', 'mien-stats')
  .option('--per-class <n>', 'sample faces per class in the grid', positiveInt, 8)
  .option('--seed <n>', 'seed for picking the sample faces', int, 1)
  .option('--strict', 'fail on the first bad row or image instead of skipping it')
  .option('--no-cache', 'do not read or write the decoded-data cache')
  .action(async (source: string, flags: StatsFlags) => {
    await checkOutputFolder(flags.out, '--out');
    const loaded = await loadFaces(source, { strict: flags.strict, cache: flags.cache, onProgress: progressPrinter('loading images') });
    const skipped = summarizeProblems(loaded.problems);
    if (skipped) process.stderr.write(`${skipped}\n`);
    const names = orderedSplits(loaded.splits);
    const counts = Object.fromEntries(names.map((s) => [s, classCounts(loaded.splits[s]!, NUM_CLASSES)]));
    const unlabelled = Object.fromEntries(names.map((s) => [s, loaded.splits[s]!.labels.filter((l) => l < 0).length]));
    const faces = names.reduce((sum, s) => sum + datasetSize(loaded.splits[s]!), 0);
    console.log(`${source}: ${faces} faces (${loaded.format}${loaded.fromCache ? ', from the cache' : ''})`);
    console.log(formatCountsTable(counts, unlabelled));
    const sharpness = names.map((s) => ({ split: s, median: medianSharpness(loaded.splits[s]!) }));
    console.log(
      `sharpness (median |Laplacian|, sharp faces ≈ 20–40): ${sharpness.map((x) => `${x.split} ${x.median.toFixed(1)}`).join(', ')}`,
    );
    const bySharpness = [...sharpness].sort((a, b) => a.median - b.median);
    const blurriest = bySharpness[0]!;
    const sharpest = bySharpness[bySharpness.length - 1]!;
    if (sharpest.median > SHARPNESS_RATIO_WARNING * blurriest.median) {
      process.stderr.write(
        `warning: ${blurriest.split} faces are ${(sharpest.median / blurriest.median).toFixed(0)}× blurrier than ${sharpest.split} faces; ` +
          `a model trained on one will see a different kind of face in the other (compare them in ${STATS_FILES.samples})\n`,
      );
    }

    await outputFolder(flags.out, '--out');
    const chart = classDistributionChart(counts, EXPRESSIONS);
    const paths = [
      join(flags.out, STATS_FILES.distributionSvg),
      join(flags.out, STATS_FILES.distributionPng),
      join(flags.out, STATS_FILES.samples),
    ];
    await writeChart(chart, paths[0]!);
    await writeChart(chart, paths[1]!);
    const grid = await faceGrid(sampleFaces(loaded.splits, names, flags.perClass, flags.seed), {
      title: `Sample faces (${flags.perClass} per class, seed ${flags.seed}), captioned with their split`,
    });
    await writeFileAtomic(paths[2]!, grid);
    for (const path of paths) console.log(`wrote ${path}`);
  });
