/**
 * Training curves: the three plots of the original TensorFlow project (cost, training accuracy and validation
 * accuracy per epoch) plus the learning rate, as one four-panel figure, and a callback that redraws it every epoch.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MienError } from '../core/errors.js';
import type { Callback, TrainContext } from '../train/callback.js';
import type { EpochRecord } from '../train/config.js';
import { writeChart, type ChartSpec } from './render.js';

/** File names of the curves inside a run folder. */
export const CURVES_FILES = { svg: 'curves.svg', png: 'curves.png' } as const;

export const CURVE_PANEL_TITLES = {
  cost: 'Cost per epoch',
  trainAccuracy: 'Training accuracy per epoch',
  valAccuracy: 'Validation accuracy per epoch',
  lr: 'Learning rate',
} as const;

const PANEL = { width: 340, height: 200 };
const TRAIN_COLOUR = '#4c78a8';
const VAL_COLOUR = '#f58518';
const BEST_COLOUR = '#54a24b';
const LR_COLOUR = '#72b7b2';
// Beyond this many epochs a dot per epoch turns the lines into beads; below it the dots show where the data is
// (and with a single epoch they are all there is to see).
const MAX_EPOCHS_WITH_POINTS = 40;
/** Up to this many epochs every epoch gets a tick. */
const MAX_EPOCH_TICKS = 12;
/** Up to this many distinct learning rates each gets a labelled tick. */
const MAX_LR_TICKS = 6;

/** A training history that cannot be drawn: not JSON, not a list of epoch records, or no epochs. */
export class HistoryError extends MienError {}

const RECORD_FIELDS = ['epoch', 'lr', 'trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy'] as const;

/**
 * Reads a training history (history.json, or an ONNX file's mien.history metadata): at least one epoch, each with
 * the numbers the curves draw. `source` names it in errors.
 */
