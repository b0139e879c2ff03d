/** Plain-text renderings of an evaluation (the terminal output of `mien eval`) and the predict-csv file. */
import { EXPRESSIONS, NUM_CLASSES } from '../core/labels.js';
import { CALIBRATION_BINS, topPredictions, type Evaluation } from './metrics.js';

export const percent = (x: number): string => `${(100 * x).toFixed(2)}%`;

/** Right-aligned columns: the first column left-aligned, each column as wide as its widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Headline numbers, the per-class table and the confusion matrix, as `mien eval` prints them.
 *
 * @example
 * ```ts
 * console.log(formatEvaluation(await evaluateModel(model, splits.val)));
 * // accuracy 67.23%  macro-F1 0.6399  ECE 0.0233 (15 bins)  3589 faces
 * //
 * // class      precision  recall      f1  support
 * // angry         0.5925  0.6103  0.6013      467
 * // …
 * ```
 */
export function formatEvaluation(e: Evaluation): string {
  const missed = e.noFace?.reduce((a, b) => a + b, 0);
  const headline =
    `accuracy ${percent(e.accuracy)}  macro-F1 ${e.macroF1.toFixed(4)}  ` +
    `ECE ${e.ece.toFixed(4)} (${CALIBRATION_BINS} bins)  ` +
    (missed === undefined ? `${e.n} faces` : `${e.n} photos, ${missed} with no face found (counted as wrong)`);
  const perClass = table([
    ['class', 'precision', 'recall', 'f1', 'support'],
    ...e.perClass.map((m, k) => [EXPRESSIONS[k]!, m.precision.toFixed(4), m.recall.toFixed(4), m.f1.toFixed(4), String(m.support)]),
    ['macro avg', '', '', e.macroF1.toFixed(4), String(e.n)],
  ]);
  const noFace = e.noFace;
  const confusion = table([
    ['true \\ predicted', ...EXPRESSIONS, ...(noFace ? ['no face'] : [])],
    ...e.confusion.map((row, k) => [EXPRESSIONS[k]!, ...row.map(String), ...(noFace ? [String(noFace[k])] : [])]),
  ]);
  return `${headline}\n\n${perClass}\n\nconfusion matrix (rows: true class, columns: predicted)\n${confusion}\n`;
}

/** A CSV field, quoted when it holds a comma, quote or line break (image paths may). */
const csvField = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** predict-csv's file: `id,emotion,angry,…,neutral`, one row per face with its predicted id and 7 probabilities. */
export function formatPredictionsCsv(ids: readonly string[], probabilities: Float32Array): string {
  const { predicted } = topPredictions(probabilities);
  const lines = [['id', 'emotion', ...EXPRESSIONS].join(',')];
  ids.forEach((id, i) => {
    const p = probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
    lines.push(`${csvField(id)},${predicted[i]},${Array.from(p, (x) => x.toFixed(6)).join(',')}`);
  });
  return lines.join('\n') + '\n';
}
