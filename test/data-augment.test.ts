import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addNoise,
  augmentFace,
  BLUR_PROBABILITY,
  CAMERA_AUGMENT,
  DEFAULT_AUGMENT,
  faceToFloat,
  formatAugment,
  gaussianBlur,
  jpegQuantTable,
  jpegRoundTrip,
  NO_AUGMENT,
  parseAugment,
  toneCurve,
  type AugmentOptions,
} from '../src/data/augment.js';
import { DataError } from '../src/data/problems.js';
import { Rng } from '../src/data/random.js';
import { FACE_PIXELS, FACE_SIZE } from '../src/core/labels.js';

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

  test("a clean view: the same draws' geometry alone, and the augmented face unchanged by asking for it", () => {
    const geometry: AugmentOptions = { ...NO_AUGMENT, shift: 3, flip: true, rotate: 15, scale: 0.2 };
    const everything: AugmentOptions = { ...CAMERA_AUGMENT, ...geometry, brightness: 0.4, contrast: 0.4, erase: 1, blur: 2 };
    for (const seed of [1, 2, 3, 4]) {
      const clean = new Float32Array(3 * FACE_PIXELS).fill(-1);
      const withClean = new Float32Array(FACE_PIXELS);
      augmentFace(face, withClean, 0, everything, new Rng(seed), clean.subarray(FACE_PIXELS, 2 * FACE_PIXELS));
      assert.deepEqual(withClean, augmented(everything, new Rng(seed)));
      // Geometry is drawn first, so a run with it alone draws the same flip, turn, zoom and shift.
      assert.deepEqual(clean.slice(FACE_PIXELS, 2 * FACE_PIXELS), augmented(geometry, new Rng(seed)));
      assert.ok(clean.subarray(0, FACE_PIXELS).every((v) => v === -1) && clean.subarray(2 * FACE_PIXELS).every((v) => v === -1));
    }
    // Without geometry the clean view is the face itself.
    const clean = new Float32Array(FACE_PIXELS);
    augmentFace(
      face,
      new Float32Array(FACE_PIXELS),
      0,
      { ...CAMERA_AUGMENT, flip: false, shift: 0, rotate: 0, scale: 0 },
      new Rng(5),
      clean,
    );
    assert.deepEqual(clean, plain());
  });

  test('output stays in [0, 1], and a seed reproduces it', () => {
    const strong: AugmentOptions = {
      ...NO_AUGMENT,
      shift: 8,
      flip: true,
      rotate: 30,
      scale: 0.3,
      brightness: 0.8,
      contrast: 0.8,
      erase: 1,
    };
    const camera: AugmentOptions = { ...strong, blur: 3, gamma: 1, jpeg: 1, noise: 50 };
    for (const o of [strong, camera]) {
      for (let seed = 0; seed < 20; seed++) {
        const a = augmented(o, new Rng(seed));
        assert.ok(
          a.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)),
          `seed ${seed} in range`,
        );
        assert.deepEqual(augmented(o, new Rng(seed)), a);
      }
    }
    assert.notDeepEqual(augmented(DEFAULT_AUGMENT, new Rng(1)), augmented(DEFAULT_AUGMENT, new Rng(2)));
  });

  test('each switch alone changes the face', () => {
    const switches: Partial<AugmentOptions>[] = [
      { shift: 4 },
      { flip: true },
      { rotate: 15 },
      { scale: 0.2 },
      { brightness: 0.3 },
      { contrast: 0.3 },
      { erase: 1 },
      { blur: 2 },
      { gamma: 0.5 },
      { jpeg: 1 },
      { noise: 10 },
    ];
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
        for (let x = 0; x < FACE_SIZE; x++)
          assert.ok(Math.abs(a[y * FACE_SIZE + x]! - reference[y * FACE_SIZE + FACE_SIZE - 1 - x]!) < 1e-6);
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
        a.every(
          (v, i) => Math.abs(v - reference[mirror(Math.floor(i / FACE_SIZE) - dy) * FACE_SIZE + mirror((i % FACE_SIZE) - dx)]!) < 1e-6,
        ),
      );
      assert.equal(explained.length, 1, 'exactly one integer shift (with reflected borders) explains the whole output');
    }
  });
});

