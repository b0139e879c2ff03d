import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * Writes a file so that a crash or `kill -9` at any moment leaves either the old complete file or the new complete
 * one, never a torn one: write a temp file beside it, fsync, rename over the target, fsync the folder.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string | Array<Uint8Array | string>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
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
