import { CommanderError } from 'commander';
import { MienError } from '../core/errors.js';

/** A mistake in how mien was called: reported in one line with exit code 2. */
export class UsageError extends MienError {
  override readonly exitCode = 2;
}

/**
 * Runs `check` (a lower layer's validation of a flag's value) and turns the MienError it throws into a UsageError with
 * the same message: the layer cannot know its input came from a flag, the CLI does.
 */
export function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof MienError && !(err instanceof UsageError)) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/** Prints an error the way a CLI user should see it and returns the process exit code. */
export function reportError(err: unknown): number {
  // Commander has already printed its message (or the help); usage mistakes exit 2 like other CLIs.
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  // Errors caused by the user's input or set-up (MienErrors, and the system's own: ENOENT, EACCES…): one line.
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (err instanceof MienError || (typeof code === 'string' && /^E[A-Z]+$/.test(code))) {
    process.stderr.write(`mien: ${(err as Error).message}\n`);
    return err instanceof MienError ? err.exitCode : 1;
  }
  // Anything else is a bug in mien: keep the stack, it is what a bug report needs.
  process.stderr.write(`mien: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}