export function parseHistory(json: string, source: string): EpochRecord[] {
  let history: unknown;
  try {
    history = JSON.parse(json);
  } catch (err) {
    throw new HistoryError(`${source} is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(history)) throw new HistoryError(`${source} is not a training history (expected a list of epochs)`);
  if (history.length === 0) throw new HistoryError(`${source} holds no epochs yet`);
  history.forEach((record: unknown, i) => {
    const missing = RECORD_FIELDS.find((f) => typeof (record as Record<string, unknown> | null)?.[f] !== 'number');
    if (missing) throw new HistoryError(`${source}: epoch entry ${i + 1} has no number "${missing}"`);
  });
  return history as EpochRecord[];
}

/** The epoch with the highest validation accuracy; the earliest on a tie, as the trainer keeps the first best. */
export function bestEpoch(history: readonly EpochRecord[]): EpochRecord | undefined {
  return history.reduce<EpochRecord | undefined>(
    (best, r) => (best === undefined || r.valAccuracy > best.valAccuracy ? r : best),
    undefined,
  );
}

const percent = (x: number): string => `${(100 * x).toFixed(2)}%`;
const learningRate = (lr: number): string => lr.toExponential(2).replace(/\.?0+e/, 'e');

/** The four-panel figure as a vega-lite spec. `history` must hold at least one epoch. */
export function trainingCurvesChart(history: readonly EpochRecord[]): ChartSpec {
  const best = bestEpoch(history);
  if (!best) throw new RangeError('training curves need at least one epoch of history');
  const first = history[0]!;
  const last = history[history.length - 1]!;
  const epochs = history.map((r) => r.epoch);
  // A one-epoch run still gets an x axis with room either side of its dot; a short run gets a tick per epoch.
  const epochDomain = first.epoch === last.epoch ? [first.epoch - 0.5, last.epoch + 0.5] : [first.epoch, last.epoch];
  const epochAxis = {
    field: 'epoch',
    type: 'quantitative',
    title: 'epoch',
    scale: { domain: epochDomain, nice: false },
    axis: history.length <= MAX_EPOCH_TICKS ? { values: epochs, format: 'd' } : { format: 'd', tickMinStep: 1, tickCount: 5 },
  } as const;
  const point = history.length <= MAX_EPOCHS_WITH_POINTS ? { filled: true, size: 30 } : false;
  const bestRule = {
    data: { values: [best] },
    mark: { type: 'rule', color: BEST_COLOUR, strokeDash: [4, 3], strokeWidth: 1.5 },
    encoding: { x: epochAxis },
  } as const;
  const line = (field: keyof EpochRecord, colour: string, y: object, mark: object = {}) => ({
    mark: { type: 'line', color: colour, point: point && { ...point, color: colour }, ...mark },
    encoding: { x: epochAxis, y: { field, type: 'quantitative', ...y } },
  });
  // A late or short run spans a few points of accuracy: whole percents would label several ticks alike (70%, 70%).
  const accuracyY = { title: 'accuracy', axis: { format: '.1~%' }, scale: { zero: false } };
  // A plateau schedule makes a handful of distinct rates: label exactly those, rather than every 1-2-5 of a decade.
  const rates = [...new Set(history.map((r) => r.lr))].sort((a, b) => a - b);
  const lrDomain = [rates[0]! / 1.25, rates[rates.length - 1]! * 1.25] as const;
  // Many rates (a long decaying schedule): the powers of ten, as vega's own log ticks add a grid line per 1…9; a
  // range within one decade gets its ends.
  const [lowDecade, highDecade] = [Math.ceil(Math.log10(lrDomain[0])), Math.floor(Math.log10(lrDomain[1]))];
  const decades = Array.from({ length: Math.max(0, highDecade - lowDecade + 1) }, (_, i) => 10 ** (lowDecade + i));
  const lrTicks = rates.length <= MAX_LR_TICKS ? rates : decades.length >= 2 ? decades : [rates[0]!, rates[rates.length - 1]!];
  const lrAxis = { values: lrTicks, format: '.2~e' };
  const panel = (title: string, subtitle: string) => ({ title: { text: title, subtitle }, ...PANEL });
  // A run with weight averaging validates the average; its trained weights' figures show what averaging bought.
  const averaged = history.some((r) => r.trainedValAccuracy !== undefined);
  // Distillation's loss adds a T²-scaled term: its label term is the training cost on validation's scale.
  const trainCost = history.every((r) => r.trainLabelLoss !== undefined) ? 'trainLabelLoss' : 'trainLoss';

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: history as EpochRecord[] },
    columns: 2,
    spacing: { column: 24, row: 28 },
    resolve: { scale: { color: 'independent' } },
    concat: [
      {
        ...panel(
          CURVE_PANEL_TITLES.cost,
          trainCost === 'trainLabelLoss'
            ? `last epoch: train ${last.trainLabelLoss!.toFixed(3)} (the labels' term; with the teacher's ` +
                `${last.trainLoss.toFixed(3)}), validation ${last.valLoss.toFixed(3)}`
            : `last epoch: train ${last.trainLoss.toFixed(3)}, validation ${last.valLoss.toFixed(3)}`,
        ),
        layer: [
          bestRule,
          {
            transform: [{ fold: [trainCost, 'valLoss'], as: ['series', 'loss'] }],
            mark: { type: 'line', point },
            encoding: {
              x: epochAxis,
              y: { field: 'loss', type: 'quantitative', title: 'cross-entropy', scale: { zero: false } },
              color: {
                field: 'series',
                type: 'nominal',
                scale: { domain: [trainCost, 'valLoss'], range: [TRAIN_COLOUR, VAL_COLOUR] },
                legend: {
                  title: null,
                  orient: 'top',
                  direction: 'horizontal',
                  offset: 4,
                  labelExpr: `datum.value == '${trainCost}' ? 'train' : 'validation'`,
                },
              },
            },
          },
        ],
      },
      {
        ...panel(CURVE_PANEL_TITLES.trainAccuracy, `last epoch: ${percent(last.trainAccuracy)}`),
        layer: [bestRule, line('trainAccuracy', TRAIN_COLOUR, accuracyY)],
      },
      {
        ...panel(
          CURVE_PANEL_TITLES.valAccuracy,
          `best: ${percent(best.valAccuracy)} at epoch ${best.epoch} (dashed line)` +
            (averaged ? '; dotted: the trained weights, not averaged' : ''),
        ),
        layer: [
          bestRule,
          ...(averaged ? [line('trainedValAccuracy', VAL_COLOUR, accuracyY, { strokeDash: [2, 2], opacity: 0.6 })] : []),
          line('valAccuracy', VAL_COLOUR, accuracyY),
          {
            data: { values: [best] },
            mark: { type: 'point', shape: 'circle', size: 120, filled: false, strokeWidth: 2, color: BEST_COLOUR },
            encoding: { x: epochAxis, y: { field: 'valAccuracy', type: 'quantitative' } },
          },
        ],
      },
      {
        ...panel(CURVE_PANEL_TITLES.lr, `last epoch: ${learningRate(last.lr)}`),
        layer: [
          bestRule,
          // The rate is set at an epoch's start and held through it: a step, not a slope between epochs.
          line(
            'lr',
            LR_COLOUR,
            { title: 'learning rate (log)', axis: lrAxis, scale: { type: 'log', domain: lrDomain, nice: false } },
            { interpolate: 'step-after' },
          ),
        ],
      },
    ],
  } as ChartSpec;
}

/** Draws the curves into `outDir` as curves.svg and curves.png; returns the two paths. */
export async function renderTrainingCurves(history: readonly EpochRecord[], outDir: string): Promise<{ svg: string; png: string }> {
  const spec = trainingCurvesChart(history);
  await mkdir(outDir, { recursive: true });
  const paths = { svg: join(outDir, CURVES_FILES.svg), png: join(outDir, CURVES_FILES.png) };
  await writeChart(spec, paths.svg);
  await writeChart(spec, paths.png);
  return paths;
}

/** Redraws the run's curves (curves.svg, curves.png in the run folder) after every epoch, from the trainer's history. */
export class CurvesCallback implements Callback {
  readonly name = 'curves';

  async onEpochEnd(ctx: TrainContext): Promise<void> {
    try {
      await renderTrainingCurves(ctx.state.history, ctx.outDir);
    } catch (err) {
      // A picture is not worth losing a training run over (a full disk will stop the checkpoints soon enough).
      ctx.log(`could not draw the training curves: ${(err as Error).message}`);
    }
  }
}
