/** Where the commands read and write: `-` for stdin/stdout, and the output folders they create. */
import { mkdir, stat } from 'node:fs/promises';
import { UsageError } from './errors.js';

/** The name that stands for stdin (an input) or stdout (an output), as in most Unix tools. */
export const STDIO = '-';

/** `-` as an input with a terminal on stdin is a mistake: the command would sit waiting for typed bytes. */
export function assertStdinPiped(): void {
  if (process.stdin.isTTY) throw new UsageError('- reads an image from stdin, but stdin is a terminal: pipe or redirect one in');
}

/** All of stdin, for `mien predict -`. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The output folder `dir` given to `flag` is not `-` and not an existing file (checked before any long work). */
export async function checkOutputFolder(dir: string, flag: string): Promise<void> {
  if (dir === STDIO) throw new UsageError(`${flag} needs a folder; it cannot write to stdout (-)`);
  const info = await stat(dir).catch(() => undefined);
  if (info && !info.isDirectory()) throw new UsageError(`${flag} ${dir}: is a file, not a folder`);
}

/** Makes the folder `dir` given to `flag` (with its parents); one that is a file, or under one, is a usage error. */
export async function outputFolder(dir: string, flag: string): Promise<void> {
  await checkOutputFolder(dir, flag);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') throw new UsageError(`${flag} ${dir}: a part of the path is a file, not a folder`);
    throw err;
  }
}
