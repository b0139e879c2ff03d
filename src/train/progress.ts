import cliProgress from 'cli-progress';
import type { EpochRecord } from './config.js';

/** How the training loop reports; the CLI shows bars and lines, the API default is silent. */
export interface TrainReporter {
  epochStart(epoch: number, epochs: number, batches: number): void;
  batchEnd(done: number, stats: { loss: number; accuracy: number; imagesPerSecond: number }): void;
  epochEnd(record: EpochRecord, epochs: number, isBest: boolean): void;
  log(message: string): void;
}

export const silentReporter: TrainReporter = {
  epochStart() {},
  batchEnd() {},
  epochEnd() {},
  log() {},
};

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
    `loss ${r.trainLoss.toFixed(4)}  acc ${(100 * r.trainAccuracy).toFixed(2)}%  ` +
    `val_loss ${r.valLoss.toFixed(4)}  val_acc ${(100 * r.valAccuracy).toFixed(2)}%  ` +
    `lr ${r.lr.toExponential(1)}  ${Math.round(r.imagesPerSecond)} img/s  ${formatDuration(r.seconds)}` +
    (isBest ? '  ★ best' : '')
  );
}

/**
 * A progress bar per epoch on stderr (loss, accuracy, images/s, ETA) and one summary line per epoch on stdout.
 * Without a terminal (CI, redirected output) the bar is skipped and only the summary lines are printed.
 */
export class ConsoleReporter implements TrainReporter {
  private bar: cliProgress.SingleBar | undefined;

  constructor(private readonly interactive = Boolean(process.stderr.isTTY)) {}

  epochStart(epoch: number, epochs: number, batches: number): void {
    if (!this.interactive) return;
    this.bar = new cliProgress.SingleBar(
      {
        format: `epoch ${epoch}/${epochs} {bar} {value}/{total}  loss {loss}  acc {acc}  {speed} img/s  ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(batches, 0, { loss: '-', acc: '-', speed: '-' });
  }

  batchEnd(done: number, stats: { loss: number; accuracy: number; imagesPerSecond: number }): void {
    this.bar?.update(done, {
      loss: stats.loss.toFixed(4),
      acc: `${(100 * stats.accuracy).toFixed(1)}%`,
      speed: Math.round(stats.imagesPerSecond),
    });
  }

  epochEnd(record: EpochRecord, epochs: number, isBest: boolean): void {
    this.bar?.stop();
    this.bar = undefined;
    process.stdout.write(formatEpochLine(record, epochs, isBest) + '\n');
  }

  log(message: string): void {
    if (this.bar) process.stderr.write('\n');
    process.stdout.write(`  ${message}\n`);
  }
}
