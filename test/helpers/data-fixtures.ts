/** Small fixtures for the data-loading tests: temp folders, recognisable faces, CSV rows, PNG files. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import sharp from 'sharp';
import { FACE_PIXELS, FACE_SIZE } from '../../src/core/labels.js';

/**
 * A fresh temp folder for the current test file, removed afterwards; the binary cache lives inside it so the
 * tests never touch ~/.cache/mien. Returns a getter because the folder exists only once `before` has run.
 */
export function useTempDir(prefix: string): () => string {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), `mien-${prefix}-`));
    process.env['MIEN_CACHE_DIR'] = join(dir, 'cache');
  });
  after(async () => rm(dir, { recursive: true, force: true }));
  return () => dir;
}

/** A face no other seed produces: a diagonal gradient shifted by `seed`, so mix-ups and reorderings show. */
export function patternFace(seed: number): Uint8Array {
  const face = new Uint8Array(FACE_PIXELS);
  for (let y = 0; y < FACE_SIZE; y++) for (let x = 0; x < FACE_SIZE; x++) face[y * FACE_SIZE + x] = (x * 3 + y * 2 + seed * 37) % 256;
  return face;
}

export const pixelsText = (face: Uint8Array): string => Array.from(face).join(' ');

/** Writes a 48×48 gray face as a lossless PNG, creating folders as needed. */
export async function writeFacePng(path: string, face: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp(face, { raw: { width: FACE_SIZE, height: FACE_SIZE, channels: 1 } })
    .png()
    .toFile(path);
}
