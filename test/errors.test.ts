import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { reportError, UsageError } from '../src/cli/errors.js';
import { MienError } from '../src/core/errors.js';
import { PictureFormatError } from '../src/core/picture.js';
import { DataError } from '../src/data/index.js';
import { HaarDetectorError } from '../src/detect/haar.js';
import { ImageError, PixelLimitError } from '../src/recognize/image.js';
import { errorMessage, reviveError } from '../src/server/recognition-pool.js';
import { QueueFullError } from '../src/server/queue.js';

describe('MienError', () => {
  test('defaults: exit code 1, HTTP 400, no code, the class name', () => {
    const err = new DataError('train.csv: no pixels column');
    assert.ok(err instanceof MienError && err instanceof Error);
    assert.deepEqual([err.name, err.exitCode, err.status, err.code], ['DataError', 1, 400, undefined]);
    assert.equal(new PictureFormatError('x').name, 'PictureFormatError');
  });

  test('subclasses say what they mean: usage mistakes exit 2, a too large image is 413, a full queue 503', () => {
    assert.equal(new UsageError('bad flag').exitCode, 2);
    const tooLarge = new PixelLimitError('too large');
    assert.ok(tooLarge instanceof ImageError);
    assert.deepEqual([tooLarge.status, tooLarge.code], [413, 'too_many_pixels']);
    assert.deepEqual([new ImageError('bad').status, new ImageError('bad').code], [400, 'bad_image']);
    assert.deepEqual([new QueueFullError(3).status, new QueueFullError(3).code, new QueueFullError(3).retryAfterSeconds], [503, 'busy', 3]);
    assert.equal(new HaarDetectorError('no cascade').status, 500);
  });

  test('options set the fields and the cause', () => {
    const cause = new Error('inner');
    const err = new MienError('outer', { status: 422, code: 'unprocessable', exitCode: 3, cause });
    assert.deepEqual([err.status, err.code, err.exitCode, err.cause], [422, 'unprocessable', 3, cause]);
  });

  test('crossing postMessage (a structured clone) keeps name, message, status, code and exit code', () => {
    const back = reviveError(structuredClone(errorMessage(new PixelLimitError('photo.png: 60 megapixels is over the limit'))));
    assert.ok(back instanceof MienError);
    assert.deepEqual(
      [back.name, back.message, back.status, back.code, back.exitCode],
      ['PixelLimitError', 'photo.png: 60 megapixels is over the limit', 413, 'too_many_pixels', 1],
    );
    const bug = reviveError(structuredClone(errorMessage(new TypeError('x is undefined'))));
    assert.ok(!(bug instanceof MienError));
    assert.deepEqual([bug.name, bug.message], ['TypeError', 'x is undefined']);
  });
});

describe('reportError', () => {
  const quietly = (err: unknown): number => {
    const write = process.stderr.write;
    process.stderr.write = () => true;
    try {
      return reportError(err);
    } finally {
      process.stderr.write = write;
    }
  };

  test('a MienError exits with its code, a system error with 1, anything else is an internal error (70)', () => {
    assert.equal(quietly(new UsageError('no such option')), 2);
    assert.equal(quietly(new DataError('empty csv')), 1);
    assert.equal(quietly(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })), 1);
    assert.equal(quietly(new TypeError('bug')), 70);
  });
});
