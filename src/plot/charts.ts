/** The charts of data statistics and evaluation reports, as vega-lite specs (draw them with renderChart/writeChart). */
import type { ChartSpec } from './render.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const BAR_COLOUR = '#4c78a8';
const GAP_COLOUR = '#e45756';

/**
 * A confusion matrix as a heatmap: true class on the rows, predicted class on the columns, each cell labelled with
 * its count or, with `normalize`, its share of the row (the recall of the row's class on the diagonal).
 * `confusion[t][p]` is the number of faces of class t predicted as p.
 */
export function confusionMatrixChart(confusion: number[][], labels: string[], normalize: boolean): ChartSpec {
  if (confusion.length !== labels.length || confusion.some((row) => row.length !== labels.length)) {
    throw new RangeError(`a confusion matrix for ${labels.length} classes must be ${labels.length}×${labels.length}`);
  }
  const cells = confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => {
      const value = normalize ? (total > 0 ? count / total : 0) : count;
      return { truth: labels[t]!, predicted: labels[p]!, count, value };
    });
  });
  const max = Math.max(...cells.map((c) => c.value));
  // White text where the blue is darkest: the scale reaches a dark navy past about half its range.
  const darkFrom = max / 2;
  const cellSize = 52;
  const axis = { labelAngle: 0, domain: false, ticks: false, labelPadding: 6 } as const;
  return {
    $schema: SCHEMA,
    title: { text: normalize ? 'Confusion matrix (share of each true class)' : 'Confusion matrix (faces)' },
    data: { values: cells },
    width: cellSize * labels.length,
    height: cellSize * labels.length,
    encoding: {
      x: {
        field: 'predicted',
        type: 'nominal',
        sort: labels,
        title: 'predicted',
        axis: { ...axis, orient: 'top', labelAngle: -30, labelAlign: 'left' },
      },
      y: { field: 'truth', type: 'nominal', sort: labels, title: 'true class', axis },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'value',
            type: 'quantitative',
            scale: { scheme: 'blues', domain: [0, max || 1] },
            legend: {
              title: normalize ? 'share' : 'faces',
              format: normalize ? '.0%' : 'd',
              gradientLength: cellSize * labels.length - 20,
            },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 12 },
        encoding: {
          text: { field: 'value', type: 'quantitative', format: normalize ? '.0%' : 'd' },
          color: { condition: { test: `datum.value > ${darkFrom}`, value: 'white' }, value: '#222222' },
        },
      },
    ],
    config: { axis: { labelFontSize: 12, titleFontSize: 13 } },
  } as ChartSpec;
}

/** One confidence bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Mean top-class probability of the faces in the bin. */
  confidence: number;
  /** Share of them classified correctly. */
  accuracy: number;
  count: number;
}

/**
 * A reliability diagram (as in Guo et al. 2017): accuracy per confidence bin as bars against the diagonal of perfect
 * calibration, the gap to each bin's mean confidence in red, and below it the number of faces per bin.
 * `bins` are equal-width bins over [0, 1] in order, empty ones included (count 0): bin i spans [i/n, (i+1)/n].
 */
export function reliabilityChart(bins: ReliabilityBin[]): ChartSpec {
  if (bins.length === 0) throw new RangeError('a reliability diagram needs at least one bin');
  const n = bins.length;
  const rows = bins.map((b, i) => ({ ...b, lower: i / n, upper: (i + 1) / n })).filter((b) => b.count > 0);
  const unit = { type: 'quantitative' as const, scale: { domain: [0, 1], nice: false } };
  const width = 340;
  return {
    $schema: SCHEMA,
    data: { values: rows },
    vconcat: [
      {
        title: {
          text: 'Reliability',
          subtitle: ["bars: accuracy per confidence bin · red: gap to the bin's", 'mean confidence · dashed: perfect calibration'],
        },
        width,
        height: width,
        layer: [
          {
            mark: { type: 'bar', color: BAR_COLOUR, stroke: 'white', strokeWidth: 1 },
            encoding: {
              x: { ...unit, field: 'lower', title: null, axis: { format: '.1f', labels: false } },
              x2: { field: 'upper' },
              y: { ...unit, field: 'accuracy', title: 'accuracy', axis: { format: '.0%' } },
              y2: { datum: 0 },
            },
          },
          {
            // The over- or under-confidence of each bin: from its accuracy up (or down) to its mean confidence.
            mark: { type: 'bar', color: GAP_COLOUR, opacity: 0.35, stroke: GAP_COLOUR, strokeWidth: 1 },
            encoding: {
              x: { ...unit, field: 'lower' },
              x2: { field: 'upper' },
              y: { ...unit, field: 'accuracy' },
              y2: { field: 'confidence' },
            },
          },
          {
            data: {
              values: [
                { x: 0, y: 0 },
                { x: 1, y: 1 },
              ],
            },
            mark: { type: 'line', color: '#666666', strokeDash: [5, 4], strokeWidth: 1.5 },
            encoding: { x: { ...unit, field: 'x' }, y: { ...unit, field: 'y' } },
          },
        ],
      },
      {
        width,
        height: 80,
        mark: { type: 'bar', color: '#9d9d9d', stroke: 'white', strokeWidth: 1 },
        encoding: {
          x: { ...unit, field: 'lower', title: 'confidence (top-class probability)', axis: { format: '.1f' } },
          x2: { field: 'upper' },
          y: { field: 'count', type: 'quantitative', title: 'faces', axis: { tickCount: 3, format: '~s' } },
          y2: { datum: 0 },
        },
      },
    ],
    spacing: 6,
  } as ChartSpec;
}

/** Faces per class and split as grouped bars: one group per class, one bar per split. */
export function classDistributionChart(counts: Record<string, number[]>, labels: readonly string[]): ChartSpec {
  const splits = Object.keys(counts);
  const rows = splits.flatMap((split) => labels.map((label, c) => ({ split, label, count: counts[split]![c] ?? 0 })));
  return {
    $schema: SCHEMA,
    title: { text: 'Faces per class', subtitle: splits.length > 1 ? `by split: ${splits.join(', ')}` : `split: ${splits[0] ?? '-'}` },
    data: { values: rows },
    width: 70 * labels.length,
    height: 260,
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'label', type: 'nominal', sort: [...labels], title: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'split', type: 'nominal', sort: splits },
      y: { field: 'count', type: 'quantitative', title: 'faces', axis: { format: ',d' } },
      color: { field: 'split', type: 'nominal', sort: splits, scale: { scheme: 'tableau10' }, legend: { title: 'split', orient: 'right' } },
    },
  } as ChartSpec;
}
