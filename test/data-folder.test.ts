import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';
import { DataError, decodeFaceImage, faceAt, loadFaces, parseClassName, resizeArea, summarizeProblems } from '../src/data/index.js';
import { patternFace, useTempDir, writeFacePng } from './helpers/data-fixtures.js';

const tempDir = useTempDir('folder');

const mean = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
const rows = (face: Uint8Array, from: number, to: number) => face.subarray(from * FACE_SIZE, to * FACE_SIZE);

describe('class names', () => {
  test('synonyms in any case, FER2013 ids and sorting prefixes map to label ids', () => {
    const cases: [string, number | undefined][] = [
      ['Angry', 0],
      ['anger', 0],
      ['DISGUSTED', 1],
      ['fearful', 2],
      ['scared', 2],
      ['happiness', 3],
      ['joy', 3],
      ['Sadness', 4],
      ['surprised', 5],
      ['suprise', 5],
      ['neutral', 6],
      ['calm', 6],
      ['0', 0],
      ['6', 6],
      ['3_happy', 3],
      ['01-Happy', 3],
      ['7', undefined],
      ['contempt', undefined],
      ['happy sad', undefined],
      ['', undefined],
    ];
    for (const [name, id] of cases) assert.equal(parseClassName(name), id, name);
  });
});

describe('area resize', () => {
  test('a 48×48 input comes back unchanged', () => {
    const face = patternFace(3);
    assert.deepEqual(resizeArea(face, FACE_SIZE, FACE_SIZE, FACE_SIZE, FACE_SIZE), face);
  });

  test('shrinking by 2 averages each 2×2 block', () => {
    // Row-major 4×2: blocks {0,2,8,10} → 5 and {4,6,12,14} → 9.
    const src = Uint8Array.from([0, 2, 4, 6, 8, 10, 12, 14]);
    assert.deepEqual(resizeArea(src, 4, 2, 2, 1), Uint8Array.from([5, 9]));
  });

  test('a fractional factor weights each source pixel by the share it covers', () => {
    // 3 → 2: output 0 covers pixel 0 and half of pixel 1: (0·1 + 90·0.5) / 1.5 = 30; output 1: (90·0.5 + 180) / 1.5 = 150.
    assert.deepEqual(resizeArea(Uint8Array.from([0, 90, 180]), 3, 1, 2, 1), Uint8Array.from([30, 150]));
  });

  test('a checkerboard shrinks to flat gray instead of aliasing', () => {
    const board = new Uint8Array(96 * 96).map((_, i) => (((i % 96) + Math.floor(i / 96)) % 2 ? 255 : 0));
    const out = resizeArea(board, 96, 96, FACE_SIZE, FACE_SIZE);
    assert.ok(
      out.every((v) => v === 128),
      'every 2×2 block averages to 127.5 → 128',
    );
  });
});

