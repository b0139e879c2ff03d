import { MienError } from '../core/errors.js';

/** A mistake in the user's data, data path or data options; the CLI shows its message as one line, never as a stack trace. */
export class DataError extends MienError {
  override name = 'DataError';
}

/** One bad input that was skipped: a CSV row (`where` = "file.csv:LINE") or an image file or folder (its path). */
export interface DataProblem {
  where: string;
  message: string;
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

  /** Reports problems found by an earlier load (a cache hit) as if they were found now. */
  replay(problems: readonly DataProblem[]): void {
    for (const p of problems) this.report(p.where, p.message);
  }
}

const CSV_LINE = /:\d+$/;

/** The one line a caller prints after a lenient load, e.g. "skipped 3 bad rows (first: train.csv:17: …)". */
export function summarizeProblems(problems: readonly DataProblem[]): string | undefined {
  const first = problems[0];
  if (!first) return undefined;
  const noun = problems.every((p) => CSV_LINE.test(p.where)) ? 'row' : 'file';
  const count = problems.length;
  return `skipped ${count} bad ${noun}${count === 1 ? '' : 's'} (first: ${problemText(first)})`;
}
