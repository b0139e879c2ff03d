/**
 * The fault suite: property-based fuzzing (fast-check) of the three doors hostile input comes through — the CSV
 * reader, image decoding and the HTTP upload endpoint — and the memory budget of recognition. Each property says what
 * a bad input may do: be reported as the user's mistake (DataError, ImageError, a 4xx JSON answer), never crash,
 * hang or pass for something else.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import { FACE_PIXELS } from '../src/core/labels.js';
import { DataError } from '../src/data/problems.js';
import { loadFaces } from '../src/data/load.js';
import { decodeImage, ImageError } from '../src/recognize/image.js';
import { createServer, type MienServer } from '../src/server/index.js';
import { bandClassifierOnnx } from './helpers/expression-models.js';

const PHOTO = 'test/fixtures/dnn-face.jpg';
/** Fixed seeds: a failure is reproduced by running the suite again, and fast-check prints the shrunk case. */
const runs = (numRuns: number, seed: number) => ({ numRuns, seed });

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mien-faults-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

describe('fuzzing the CSV reader', () => {
  const goodPixels = Array.from({ length: FACE_PIXELS }, (_, i) => i % 256).join(' ');
  /** A row that is good, or broken in one of the ways real files are. */
  const row = fc.oneof(
    fc.constant(`3,${goodPixels},Training`),
    fc.constant(`0,${goodPixels},PublicTest`),
    fc.integer({ min: -3, max: 12 }).map((label) => `${label},${goodPixels},Training`),
    fc.integer({ min: 0, max: 2400 }).map((n) => `1,${Array.from({ length: n }, () => '7').join(' ')},Training`),
    fc.constantFrom('Training', 'PrivateTest', 'Testing', '', 'training').map((usage) => `4,${goodPixels},${usage}`),
    fc.string({ maxLength: 40 }),
    fc.constantFrom('"unterminated', '2,"1 2 3', ',,,', '5,256 0 0,Training', `6,${goodPixels.replace('7', 'x')},Training`),
  );
  const header = fc.constantFrom(
    'emotion,pixels,Usage',
    'emotion,pixels',
    'id,pixels',
    '\uFEFFemotion,pixels,Usage',
    'pixels',
    'a,b,c',
    '',
  );

  test('any mix of good and broken rows: the good ones load, every other one is a reported problem, or the file is a DataError', async () => {
    let file = 0;
    await fc.assert(
      fc.asyncProperty(header, fc.array(row, { maxLength: 12 }), fc.boolean(), async (head, rows, crlf) => {
        const path = join(dir, `fuzz-${file++}.csv`);
        await writeFile(path, [head, ...rows].join(crlf ? '\r\n' : '\n'));
        try {
          const { splits, problems } = await loadFaces(path, { cache: false });
          const loaded = Object.values(splits).reduce((n, s) => n + s.labels.length, 0);
          const dataRows = rows.filter((r) => r.trim() !== '').length;
          assert.ok(loaded + problems.length <= dataRows, `${loaded} loaded + ${problems.length} problems > ${dataRows} rows`);
          for (const split of Object.values(splits)) {
            assert.equal(split.images.length, split.labels.length * FACE_PIXELS);
            assert.ok(split.labels.every((l) => l >= -1 && l <= 6));
          }
        } catch (err) {
          assert.ok(err instanceof DataError, `not a DataError: ${(err as Error).stack}`);
          assert.ok(!(err as Error).message.includes('\n'), 'one line');
        }
      }),
      runs(60, 13),
    );
  });
});

describe('fuzzing image decoding', () => {
  let jpeg: Buffer;
  let png: Buffer;
  before(async () => {
    jpeg = await readFile(PHOTO);
    png = await sharp(jpeg).resize(64, 48).png().toBuffer();
  });
  /** A real image with bytes flipped, cut off, spliced or replaced by noise. */
  const damaged = (original: () => Buffer) =>
    fc.oneof(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 }).map((flips) => {
        const bytes = Buffer.from(original());
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        return bytes;
      }),
      fc.nat().map((cut) => original().subarray(0, cut % original().length)),
      fc.uint8Array({ maxLength: 300 }).map((noise) => Buffer.concat([original().subarray(0, 40), Buffer.from(noise)])),
      fc.uint8Array({ maxLength: 2000 }).map((noise) => Buffer.from(noise)),
    );

  for (const [name, original] of [
    ['JPEG', () => jpeg],
    ['PNG', () => png],
  ] as const) {
    test(`a damaged ${name} decodes to a whole RGB image or is an ImageError, never anything else`, async () => {
      await fc.assert(
        fc.asyncProperty(damaged(original), async (bytes) => {
          try {
            const image = await decodeImage(bytes, 1_000_000, 'fuzzed');
            assert.equal(image.data.length, image.width * image.height * 3);
          } catch (err) {
            assert.ok(err instanceof ImageError, `not an ImageError: ${(err as Error).stack}`);
            assert.match((err as Error).message, /^fuzzed: /);
          }
        }),
        runs(80, 7),
      );
    });
  }
});

