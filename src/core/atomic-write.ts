import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** The temp file a write of `path` goes through: hidden, beside the target, named after the writing process. */
const tempFileOf = (path: string): string => join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);

/**
 * The pid of the process whose interrupted atomic write left the file `name` (a name in a folder, as readdir gives it),
 * or undefined when it is not one of writeFileAtomic's temp files.
 */
export function atomicWriteTempOwner(name: string): number | undefined {
  const match = /^\..+\.(\d+)\.tmp$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Writes a file so that a crash or `kill -9` at any moment leaves either the old complete file or the new complete
 * one, never a torn one: write a temp file beside it, fsync, rename over the target, fsync the folder.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string | Array<Uint8Array | string>): Promise<void> {
  const tmp = tempFileOf(path);
  const file = await open(tmp, 'w');
  try {
    for (const part of Array.isArray(data) ? data : [data]) await (typeof part === 'string' ? file.write(part) : file.write(part));
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await file.close();
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
