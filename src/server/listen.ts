/**
 * Where the server listens, and why it could not: kept apart from the server itself so the CLI can name the defaults
 * and report these errors without loading fastify for every command.
 */
import { MienError } from '../core/errors.js';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';

/** Why the server cannot start (port in use, no such address…): one line for the user. */
export class ServeError extends MienError {
  override name = 'ServeError';
}

/** The error of a failed listen() as a ServeError saying what to do, when it is one the user can fix. */
export function listenError(err: unknown, port: number, host: string): unknown {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return new ServeError(`port ${port} on ${host} is in use by another program: stop it or pass --port`);
    case 'EACCES':
      return new ServeError(`no permission to listen on port ${port} (ports below 1024 need root): pass --port ${DEFAULT_PORT} or another`);
    case 'EADDRNOTAVAIL':
      return new ServeError(
        `${host} is not an address of this machine: pass --host ${DEFAULT_HOST} (this machine only) or --host 0.0.0.0 (every network)`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ServeError(`cannot resolve the host name ${host}`);
  }
  return err;
}
