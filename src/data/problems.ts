import { MienError } from '../core/errors.js';

/** A mistake in the user's data, data path or data options; the CLI shows its message as one line, never as a stack trace. */
export class DataError extends MienError {
  override name = 'DataError';
}

/**
 * One bad input that was skipped: a CSV row (`where` = "file.csv:LINE") or an image file or folder (its path). With
 * `warning`, nothing was skipped but the user should hear of it (an empty class folder): strict loads do not stop there.
 */
export interface DataProblem {
  where: string;
  message: string;
  warning?: true;
}

export const problemText = (p: DataProblem): string => `${p.where}: ${p.message}`;

/**
 * Collects problems while loading. Lenient loads skip and count bad inputs; strict loads stop at the first one, with
 * the very message a lenient load would have listed, so switching modes never changes what the user is told.
 */
export class ProblemLog {
  readonly problems: DataProblem[] = [];

  constructor(readonly strict: boolean) {}

  report(where: string, message: string): void {
    const problem = { where, message };
    if (this.strict) throw new DataError(problemText(problem));
    this.problems.push(problem);
  }

  /** Something the user should know that skips nothing, so even a strict load goes on. */
  warn(where: string, message: string): void {
    this.problems.push({ where, message, warning: true });
  }

  /** Reports problems found by an earlier load (a cache hit) as if they were found now. */
  replay(problems: readonly DataProblem[]): void {
    for (const p of problems) {
      if (p.warning) this.warn(p.where, p.message);
      else this.report(p.where, p.message);
    }
  }
}

const CSV_LINE = /:\d+$/;

/** The one line that sums up what a lenient load skipped, e.g. "skipped 3 bad rows (first: train.csv:17: …)". */
export function summarizeSkipped(problems: readonly DataProblem[]): string | undefined {
  const skipped = problems.filter((p) => !p.warning);
  const first = skipped[0];
  if (!first) return undefined;
  const noun = skipped.every((p) => CSV_LINE.test(p.where)) ? 'row' : 'file';
  const count = skipped.length;
  return `skipped ${count} bad ${noun}${count === 1 ? '' : 's'} (first: ${problemText(first)})`;
}

/**
 * What a caller prints after a load: a "warning: …" line per warning (each is worth reading, and there are few),
 * then summarizeSkipped's one line. Undefined when there is nothing to say.
 */
export function summarizeProblems(problems: readonly DataProblem[]): string | undefined {
  const warnings = problems.filter((p) => p.warning).map((p) => `warning: ${problemText(p)}`);
  const lines = [...warnings, summarizeSkipped(problems) ?? []].flat();
  return lines.length > 0 ? lines.join('\n') : undefined;
}
