import cliProgress from 'cli-progress';
import type { Batch, Callback, EpochEnd, TrainContext } from './callback.js';
import type { EpochRecord } from './config.js';
import type { StepResult } from './engine.js';

export const formatDuration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

export function formatEpochLine(r: EpochRecord, epochs: number, isBest: boolean): string {
  const width = String(epochs).length;
  return (
    `epoch ${String(r.epoch).padStart(width)}/${epochs}  ` +
    `loss ${r.trainLoss.toFixed(4)}  ` +
    (r.trainLabelLoss === undefined ? '' : `(labels ${r.trainLabelLoss.toFixed(4)})  `) +
    `acc ${(100 * r.trainAccuracy).toFixed(2)}%  ` +
    `val_loss ${r.valLoss.toFixed(4)}  val_acc ${(100 * r.valAccuracy).toFixed(2)}%  ` +
    (r.trainedValAccuracy === undefined ? '' : `(trained weights ${(100 * r.trainedValAccuracy).toFixed(2)}%)  `) +
    `lr ${r.lr.toExponential(1)}  ${Math.round(r.imagesPerSecond)} img/s  ${formatDuration(r.seconds)}` +
    (isBest ? '  ★ best' : '')
  );
}

/**
 * A progress bar per epoch on stderr (loss, accuracy, images/s, ETA) and one summary line per epoch on stdout.
 * Without a terminal (CI, redirected output) the bar is skipped and only the summary lines are printed.
 */
export class ConsoleProgress implements Callback {
  readonly name = 'progress';
  private bar: cliProgress.SingleBar | undefined;
  private started = 0;
  private seen = 0;
  private lossSum = 0;
  private correct = 0;

  constructor(private readonly interactive = Boolean(process.stderr.isTTY)) {}

  onEpochStart(ctx: TrainContext, epoch: number): void {
    [this.started, this.seen, this.lossSum, this.correct] = [performance.now(), 0, 0, 0];
    if (!this.interactive) return;
    this.bar = new cliProgress.SingleBar(
      {
        format: `epoch ${epoch}/${ctx.config.epochs} {bar} {value}/{total}  loss {loss}  acc {acc}  {speed} img/s  ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(ctx.batchesPerEpoch, 0, { loss: '-', acc: '-', speed: '-' });
  }

  onBatchEnd(_ctx: TrainContext, batch: Batch, result: StepResult): void {
    const n = batch.labels.length;
    this.seen += n;
    this.lossSum += result.loss * n;
    this.correct += result.correct;
    this.bar?.update(batch.index + 1, {
      loss: (this.lossSum / this.seen).toFixed(4),
      acc: `${((100 * this.correct) / this.seen).toFixed(1)}%`,
      speed: Math.round(this.seen / ((performance.now() - this.started) / 1000)),
    });
  }

  onEpochEnd(ctx: TrainContext, { record, isBest }: EpochEnd): void {
    this.bar?.stop();
    this.bar = undefined;
    process.stdout.write(formatEpochLine(record, ctx.config.epochs, isBest) + '\n');
  }

  /** A log line that does not tear the bar. */
  log(message: string): void {
    if (this.bar) process.stderr.write('\n');
    process.stdout.write(`  ${message}\n`);
  }

  dispose(): void {
    this.bar?.stop();
  }
}
