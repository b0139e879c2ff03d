import assert from 'node:assert/strict';
import { readdir, readFile, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DataError, loadFaces, type LoadedFaces } from '../src/data/index.js';
import { patternFace, pixelsText, useTempDir, writeFacePng } from './helpers/data-fixtures.js';

const tempDir = useTempDir('cache');

async function makeFolder(name: string): Promise<string> {
  const root = join(tempDir(), name);
  await writeFacePng(join(root, 'train', 'happy', 'a.png'), patternFace(1));
  await writeFacePng(join(root, 'train', 'sad', 'b.png'), patternFace(2));
  await writeFacePng(join(root, 'val', 'angry', 'c.png'), patternFace(3));
  await writeFile(join(root, 'train', 'sad', 'broken.png'), '');
  return root;
}

/** The one cache file a source has (each test uses its own MIEN_CACHE_DIR subfolder). */
async function cachePath(): Promise<string> {
  const dir = process.env['MIEN_CACHE_DIR']!;
  const files = (await readdir(dir)).filter((f) => f.endsWith('.faces'));
  assert.equal(files.length, 1, `one cache file in ${dir}: ${files}`);
  return join(dir, files[0]!);
}

const sameFaces = (a: LoadedFaces, b: LoadedFaces) => {
  assert.equal(a.format, b.format);
  assert.deepEqual(Object.keys(a.splits), Object.keys(b.splits));
  for (const name of Object.keys(a.splits)) {
    const [x, y] = [a.splits[name]!, b.splits[name]!];
    assert.ok(Buffer.from(x.images).equals(Buffer.from(y.images)), `${name}: identical image bytes`);
    assert.deepEqual(Array.from(x.labels), Array.from(y.labels));
    assert.deepEqual(x.ids, y.ids);
  }
  assert.deepEqual(a.problems, b.problems);
};

describe('binary cache', () => {
  let n = 0;
  /** Each test gets an empty cache folder of its own. */
  const freshCache = () => (process.env['MIEN_CACHE_DIR'] = join(tempDir(), `cache-${++n}`));

  test('a second load comes from the cache with identical faces, ids and problems', async () => {
    freshCache();
    const root = await makeFolder('hit');
    const first = await loadFaces(root);
    assert.equal(first.fromCache, false);
    assert.equal(first.problems.length, 1);
    const second = await loadFaces(root);
    assert.equal(second.fromCache, true);
    sameFaces(first, second);
    await assert.rejects(loadFaces(root, { strict: true }), {
      name: 'DataError',
      message: `${join(root, 'train', 'sad', 'broken.png')}: empty file (0 bytes)`,
    });
  });

  test('touching one file invalidates the cache', async () => {
    freshCache();
    const root = await makeFolder('touch');
    await loadFaces(root);
    const later = new Date(Date.now() + 60_000);
    await utimes(join(root, 'val', 'angry', 'c.png'), later, later);
    assert.equal((await loadFaces(root)).fromCache, false);
    assert.equal((await loadFaces(root)).fromCache, true);
  });

  test('a new file invalidates the cache and appears', async () => {
    freshCache();
    const root = await makeFolder('grow');
    await loadFaces(root);
    await writeFacePng(join(root, 'val', 'angry', 'd.png'), patternFace(4));
    const loaded = await loadFaces(root);
    assert.equal(loaded.fromCache, false);
    assert.equal(loaded.splits['val']!.labels.length, 2);
  });

  test('truncated, bit-flipped or foreign cache files are rebuilt, never trusted', async () => {
    freshCache();
    const root = await makeFolder('corrupt');
    const reference = await loadFaces(root);
    const file = await cachePath();
    const good = await readFile(file);
    const flipped = (at: number) => {
      const copy = Buffer.from(good);
      copy[at]! ^= 0xff;
      return writeFile(file, copy);
    };
    const damage: [string, () => Promise<void>][] = [
      ['truncated', () => truncate(file, good.length - 100)],
      ['cut to 5 bytes', () => truncate(file, 5)],
      ['a flipped body byte', () => flipped(good.length - 3000)],
      ['a flipped header byte', () => flipped(40)],
      ['not a cache file', () => writeFile(file, 'hello')],
    ];
    for (const [what, corrupt] of damage) {
      await corrupt();
      const reloaded = await loadFaces(root);
      assert.equal(reloaded.fromCache, false, what);
      sameFaces(reference, reloaded);
      assert.ok((await readFile(file)).equals(good), `${what}: rewritten`);
    }
  });

  test('cache: false neither reads nor writes', async () => {
    const dir = freshCache();
    const root = await makeFolder('off');
    assert.equal((await loadFaces(root, { cache: false })).fromCache, false);
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
  });

  test('CSV sources are cached by path, size and mtime', async () => {
    freshCache();
    const path = join(tempDir(), 'cached.csv');
    await writeFile(path, `emotion,pixels,Usage\n3,${pixelsText(patternFace(1))},Training\n9,${pixelsText(patternFace(2))},Training\n`);
    const first = await loadFaces(path);
    const second = await loadFaces(path);
    assert.deepEqual([first.fromCache, second.fromCache], [false, true]);
    sameFaces(first, second);
    await writeFile(path, `emotion,pixels,Usage\n4,${pixelsText(patternFace(1))},Training\n`);
    const third = await loadFaces(path);
    assert.equal(third.fromCache, false);
    assert.deepEqual(Array.from(third.splits['train']!.labels), [4]);
  });

  test('a DataError source writes no cache', async () => {
    const dir = freshCache();
    const path = join(tempDir(), 'header-only.csv');
    await writeFile(path, 'emotion,pixels\n');
    await assert.rejects(loadFaces(path), DataError);
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
  });
});
