import { CommanderError } from 'commander';
import { DataError } from '../data/index.js';
import { HaarDetectorError } from '../detect/haar.js';
import { ImageError } from '../recognize/image.js';
import { PictureFormatError } from '../models/index.js';
import { SpecError } from '../models/spec.js';
import { HistoryError } from '../plot/index.js';
import { ModelError } from '../recognize/expression-model.js';
import { ServeError } from '../server/listen.js';
import { CheckpointError } from '../train/checkpoint.js';
import { EngineUnavailableError } from '../train/engine.js';
import { VideoError } from '../video/index.js';

/** A mistake in how mien was called: reported in one line with exit code 2. */
export class UsageError extends Error {}

/** Errors caused by the user's input or set-up: shown as one line, never as a stack trace. */
const USER_ERRORS = [
  UsageError,
  DataError,
  SpecError,
  CheckpointError,
  EngineUnavailableError,
  PictureFormatError,
  ModelError,
  HistoryError,
  HaarDetectorError,
  ImageError,
  VideoError,
  ServeError,
];

/** Prints an error the way a CLI user should see it and returns the process exit code. */
export function reportError(err: unknown): number {
  // Commander has already printed its message (or the help); usage mistakes exit 2 like other CLIs.
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (USER_ERRORS.some((E) => err instanceof E) || (typeof code === 'string' && /^E[A-Z]+$/.test(code))) {
    process.stderr.write(`mien: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  // Anything else is a bug in mien: keep the stack, it is what a bug report needs.
  process.stderr.write(`mien: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}
