/**
 * A tiny, perfectly separable stand-in for FER2013 that the tests make themselves: class c is a bright horizontal
 * band at row block c on a noisy background, so a few real training steps must learn it.
 */
import { writeFile } from 'node:fs/promises';
import { FACE_PIXELS, FACE_SIZE, NUM_CLASSES } from '../../src/core/labels.js';
import type { FaceDataset } from '../../src/data/dataset.js';
import { makeSpec, type ModelSpec } from '../../src/models/spec.js';

export function syntheticFaces(n: number, seed = 1): FaceDataset {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const images = new Uint8Array(n * FACE_PIXELS);
  const labels = new Int8Array(n);
  const band = Math.floor(FACE_SIZE / NUM_CLASSES);
  for (let i = 0; i < n; i++) {
    const c = i % NUM_CLASSES;
    labels[i] = c;
    for (let y = 0; y < FACE_SIZE; y++) {
      const inBand = y >= c * band && y < (c + 1) * band;
      for (let x = 0; x < FACE_SIZE; x++) images[i * FACE_PIXELS + y * FACE_SIZE + x] = inBand ? 200 + rand() * 55 : rand() * 90;
    }
  }
  return { images, labels, ids: Array.from({ length: n }, (_, i) => String(i)) };
}

/** Writes faces as a FER2013 Kaggle CSV; `usage` gives each row's Usage. */
export async function writeFer2013Csv(path: string, d: FaceDataset, usage: (i: number) => string): Promise<void> {
  const rows = ['emotion,pixels,Usage'];
  for (let i = 0; i < d.labels.length; i++) {
    rows.push(`${d.labels[i]},${Array.from(d.images.subarray(i * FACE_PIXELS, (i + 1) * FACE_PIXELS)).join(' ')},${usage(i)}`);
  }
  await writeFile(path, rows.join('\n') + '\n');
}

/** A network small enough that a CI core trains it in milliseconds per batch. */
export const tinySpec = (): ModelSpec =>
  makeSpec('tiny-test', 'test network', [
    { type: 'conv', out: 8, kernel: 3, stride: 2, padding: 'same', bias: false },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool', kernel: 2 },
    { type: 'conv', out: 4, kernel: 3, padding: 'same' },
    { type: 'relu' },
    { type: 'dropout', p: 0.1 },
    // flatten, not global pooling: the class is where the band is, which pooling would throw away
    { type: 'flatten' },
    { type: 'dense', out: NUM_CLASSES },
  ]);

/** `mien train` flags for a few quick steps of tinySpec (its JSON in `specFile`) on one thread, never stopping early. */
export const tinyTrainFlags = (specFile: string, augment = 'none'): string[] => [
  ...['--arch', specFile, '--batch', '16', '--lr', '0.003', '--threads', '1'],
  ...['--augment', augment, '--early-stop', '0'],
];