describe('image decoding', () => {
  test('a non-square colour PNG is stretched to 48×48 gray, transparency flattened onto black', async () => {
    // 96×48: left quarter red, the rest blue, bottom half fully transparent.
    const rgba = new Uint8Array(96 * 48 * 4);
    for (let y = 0; y < 48; y++) {
      for (let x = 0; x < 96; x++) rgba.set(x < 24 ? [255, 0, 0, y < 24 ? 255 : 0] : [0, 0, 255, y < 24 ? 255 : 0], (y * 96 + x) * 4);
    }
    const path = join(tempDir(), 'colour.png');
    await sharp(rgba, { raw: { width: 96, height: 48, channels: 4 } })
      .png()
      .toFile(path);
    const face = await decodeFaceImage(path);
    assert.equal(face.length, FACE_PIXELS);
    const at = (x: number, y: number) => face[y * FACE_SIZE + x]!;
    // Stretched, so the red quarter is 12 columns wide (a centre crop would have none).
    assert.equal(at(0, 0), at(11, 23));
    assert.equal(at(12, 0), at(47, 23));
    assert.notEqual(at(0, 0), at(12, 0));
    assert.ok(at(0, 0) > 20 && at(12, 0) > 5, 'red and blue are not black');
    assert.ok(
      rows(face, 24, 48).every((v) => v === 0),
      'the transparent half is black',
    );
  });

  test('an EXIF-rotated JPEG is turned upright', async () => {
    // Stored 64×32, dark left half and bright right half; orientation 6 means "rotate 90° clockwise to view",
    // which puts the dark half on top.
    const stored = new Uint8Array(64 * 32).map((_, i) => (i % 64 < 32 ? 30 : 220));
    const path = join(tempDir(), 'rotated.jpg');
    await sharp(stored, { raw: { width: 64, height: 32, channels: 1 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toFile(path);
    assert.equal((await sharp(path).metadata()).orientation, 6);
    const face = await decodeFaceImage(path);
    assert.ok(mean(rows(face, 0, 22)) < 50, `top is dark: ${mean(rows(face, 0, 22))}`);
    assert.ok(mean(rows(face, 26, 48)) > 200, `bottom is bright: ${mean(rows(face, 26, 48))}`);
  });
});

describe('image folders', () => {
  test('class folders under any synonym give split "all"; bad files and unknown folders are reported', async () => {
    const root = join(tempDir(), 'flat');
    await writeFacePng(join(root, 'Angry', 'a1.png'), patternFace(1));
    await writeFacePng(join(root, 'Angry', 'a2.png'), patternFace(2));
    await writeFacePng(join(root, 'happiness', 'h1.png'), patternFace(3));
    await writeFacePng(join(root, '6', 'n1.png'), patternFace(4));
    await writeFacePng(join(root, 'contempt', 'c1.png'), patternFace(5));
    await writeFile(join(root, 'happiness', 'empty.jpg'), '');
    await writeFile(join(root, 'happiness', 'corrupt.jpg'), Buffer.from('\xff\xd8\xff\xe0 this is not really a jpeg', 'latin1'));
    await writeFile(join(root, 'Angry', 'notes.txt'), 'a text file');
    await writeFile(join(root, 'Angry', '.DS_Store'), 'finder metadata');

    const loaded = await loadFaces(root, { cache: false });
    assert.equal(loaded.format, 'folder');
    assert.deepEqual(Object.keys(loaded.splits), ['all']);
    const all = loaded.splits['all']!;
    assert.deepEqual(Array.from(all.labels), [0, 0, 3, 6]);
    assert.deepEqual(all.ids, [
      join(root, 'Angry', 'a1.png'),
      join(root, 'Angry', 'a2.png'),
      join(root, 'happiness', 'h1.png'),
      join(root, '6', 'n1.png'),
    ]);
    [1, 2, 3, 4].forEach((seed, i) => assert.deepEqual(faceAt(all, i), patternFace(seed), `face ${i} decoded exactly`));
    const problems = new Map(loaded.problems.map((p) => [p.where, p.message]));
    assert.equal(loaded.problems.length, 4);
    assert.match(problems.get(join(root, 'contempt'))!, /^unknown class folder "contempt" \(expected angry, disgust, .*\), skipped$/);
    assert.equal(problems.get(join(root, 'happiness', 'empty.jpg')), 'empty file (0 bytes)');
    // sharp's wording varies (libvips shares one error buffer between threads): only the prefix is ours
    assert.match(problems.get(join(root, 'happiness', 'corrupt.jpg'))!, /^cannot decode: ./);
    assert.equal(problems.get(join(root, 'Angry', 'notes.txt')), 'not an image (or a format sharp cannot read)');
    assert.match(summarizeProblems(loaded.problems)!, /^skipped 4 bad files \(first: /);
  });

  test('strict mode throws at the first problem', async () => {
    const root = join(tempDir(), 'strict');
    await writeFacePng(join(root, 'sad', 'ok.png'), patternFace(1));
    await writeFile(join(root, 'sad', 'empty.png'), '');
    await assert.rejects(loadFaces(root, { cache: false, strict: true }), {
      name: 'DataError',
      message: `${join(root, 'sad', 'empty.png')}: empty file (0 bytes)`,
    });
  });

  test('split folders give their splits, each with class folders', async () => {
    const root = join(tempDir(), 'splits');
    await writeFacePng(join(root, 'Training', 'fear', 'f1.png'), patternFace(1));
    await writeFacePng(join(root, 'Training', 'surprise', 's1.png'), patternFace(2));
    await writeFacePng(join(root, 'validation', 'fear', 'f2.png'), patternFace(3));
    await writeFacePng(join(root, 'test', 'disgust', 'd1.png'), patternFace(4));
    await writeFacePng(join(root, 'extras', 'fear', 'x.png'), patternFace(5));
    const loaded = await loadFaces(root, { cache: false });
    assert.deepEqual(Object.keys(loaded.splits).sort(), ['test', 'train', 'val']);
    assert.deepEqual(Array.from(loaded.splits['train']!.labels), [2, 5]);
    assert.deepEqual(Array.from(loaded.splits['val']!.labels), [2]);
    assert.deepEqual(faceAt(loaded.splits['test']!, 0), patternFace(4));
    assert.deepEqual(loaded.problems, [
      { where: join(root, 'extras'), message: 'unknown folder "extras" (expected split folders train, val, test), skipped' },
    ]);
  });

  test('a folder without class folders, or a missing path, is a DataError', async () => {
    const root = join(tempDir(), 'no-classes');
    await mkdir(join(root, 'pictures'), { recursive: true });
    await assert.rejects(
      loadFaces(root, { cache: false }),
      (err: unknown) => err instanceof DataError && /no-classes has no class folders/.test(err.message),
    );
    await assert.rejects(loadFaces(join(tempDir(), 'missing'), { cache: false }), DataError);
  });
});