describe('augmentation settings', () => {
  test('"none", "default" and lists parse; formatAugment round-trips', () => {
    assert.deepEqual(parseAugment('none'), NO_AUGMENT);
    assert.deepEqual(parseAugment('default'), DEFAULT_AUGMENT);
    assert.deepEqual(DEFAULT_AUGMENT, {
      ...NO_AUGMENT,
      shift: 4,
      flip: true,
      rotate: 10,
      scale: 0.1,
      brightness: 0.2,
      contrast: 0.2,
      erase: 0.25,
    });
    assert.deepEqual(parseAugment('shift=4,flip,rotate=10,scale=0.1,brightness=0.2,contrast=0.2,erase=0.5'), {
      ...DEFAULT_AUGMENT,
      erase: 0.5,
    });
    assert.deepEqual(parseAugment(' Flip , shift=2 '), { ...NO_AUGMENT, flip: true, shift: 2 });
    assert.deepEqual(parseAugment('default,erase=0,flip=false'), { ...DEFAULT_AUGMENT, erase: 0, flip: false });
    assert.equal(formatAugment(NO_AUGMENT), 'none');
    assert.equal(formatAugment(DEFAULT_AUGMENT), 'shift=4,flip,rotate=10,scale=0.1,brightness=0.2,contrast=0.2,erase=0.25');
    for (const o of [
      NO_AUGMENT,
      DEFAULT_AUGMENT,
      CAMERA_AUGMENT,
      { ...NO_AUGMENT, contrast: 0.05 },
      { ...NO_AUGMENT, noise: 2.5, jpeg: 0.1 },
    ]) {
      assert.deepEqual(parseAugment(formatAugment(o)), o);
    }
  });

  test('"camera" is the default plus the camera effects, and a list may start with it', () => {
    assert.deepEqual(CAMERA_AUGMENT, { ...DEFAULT_AUGMENT, jpeg: 0.5, blur: 1.2, noise: 6, gamma: 0.3 });
    assert.deepEqual(parseAugment('camera'), CAMERA_AUGMENT);
    assert.deepEqual(parseAugment(' Camera '), CAMERA_AUGMENT);
    assert.deepEqual(parseAugment('camera,jpeg=0.3'), { ...CAMERA_AUGMENT, jpeg: 0.3 });
    assert.deepEqual(parseAugment('camera,blur=0,noise=0'), { ...CAMERA_AUGMENT, blur: 0, noise: 0 });
    assert.deepEqual(parseAugment('blur=3,gamma=1,jpeg=1,noise=50'), { ...NO_AUGMENT, blur: 3, gamma: 1, jpeg: 1, noise: 50 });
    assert.equal(
      formatAugment(CAMERA_AUGMENT),
      'shift=4,flip,rotate=10,scale=0.1,brightness=0.2,contrast=0.2,erase=0.25,blur=1.2,gamma=0.3,jpeg=0.5,noise=6',
    );
    assert.equal(formatAugment({ ...NO_AUGMENT, jpeg: 0.5 }), 'jpeg=0.5');
  });

  test('unknown keys and bad values are one-line DataErrors', () => {
    const cases: [string, RegExp][] = [
      [
        'sharpen=2',
        /unknown setting "sharpen" \(known: shift, flip, rotate, scale, brightness, contrast, erase, blur, gamma, jpeg, noise, or "none"\/"default"\/"camera" first\)/,
      ],
      ['jpeg=1.5', /jpeg must be from 0 to 1, got "1.5"/],
      ['blur=3.5', /blur must be from 0 to 3, got "3.5"/],
      ['noise=51', /noise must be from 0 to 50, got "51"/],
      ['noise=-1', /noise must be from 0 to 50, got "-1"/],
      ['gamma=abc', /gamma must be from 0 to 1, got "abc"/],
      ['camera,jpeg', /jpeg must be from 0 to 1, got ""/],
      ['jpeg=0.5,camera', /unknown setting "camera"/],
      ['shift=2.5', /shift must be an integer from 0 to 24, got "2.5"/],
      ['rotate=-5', /rotate must be from 0 to 180/],
      ['scale=1', /scale must be from 0 to below 1/],
      ['erase', /erase must be from 0 to 1, got ""/],
      ['flip=maybe', /flip takes no value, or true\/false/],
      ['', /empty/],
      ['toString', /unknown setting "tostring"/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseAugment(text),
        (err: unknown) => err instanceof DataError && message.test(err.message) && !err.message.includes('\n'),
        text,
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Camera effects.

/** The face as floats in [0, 1], copied into a fresh buffer. */
const unit = (pixels: Uint8Array = face): Float32Array => Float32Array.from(pixels, (v) => v / 255);
const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((s, v) => s + v, 0) / xs.length;

/**
 * Mean absolute 4-neighbour Laplacian over the interior, as faceSharpness but on floats: a weak blur must show before
 * rounding to gray levels hides it.
 */
function laplacian(a: Float32Array): number {
  let sum = 0;
  for (let y = 1; y < FACE_SIZE - 1; y++) {
    for (let x = 1; x < FACE_SIZE - 1; x++) {
      const i = y * FACE_SIZE + x;
      sum += Math.abs(4 * a[i]! - a[i - 1]! - a[i + 1]! - a[i - FACE_SIZE]! - a[i + FACE_SIZE]!);
    }
  }
  return sum / (FACE_SIZE - 2) ** 2;
}

/** Mean absolute horizontal and vertical step between neighbours, split by whether the pair straddles an 8×8 block border. */
function blockSteps(a: Float32Array): { across: number; within: number } {
  let across = 0;
  let within = 0;
  let nAcross = 0;
  let nWithin = 0;
  for (let y = 0; y < FACE_SIZE; y++) {
    for (let x = 0; x < FACE_SIZE - 1; x++) {
      for (const [i, j] of [
        [y * FACE_SIZE + x, y * FACE_SIZE + x + 1],
        [x * FACE_SIZE + y, (x + 1) * FACE_SIZE + y],
      ] as const) {
        const step = Math.abs(a[i]! - a[j]!);
        if (x % 8 === 7) {
          across += step;
          nAcross++;
        } else {
          within += step;
          nWithin++;
        }
      }
    }
  }
  return { across: across / nAcross, within: within / nWithin };
}

/** A smooth face (slow gradients and a soft blob, like a real face at 48×48) with a little texture. */
const smooth = Uint8Array.from({ length: FACE_PIXELS }, (_, i) => {
  const x = i % FACE_SIZE;
  const y = Math.floor(i / FACE_SIZE);
  const blob = 70 * Math.exp(-((x - 20) ** 2 + (y - 26) ** 2) / 120);
  return Math.round(50 + 1.7 * x + 0.9 * y + blob + 6 * Math.sin(x * 1.3 + y * 0.7));
});

/** The whole camera effect, drawn several times, checking determinism and returning the draws that changed the face. */
function changedDraws(o: Partial<AugmentOptions>, seed: number, draws: number, pixels = face): Float32Array[] {
  const options = { ...NO_AUGMENT, ...o };
  const a = new Rng(seed);
  const b = new Rng(seed);
  const reference = unit(pixels);
  const changed: Float32Array[] = [];
  for (let k = 0; k < draws; k++) {
    const outA = new Float32Array(FACE_PIXELS);
    const outB = new Float32Array(FACE_PIXELS);
    augmentFace(pixels, outA, 0, options, a);
    augmentFace(pixels, outB, 0, options, b);
    assert.deepEqual(outA, outB, `${formatAugment(options)} is deterministic for a seed`);
    if (maxDiff(outA, reference) > 0) changed.push(outA);
  }
  assert.deepEqual(a.getState(), b.getState());
  return changed;
}

describe('camera effects', () => {
  test('off, they draw nothing: the same faces and Rng stream as before they existed', () => {
    // Checksums of 50 faces (and the Rng state after them) taken with augment.ts before the camera effects were added.
    const strong = { shift: 8, flip: true, rotate: 30, scale: 0.3, brightness: 0.8, contrast: 0.8, erase: 1 };
    const pre = { shift: 4, flip: true, rotate: 10, scale: 0.1, brightness: 0.2, contrast: 0.2, erase: 0.25 };
    const golden: [object, number[], number][] = [
      [pre, [3137598389, 2362638457, 1653411471, 3175284134], 66797.494],
      [strong, [2878913615, 932182893, 43541991, 3175294462], 59142.191],
    ];
    for (const [old, state, checksum] of golden) {
      // The options as a checkpoint from before the effects holds them (no keys), and as parsed now (keys at 0).
      for (const o of [old as AugmentOptions, { ...NO_AUGMENT, ...old }]) {
        const rng = new Rng(123);
        const out = new Float32Array(FACE_PIXELS);
        let sum = 0;
        for (let k = 0; k < 50; k++) {
          augmentFace(face, out, 0, o, rng);
          for (const v of out) sum += v;
        }
        assert.deepEqual(rng.getState(), state, formatAugment(o));
        assert.ok(Math.abs(sum - checksum) < 5e-3, `${formatAugment(o)}: checksum ${sum} vs ${checksum}`);
      }
    }
  });

  test('each is deterministic for a seed and changes the face when on', () => {
    for (const o of [{ blur: 1.5 }, { gamma: 0.4 }, { jpeg: 0.7 }, { noise: 8 }]) {
      const changed = changedDraws(o, 11, 20);
      assert.ok(changed.length > 0, `${JSON.stringify(o)} changes some faces`);
      assert.ok(
        changed.some((a) => maxDiff(a, unit()) > 2 / 255),
        `${JSON.stringify(o)} changes some faces visibly`,
      );
      assert.notDeepEqual(changedDraws(o, 12, 20), changed, `${JSON.stringify(o)} depends on the seed`);
    }
  });

  test('jpeg: quality 90 stays close to the face, quality 20 shows 8×8 blocks; whole gray levels out', () => {
    const input = unit(smooth);
    const fine = input.slice();
    jpegRoundTrip(fine, 0, 90);
    const coarse = input.slice();
    jpegRoundTrip(coarse, 0, 20);
    const errors = (a: Float32Array) => Array.from(a, (v, i) => Math.abs(v - input[i]!) * 255);
    assert.ok(
      Math.max(...errors(fine)) <= 8 && mean(errors(fine)) < 1.5,
      `q90: max ${Math.max(...errors(fine))}, mean ${mean(errors(fine))} levels`,
    );
    assert.ok(mean(errors(coarse)) > mean(errors(fine)) * 1.5, `q20 loses more: ${mean(errors(coarse))} vs ${mean(errors(fine))}`);
    const before = blockSteps(input);
    const after = blockSteps(coarse);
    assert.ok(Math.abs(before.across / before.within - 1) < 0.25, `the input has no block structure: ${JSON.stringify(before)}`);
    assert.ok(after.across > 1.5 * after.within, `q20 steps across block borders exceed those within blocks: ${JSON.stringify(after)}`);
    for (const a of [fine, coarse]) assert.ok(a.every((v) => Number.isInteger(Math.round(v * 255 * 1e4) / 1e4) && v >= 0 && v <= 1));
    // Through augmentFace the quality is drawn from 20–90: the faces differ from draw to draw.
    const draws = changedDraws({ jpeg: 1 }, 3, 6, smooth);
    assert.equal(draws.length, 6);
    assert.ok(new Set(draws.map((a) => mean(errors(a)).toFixed(4))).size > 3, 'different qualities');
  });

  test('jpeg matches the textbook DCT → quantise → inverse DCT', () => {
    assert.deepEqual(jpegQuantTable(50).slice(0, 8), [16, 11, 10, 16, 24, 40, 51, 61]);
    assert.deepEqual(jpegQuantTable(90).slice(0, 4), [3, 2, 2, 3]);
    assert.deepEqual(jpegQuantTable(20).slice(0, 4), [40, 28, 25, 40]);
    assert.ok(jpegQuantTable(1).every((q) => q <= 255) && jpegQuantTable(100).every((q) => q === 1));
    for (const quality of [20, 47, 90]) {
      const table = jpegQuantTable(quality);
      const input = unit(face);
      const fast = input.slice();
      jpegRoundTrip(fast, 0, quality);
      const c = (u: number) => (u === 0 ? Math.SQRT1_2 : 1);
      const basis = (u: number, x: number) => Math.cos(((2 * x + 1) * u * Math.PI) / 16);
      let mismatches = 0;
      for (let by = 0; by < FACE_SIZE; by += 8) {
        for (let bx = 0; bx < FACE_SIZE; bx += 8) {
          const at = (x: number, y: number) => input[(by + y) * FACE_SIZE + bx + x]! * 255 - 128;
          const coefficient: number[] = [];
          for (let v = 0; v < 8; v++) {
            for (let u = 0; u < 8; u++) {
              let sum = 0;
              for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) sum += at(x, y) * basis(u, x) * basis(v, y);
              const F = 0.25 * c(u) * c(v) * sum;
              coefficient.push(Math.round(F / table[v * 8 + u]!) * table[v * 8 + u]!);
            }
          }
          for (let y = 0; y < 8; y++) {
            for (let x = 0; x < 8; x++) {
              let sum = 0;
              for (let v = 0; v < 8; v++)
                for (let u = 0; u < 8; u++) sum += 0.25 * c(u) * c(v) * coefficient[v * 8 + u]! * basis(u, x) * basis(v, y);
              const expected = Math.min(255, Math.max(0, Math.round(sum + 128)));
              const got = fast[(by + y) * FACE_SIZE + bx + x]! * 255;
              assert.ok(Math.abs(got - expected) <= 1.0001, `q${quality} block (${bx}, ${by}) pixel (${x}, ${y}): ${got} vs ${expected}`);
              if (Math.abs(got - expected) > 1e-3) mismatches++;
            }
          }
        }
      }
      // Rounding ties can fall either way between the two summation orders; they are rare.
      assert.ok(mismatches <= 3, `q${quality}: ${mismatches} pixels off by one level`);
    }
  });

  test(`blur: ${BLUR_PROBABILITY * 100} % of faces, lowering the mean absolute Laplacian; edges clamped`, () => {
    const rng = new Rng(21);
    let blurred = 0;
    const sharp = laplacian(unit());
    for (let k = 0; k < 200; k++) {
      const a = augmented({ ...NO_AUGMENT, blur: 2 }, rng);
      if (maxDiff(a, unit()) === 0) continue;
      blurred++;
      assert.ok(laplacian(a) < sharp, `a blurred face is smoother: ${laplacian(a)} vs ${sharp}`);
    }
    assert.ok(Math.abs(blurred / 200 - BLUR_PROBABILITY) < 0.1, `${blurred} of 200 faces blurred`);
    // Larger σ, smoother; a flat face stays flat (weights sum to 1, clamped edges add no dark border).
    const levels = [0.5, 1, 2, 3].map((sigma) => {
      const a = unit();
      gaussianBlur(a, 0, sigma);
      return laplacian(a);
    });
    for (let i = 1; i < levels.length; i++) assert.ok(levels[i]! < levels[i - 1]!, `σ ordering ${levels}`);
    const flat = new Float32Array(FACE_PIXELS).fill(0.6);
    gaussianBlur(flat, 0, 3);
    assert.ok(flat.every((v) => Math.abs(v - 0.6) < 1e-6));
  });

  test('blur matches a direct 2-D Gaussian with clamped edges', () => {
    const sigma = 1.7;
    const radius = Math.ceil(3 * sigma);
    const weights = Array.from({ length: 2 * radius + 1 }, (_, k) => Math.exp(-((k - radius) ** 2) / (2 * sigma * sigma)));
    const total = weights.reduce((s, w) => s + w, 0);
    const input = unit();
    const fast = input.slice();
    gaussianBlur(fast, 0, sigma);
    const clamp = (i: number) => Math.min(FACE_SIZE - 1, Math.max(0, i));
    for (const [x, y] of [
      [0, 0],
      [47, 0],
      [3, 40],
      [24, 24],
      [47, 47],
      [31, 11],
    ] as const) {
      let sum = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++)
          sum += weights[dy + radius]! * weights[dx + radius]! * input[clamp(y + dy) * FACE_SIZE + clamp(x + dx)]!;
      }
      assert.ok(Math.abs(fast[y * FACE_SIZE + x]! - sum / total ** 2) < 1e-5, `(${x}, ${y})`);
    }
  });

  test('noise: additive Gaussian with the asked spread (gray levels of 255), up to `noise` per face', () => {
    const gray = new Uint8Array(FACE_PIXELS).fill(128);
    // A fixed σ: mean ≈ 0, standard deviation ≈ σ, roughly normal (about 68 % within 1σ).
    const a = unit(gray);
    addNoise(a, 0, 10 / 255, new Rng(5));
    const d = Array.from(a, (v) => v * 255 - 128);
    const sd = Math.sqrt(mean(d.map((v) => v * v)));
    assert.ok(Math.abs(mean(d)) < 0.7, `mean ${mean(d)}`);
    assert.ok(Math.abs(sd - 10) < 0.6, `sd ${sd}`);
    const within = d.filter((v) => Math.abs(v) < 10).length / d.length;
    assert.ok(Math.abs(within - 0.683) < 0.04, `${within} within 1σ`);
    // Through augmentFace: each face's σ is uniform in [0, noise], so face spreads stay below it, averaging noise / 2.
    const rng = new Rng(6);
    const spreads = Array.from({ length: 100 }, () => {
      const out = new Float32Array(FACE_PIXELS);
      augmentFace(gray, out, 0, { ...NO_AUGMENT, noise: 20 }, rng);
      return Math.sqrt(mean(Array.from(out, (v) => (v * 255 - 128) ** 2)));
    });
    assert.ok(Math.max(...spreads) < 21.5 && Math.max(...spreads) > 17, `largest spread ${Math.max(...spreads)}`);
    assert.ok(Math.abs(mean(spreads) - 10) < 1.8, `mean spread ${mean(spreads)}`);
  });

  test('gamma: 0 and 255 stay fixed, mid-tones move both ways, monotone, close to the exact power', () => {
    const ramp = Uint8Array.from({ length: FACE_PIXELS }, (_, i) => (i < 256 ? i : i % 2 ? 255 : 0));
    const rng = new Rng(8);
    let darker = 0;
    let lighter = 0;
    for (let k = 0; k < 20; k++) {
      const a = new Float32Array(FACE_PIXELS);
      augmentFace(ramp, a, 0, { ...NO_AUGMENT, gamma: 0.5 }, rng);
      assert.equal(a[0], 0);
      assert.equal(a[255], 1);
      for (let i = 256; i < FACE_PIXELS; i++) assert.equal(a[i], ramp[i] === 255 ? 1 : 0);
      for (let i = 1; i < 256; i++) assert.ok(a[i]! >= a[i - 1]!, 'monotone');
      if (a[128]! < 128 / 255 - 0.01) darker++;
      if (a[128]! > 128 / 255 + 0.01) lighter++;
    }
    assert.ok(darker > 3 && lighter > 3, `${darker} darker, ${lighter} lighter`);
    for (const gamma of [Math.exp(-1), 0.8, 1.3, Math.E]) {
      const a = Float32Array.from({ length: FACE_PIXELS }, (_, i) => i / (FACE_PIXELS - 1));
      toneCurve(a, 0, gamma);
      a.forEach((v, i) => assert.ok(Math.abs(v - (i / (FACE_PIXELS - 1)) ** gamma) < 0.6 / 255, `γ ${gamma} at ${i}`));
    }
  });
});