describe('fuzzing the upload endpoint', () => {
  let server: MienServer;
  let photo: Buffer;
  before(async () => {
    const model = join(dir, 'band.onnx');
    await writeFile(model, bandClassifierOnnx());
    photo = await readFile(PHOTO);
    server = await createServer({ model, detector: 'none', bodyLimit: 100_000 });
  });
  after(async () => server.close());

  const part = (boundary: string, name: string, body: Buffer) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
      ),
      body,
      Buffer.from('\r\n'),
    ]);
  /** multipart bodies as clients get them wrong: boundaries, cut-offs, several files, fields, junk. */
  const upload = fc.record({
    typeBoundary: fc.constantFrom('x', 'y', '', 'x; charset=utf-8', '"x"'),
    files: fc.integer({ min: 0, max: 3 }),
    field: fc.boolean(),
    cut: fc.option(fc.nat(), { nil: undefined }),
    closed: fc.boolean(),
    junk: fc.uint8Array({ maxLength: 64 }),
  });

  test('whatever multipart body arrives, the answer is 200 with faces or a 4xx JSON {error, message}, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(upload, async ({ typeBoundary, files, field, cut, closed, junk }) => {
        const parts = Array.from({ length: files }, (_, i) => part('x', `image${i}`, photo));
        if (field) parts.push(Buffer.from('--x\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'));
        let body = Buffer.concat([...parts, Buffer.from(junk), closed ? Buffer.from('--x--\r\n') : Buffer.alloc(0)]);
        if (cut !== undefined) body = body.subarray(0, cut % (body.length + 1));
        const type = typeBoundary === '' ? 'multipart/form-data' : `multipart/form-data; boundary=${typeBoundary}`;
        const r = await server.fastify.inject({ method: 'POST', url: '/v1/recognize', headers: { 'content-type': type }, payload: body });
        assert.ok([200, 400, 413, 415].includes(r.statusCode), `${r.statusCode}: ${r.body}`);
        const answer = r.json();
        if (r.statusCode === 200) assert.ok(Array.isArray(answer.faces));
        else assert.deepEqual(Object.keys(answer), ['error', 'message']);
      }),
      runs(80, 3),
    );
  });
});

describe('the memory budget of recognition', () => {
  let server: MienServer;
  let twelveMegapixels: Buffer;
  before(async () => {
    // a 4000 × 3000 photo with the face fixture in it: the largest a phone usually takes
    twelveMegapixels = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#786e64' } })
      .composite([{ input: PHOTO, left: 1500, top: 1000 }])
      .jpeg()
      .toBuffer();
    server = await createServer({ maxMemory: 8 * 1024 ** 3 });
  });
  after(async () => server.close());

  const recognize = (query: string) =>
    server.fastify.inject({
      method: 'POST',
      url: `/v1/recognize${query}`,
      headers: { 'content-type': 'image/jpeg' },
      payload: twelveMegapixels,
    });

  test('a search too costly for its photo is refused at once with 413, naming a face size that fits', async () => {
    const started = performance.now();
    const r = await recognize('?min-face=16');
    assert.equal(r.statusCode, 413, r.body);
    assert.equal(r.json().error, 'detection_too_large');
    assert.match(
      r.json().message,
      /^finding faces down to 16 px in a 4000×3000 photo would cost the detector \d+ M pixels of work, over its limit of 150 M: ask for faces of at least \d+ px/,
    );
    assert.ok(performance.now() - started < 5000, 'refused before the detector ran');
  });

  test('a 12-megapixel photo at the defaults is recognised within 1 GB of the idle server', async () => {
    const idle = process.memoryUsage().rss;
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const r = await recognize('');
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().faces.length, 1);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peak - idle < 1024 ** 3, `peak ${Math.round((peak - idle) / 1e6)} MB above idle`);
  });
});
