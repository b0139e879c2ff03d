import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { FACE_PIXELS } from '../src/core/labels.js';
import { faceSharpness, medianSharpness } from '../src/data/index.js';
import { runCli } from './helpers/cli.js';
import { syntheticFaces, writeFer2013Csv } from './helpers/synthetic.js';

const blur = async (face: Uint8Array, sigma: number): Promise<Uint8Array> =>
  new Uint8Array(
    await sharp(Buffer.from(face), { raw: { width: 48, height: 48, channels: 1 } })
      .blur(sigma)
      .extractChannel(0)
      .raw()
      .toBuffer(),
  );

test('sharpness: a flat face is 0, a checkerboard is high, blurring lowers it', async () => {
  assert.equal(faceSharpness(new Uint8Array(FACE_PIXELS).fill(128)), 0);
  const checker = Uint8Array.from({ length: FACE_PIXELS }, (_, i) => (((i % 48) + Math.floor(i / 48)) % 2 ? 255 : 0));
  assert.equal(faceSharpness(checker), 4 * 255);
  const face = syntheticFaces(1).images;
  const blurred = await blur(face, 3);
  assert.ok(faceSharpness(blurred) < faceSharpness(face) / 5, `${faceSharpness(blurred)} vs ${faceSharpness(face)}`);
  assert.equal(medianSharpness({ images: new Uint8Array(0), labels: new Int8Array(0), ids: [] }), NaN);
});

test('mien data stats warns when one split is far blurrier than another', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mien-quality-'));
  try {
    const faces = syntheticFaces(28, 4);
    // the training rows blurred, the PublicTest rows sharp: the defect the warning exists for
    for (let i = 0; i < 28; i += 2)
      faces.images.set(await blur(faces.images.subarray(i * FACE_PIXELS, (i + 1) * FACE_PIXELS), 3), i * FACE_PIXELS);
    const csv = join(dir, 'fer.csv');
    await writeFer2013Csv(csv, faces, (i) => (i % 2 ? 'PublicTest' : 'Training'));
    const r = await runCli(['data', 'stats', csv, '--out', join(dir, 'stats'), '--no-cache']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sharpness \(median \|Laplacian\|.*\): train \d+\.\d, val \d+\.\d/);
    assert.match(r.stderr, /warning: train faces are \d+× blurrier than val faces/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
