import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FACE_PIXELS } from '../src/core/labels.js';
import { DataError, faceAt, loadFaces, summarizeProblems } from '../src/data/index.js';
import { patternFace, pixelsText, useTempDir } from './helpers/data-fixtures.js';

const tempDir = useTempDir('csv');

async function writeCsv(name: string, lines: string[], eol = '\n'): Promise<string> {
  const path = join(tempDir(), name);
  await writeFile(path, lines.join(eol) + eol);
  return path;
}

const face = (seed: number) => pixelsText(patternFace(seed));

describe('FER2013 CSV', () => {
  /** Line numbers: the header is line 1, so the bad rows sit on lines 5 to 9. */
  const fer2013Rows = [
    'emotion,pixels,Usage',
    `3,${face(1)},Training`,
    `0,${face(2)},PublicTest`,
    `6,${face(3)},PrivateTest`,
    `1,${face(4).split(' ').slice(1).join(' ')},Training`,
    `2,${face(5).replace(/^\d+ \d+/, '7 abc')},Training`,
    `2,${face(6).replace(/ \d+$/, ' 300')},Training`,
    `7,${face(7)},Training`,
    `4,${face(8)},Holdout`,
    `5,${face(9)},Training`,
  ];

  test('reads splits by Usage and skips every kind of bad row, with its line number', async () => {
    const path = await writeCsv('fer2013.csv', fer2013Rows);
    const loaded = await loadFaces(path, { cache: false });
    assert.equal(loaded.format, 'fer2013-csv');
    assert.equal(loaded.fromCache, false);
    assert.deepEqual(Object.keys(loaded.splits).sort(), ['test', 'train', 'val']);
    const { train, val, test: testSplit } = loaded.splits;
    assert.deepEqual(Array.from(train!.labels), [3, 5]);
    assert.deepEqual(train!.ids, ['0', '8'], 'ids are 0-based data row numbers, counting skipped rows');
    assert.deepEqual(faceAt(train!, 1), patternFace(9));
    assert.deepEqual(Array.from(val!.labels), [0]);
    assert.deepEqual(faceAt(val!, 0), patternFace(2));
    assert.deepEqual(Array.from(testSplit!.labels), [6]);
    assert.deepEqual(loaded.problems, [
      { where: `${path}:5`, message: `2303 pixels, expected ${FACE_PIXELS}` },
      { where: `${path}:6`, message: 'pixel 2 is "abc", not a number' },
      { where: `${path}:7`, message: 'pixel 2304 is 300, outside 0–255' },
      { where: `${path}:8`, message: 'label "7" outside 0–6' },
      { where: `${path}:9`, message: 'unknown Usage "Holdout" (expected Training, PublicTest or PrivateTest)' },
    ]);
    assert.equal(summarizeProblems(loaded.problems), `skipped 5 bad rows (first: ${path}:5: 2303 pixels, expected 2304)`);
  });

  test('strict mode throws a DataError at the first bad row, with the same message', async () => {
    const path = await writeCsv('strict.csv', fer2013Rows);
    await assert.rejects(loadFaces(path, { cache: false, strict: true }), (err: unknown) => {
      assert.ok(err instanceof DataError);
      assert.equal(err.message, `${path}:5: 2303 pixels, expected 2304`);
      return true;
    });
  });

  test('negative and fractional pixels, and too few fields, are bad rows too', async () => {
    const path = await writeCsv('odd.csv', [
      'emotion,pixels,Usage',
      `1,${face(1).replace(/^\d+/, '-5')},Training`,
      `1,${face(1).replace(/^\d+/, '2.5')},Training`,
      `1,${face(1)}`,
    ]);
    const { problems } = await loadFaces(path, { cache: false });
    assert.deepEqual(
      problems.map((p) => p.message),
      ['pixel 1 is -5, outside 0–255', 'pixel 1 is 2.5, not an integer 0–255', '2 fields, expected 3'],
    );
  });

  test('any column order, quoted fields, CRLF line ends, a byte-order mark and blank lines', async () => {
    const path = await writeCsv(
      'quoted.csv',
      ['\uFEFF"Usage","pixels","emotion"', `"Training","${face(1)}","4"`, '', `PublicTest, "${face(2)}",2`],
      '\r\n',
    );
    const loaded = await loadFaces(path, { cache: false });
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.format, 'fer2013-csv');
    assert.deepEqual(Array.from(loaded.splits['train']!.labels), [4]);
    assert.deepEqual(faceAt(loaded.splits['train']!, 0), patternFace(1));
    assert.deepEqual(faceAt(loaded.splits['val']!, 0), patternFace(2));
  });

  test('reports progress in bytes, ending at the file size', async () => {
    const path = await writeCsv('progress.csv', fer2013Rows.slice(0, 3));
    const calls: [number, number][] = [];
    await loadFaces(path, { cache: false, onProgress: (done, total) => calls.push([done, total]) });
    const size = (fer2013Rows.slice(0, 3).join('\n') + '\n').length;
    assert.deepEqual(calls.at(-1), [size, size]);
  });
});

describe('Kaggle challenge CSVs', () => {
  test('train.csv (emotion,pixels) gives one split "all"', async () => {
    const path = await writeCsv('train.csv', ['emotion,pixels', `0,${face(1)}`, `9,${face(2)}`, `5,${face(3)}`]);
    const loaded = await loadFaces(path, { cache: false });
    assert.equal(loaded.format, 'kaggle-train-csv');
    assert.deepEqual(Object.keys(loaded.splits), ['all']);
    assert.deepEqual(Array.from(loaded.splits['all']!.labels), [0, 5]);
    assert.deepEqual(loaded.splits['all']!.ids, ['0', '2']);
    assert.deepEqual(loaded.problems, [{ where: `${path}:3`, message: 'label "9" outside 0–6' }]);
  });

  test('test.csv keeps its id column and leaves faces unlabelled (-1)', async () => {
    const path = await writeCsv('test.csv', ['id,pixels', `1001,${face(1)}`, `1002,${face(2)}`]);
    const loaded = await loadFaces(path, { cache: false });
    assert.equal(loaded.format, 'kaggle-test-csv');
    const all = loaded.splits['all']!;
    assert.deepEqual(all.ids, ['1001', '1002']);
    assert.deepEqual(Array.from(all.labels), [-1, -1]);
    assert.deepEqual(faceAt(all, 1), patternFace(2));
  });

  test('test.csv without ids numbers its rows', async () => {
    const path = await writeCsv('pixels-only.csv', ['pixels', face(1), face(2)]);
    const loaded = await loadFaces(path, { cache: false });
    assert.deepEqual(loaded.splits['all']!.ids, ['0', '1']);
  });
});

describe('unusable CSV sources are DataErrors, strict or not', () => {
  const rejectsWith = (path: string, message: RegExp) =>
    assert.rejects(loadFaces(path, { cache: false }), (err: unknown) => err instanceof DataError && message.test(err.message));

  test('missing path', () => rejectsWith(join(tempDir(), 'nope.csv'), /nope\.csv: no such file or folder$/));

  test('empty file', async () => rejectsWith(await writeCsv('empty.csv', []), /empty\.csv is empty$/));

  test('header without rows', async () => rejectsWith(await writeCsv('header.csv', ['emotion,pixels,Usage']), /has a header but no rows$/));

  test('no pixels column', async () =>
    rejectsWith(await writeCsv('nopixels.csv', ['emotion,image', `0,${face(1)}`]), /is not a FER2013 CSV: no "pixels" column/));
});
