/** Node-only: kept out of the modules the browser entry loads (node:util does not exist there). */
import { getSystemErrorMap } from 'node:util';

/** What a failed file-system call means, in the system's words ("permission denied"), not its code (EACCES). */
export function fsErrorText(err: NodeJS.ErrnoException): string {
  return (err.errno !== undefined && getSystemErrorMap().get(err.errno)?.[1]) || err.code || err.message;
}
