/**
 * The one base class of the errors a user can act on: a bad file, a wrong option, a missing model or tool. Its message
 * is one line that says what is wrong and what to do; the CLI prints just that (never a stack trace) and exits with
 * `exitCode`, the HTTP server answers `{error: code, message}` with `status`. Any error that is not a MienError is a
 * bug in mien, and both show it as one (the CLI with its stack, the server as a 500 without details).
 *
 * A subclass says what it means by overriding the fields: `override readonly status = 413`.
 */

export interface MienErrorOptions extends ErrorOptions {
  exitCode?: number;
  status?: number;
  code?: string;
}

export class MienError extends Error {
  /** The CLI's exit code: 1, or 2 for a mistake in how mien was called. */
  readonly exitCode: number = 1;
  /** The HTTP status the server answers with when a request meets this error: 400 unless the class says otherwise. */
  readonly status: number = 400;
  /** A short snake_case code for programs (the server's `error` field); without one the status's name is used. */
  readonly code?: string;

  constructor(message: string, options: MienErrorOptions = {}) {
    super(message, options);
    this.name = new.target.name;
    if (options.exitCode !== undefined) this.exitCode = options.exitCode;
    if (options.status !== undefined) this.status = options.status;
    if (options.code !== undefined) this.code = options.code;
  }
}
