import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  augmentFace,
  DataError,
  DEFAULT_AUGMENT,
  faceToFloat,
  formatAugment,
  NO_AUGMENT,
  parseAugment,
  Rng,
  type AugmentOptions,
} from '../src/data/index.js';
import { FACE_PIXELS, FACE_SIZE } from '../src/labels.js';

/** A face with structure in every direction (so flips, turns and shifts all show) and no flat regions. */
const face = Uint8Array.from({ length: FACE_PIXELS }, (_, i) => {
  const x = i % FACE_SIZE;
  const y = Math.floor(i / FACE_SIZE);
  return Math.round(40 + 3 * x + 1.5 * y + (x > 30 && y < 12 ? 50 : 0)) % 256;
});

const plain = (): Float32Array => {
  const out = new Float32Array(FACE_PIXELS);
  faceToFloat(face, out, 0);
  return out;
};

/** Augments `face` into slot 1 of a 3-face batch, checking that the neighbouring slots are left alone. */
function augmented(o: AugmentOptions, rng: Rng): Float32Array {
  const batch = new Float32Array(3 * FACE_PIXELS).fill(-1);
  augmentFace(face, batch, FACE_PIXELS, o, rng);
  assert.ok(batch.subarray(0, FACE_PIXELS).every((v) => v === -1) && batch.subarray(2 * FACE_PIXELS).every((v) => v === -1));
  return batch.slice(FACE_PIXELS, 2 * FACE_PIXELS);
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('augmentFace', () => {
  test('faceToFloat scales to [0, 1]; NO_AUGMENT equals it exactly', () => {
    const out = plain();
    assert.equal(out[0], Math.fround(face[0]! / 255));
    assert.equal(Math.max(...out), Math.fround(Math.max(...face) / 255));
    assert.deepEqual(augmented(NO_AUGMENT, new Rng(1)), out);
  });

  test('output stays in [0, 1], and a seed reproduces it', () => {
    const strong: AugmentOptions = { shift: 8, flip: true, rotate: 30, scale: 0.3, brightness: 0.8, contrast: 0.8, erase: 1 };
    for (let seed = 0; seed < 20; seed++) {
      const a = augmented(strong, new Rng(seed));
      assert.ok(a.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)), `seed ${seed} in range`);
      assert.deepEqual(augmented(strong, new Rng(seed)), a);
    }
    assert.notDeepEqual(augmented(DEFAULT_AUGMENT, new Rng(1)), augmented(DEFAULT_AUGMENT, new Rng(2)));
  });

  test('each switch alone changes the face', () => {
    const switches: Partial<AugmentOptions>[] = [{ shift: 4 }, { flip: true }, { rotate: 15 }, { scale: 0.2 }, { brightness: 0.3 }, { contrast: 0.3 }, { erase: 1 }];
    const reference = plain();
    for (const s of switches) {
      const rng = new Rng(9);
      // Some draws are the identity (no flip, zero shift), so look at several.
      const changed = Array.from({ length: 8 }, () => maxDiff(augmented({ ...NO_AUGMENT, ...s }, rng), reference));
      assert.ok(Math.max(...changed) > 0.02, `${formatAugment({ ...NO_AUGMENT, ...s })} changes the face: ${changed}`);
    }
  });

  test('a flip mirrors the face exactly', () => {
    const rng = new Rng(4);
    const reference = plain();
    for (let k = 0; k < 6; k++) {
      const a = augmented({ ...NO_AUGMENT, flip: true }, rng);
      if (maxDiff(a, reference) === 0) continue;
      for (let y = 0; y < FACE_SIZE; y++) {
        for (let x = 0; x < FACE_SIZE; x++) assert.ok(Math.abs(a[y * FACE_SIZE + x]! - reference[y * FACE_SIZE + FACE_SIZE - 1 - x]!) < 1e-6);
      }
      return;
    }
    assert.fail('no flip in 6 draws at p = 0.5');
  });

  test('a shift moves pixels by whole steps, without blurring, and mirrors the face into the border', () => {
    const rng = new Rng(5);
    const reference = plain();
    const mirror = (i: number) => (i < 0 ? -i : i > FACE_SIZE - 1 ? 2 * (FACE_SIZE - 1) - i : i);
    const shifts = [-3, -2, -1, 0, 1, 2, 3].flatMap((dy) => [-3, -2, -1, 0, 1, 2, 3].map((dx) => ({ dx, dy })));
    for (let k = 0; k < 5; k++) {
      const a = augmented({ ...NO_AUGMENT, shift: 3 }, rng);
      const explained = shifts.filter(({ dx, dy }) =>
        a.every((v, i) => Math.abs(v - reference[mirror(Math.floor(i / FACE_SIZE) - dy) * FACE_SIZE + mirror((i % FACE_SIZE) - dx)]!) < 1e-6),
      );
      assert.equal(explained.length, 1, 'exactly one integer shift (with reflected borders) explains the whole output');
    }
  });
});

describe('augmentation settings', () => {
  test('"none", "default" and lists parse; formatAugment round-trips', () => {
    assert.deepEqual(parseAugment('none'), NO_AUGMENT);
    assert.deepEqual(parseAugment('default'), DEFAULT_AUGMENT);
    assert.deepEqual(DEFAULT_AUGMENT, { shift: 4, flip: true, rotate: 10, scale: 0.1, brightness: 0.2, contrast: 0.2, erase: 0.25 });
    assert.deepEqual(parseAugment('shift=4,flip,rotate=10,scale=0.1,brightness=0.2,contrast=0.2,erase=0.5'), { ...DEFAULT_AUGMENT, erase: 0.5 });
    assert.deepEqual(parseAugment(' Flip , shift=2 '), { ...NO_AUGMENT, flip: true, shift: 2 });
    assert.deepEqual(parseAugment('default,erase=0,flip=false'), { ...DEFAULT_AUGMENT, erase: 0, flip: false });
    assert.equal(formatAugment(NO_AUGMENT), 'none');
    assert.equal(formatAugment(DEFAULT_AUGMENT), 'shift=4,flip,rotate=10,scale=0.1,brightness=0.2,contrast=0.2,erase=0.25');
    for (const o of [NO_AUGMENT, DEFAULT_AUGMENT, { ...NO_AUGMENT, contrast: 0.05 }]) assert.deepEqual(parseAugment(formatAugment(o)), o);
  });

  test('unknown keys and bad values are one-line DataErrors', () => {
    const cases: [string, RegExp][] = [
      ['blur=2', /unknown setting "blur" \(known: shift, flip, rotate/],
      ['shift=2.5', /shift must be an integer from 0 to 24, got "2.5"/],
      ['rotate=-5', /rotate must be from 0 to 180/],
      ['scale=1', /scale must be from 0 to below 1/],
      ['erase', /erase must be from 0 to 1, got ""/],
      ['flip=maybe', /flip takes no value, or true\/false/],
      ['', /empty/],
      ['toString', /unknown setting "tostring"/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseAugment(text), (err: unknown) => err instanceof DataError && message.test(err.message) && !err.message.includes('\n'), text);
    }
  });
});
