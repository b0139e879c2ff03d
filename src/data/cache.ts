/**
 * Binary cache of loaded faces, so that reloading FER2013's 32k images takes a file read instead of 32k decodes.
 *
 * One file per source (named from its path), replaced whenever the source changes, so the cache never grows with
 * edits. Layout: a fixed 32-byte prefix (magic, version, header length, header CRC, body CRC, body length), a JSON
 * header (key, format, problems, per split its size and ids), then the body (per split its images, then its labels).
 * Any mismatch (truncated, corrupt, other version, stale key) reads as a miss and the caller rebuilds.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { writeFileAtomic } from '../core/atomic-write.js';
import { FACE_PIXELS } from '../core/labels.js';
import type { FaceDataset } from './dataset.js';
import type { DataProblem } from './problems.js';

const MAGIC = 'MIENFACE';
/** Bump when the layout or the decoding (resize, alpha, parsing) changes: old caches then read as misses. */
const VERSION = 1;
const PREFIX_BYTES = 32;

export interface CachedFaces {
  format: string;
  splits: Record<string, FaceDataset>;
  problems: DataProblem[];
}

interface Header {
  key: string;
  format: string;
  problems: DataProblem[];
  splits: { name: string; size: number; ids: string[] }[];
}

export const cacheDir = (): string => process.env['MIEN_CACHE_DIR'] || join(homedir(), '.cache', 'mien');

/**
 * The cache file for a source. The path as given is part of the name because ids and problem locations are written
 * with it: `data/` and `./data` must not hand each other ids spelled the other way.
 */
export function cacheFile(source: string): string {
  const name = createHash('sha256')
    .update(`${resolve(source)}\0${source}`)
    .digest('hex')
    .slice(0, 32);
  return join(cacheDir(), `${name}.faces`);
}

/** The key a cache entry must carry to be used: a hash of everything that determines the load's result. */
export const cacheKey = (signature: readonly string[]): string =>
  createHash('sha256')
    .update(`v${VERSION}\n${signature.join('\n')}`)
    .digest('hex');

/** The cached faces for `key`, or undefined when there is no usable entry (missing, stale or damaged). */
export async function readCache(file: string, key: string): Promise<CachedFaces | undefined> {
  const bytes = await readFile(file).catch(() => undefined);
  if (!bytes || bytes.length < PREFIX_BYTES || bytes.toString('latin1', 0, 8) !== MAGIC) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const headerLength = view.getUint32(12, true);
  const bodyStart = PREFIX_BYTES + headerLength;
  const bodyLength = view.getFloat64(24, true);
  if (view.getUint32(8, true) !== VERSION || bodyStart + bodyLength !== bytes.length) return undefined;
  const headerBytes = bytes.subarray(PREFIX_BYTES, bodyStart);
  if (crc32(headerBytes) !== view.getUint32(16, true)) return undefined;
  let header: Header;
  try {
    header = JSON.parse(headerBytes.toString('utf8')) as Header;
  } catch {
    return undefined;
  }
  // Check the key before the body CRC: a stale entry is the common miss and needs no pass over the body.
  if (header.key !== key) return undefined;
  const body = bytes.subarray(bodyStart);
  if (crc32(body) !== view.getUint32(20, true)) return undefined;
  if (header.splits.reduce((n, s) => n + s.size * (FACE_PIXELS + 1), 0) !== bodyLength) return undefined;
  const splits: Record<string, FaceDataset> = {};
  let offset = body.byteOffset;
  for (const { name, size, ids } of header.splits) {
    if (ids.length !== size) return undefined;
    const images = new Uint8Array(body.buffer, offset, size * FACE_PIXELS);
    const labels = new Int8Array(body.buffer, offset + size * FACE_PIXELS, size);
    splits[name] = { images, labels, ids };
    offset += size * (FACE_PIXELS + 1);
  }
  return { format: header.format, splits, problems: header.problems };
}

/**
 * Stores faces under `key`, atomically (temp file + rename), so a crash or a parallel load never leaves a torn
 * entry behind. Failing to write (read-only home, full disk) only costs the next load its speed-up, so it is not an
 * error for the load that produced the faces.
 */
export async function writeCache(file: string, key: string, faces: CachedFaces): Promise<void> {
  const entries = Object.entries(faces.splits);
  const header: Header = {
    key,
    format: faces.format,
    problems: faces.problems,
    splits: entries.map(([name, d]) => ({ name, size: d.labels.length, ids: d.ids })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const body = entries.flatMap(([, d]) => [d.images, new Uint8Array(d.labels.buffer, d.labels.byteOffset, d.labels.length)]);
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(VERSION, 8);
  prefix.writeUInt32LE(headerBytes.length, 12);
  prefix.writeUInt32LE(crc32(headerBytes), 16);
  prefix.writeUInt32LE(
    body.reduce((crc, part) => crc32(part, crc), 0),
    20,
  );
  prefix.writeDoubleLE(
    body.reduce((n, part) => n + part.length, 0),
    24,
  );
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFileAtomic(file, [prefix, headerBytes, ...body]);
  } catch {
    // See above: a cache that cannot be written is only a missed speed-up.
  }
}
