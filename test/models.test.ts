import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import {
  ARCHITECTURE_NAMES,
  formatSummary,
  getArchitecture,
  listArchitectures,
  makeSpec,
  type ModelSpec,
  normalizeSpec,
  type NormalizedLayer,
  PictureFormatError,
  renderArchitecture,
  SpecError,
  summarize,
  tensorLayout,
  tensorSize,
  validateSpec,
} from '../src/models/index.js';

describe('zoo', () => {
  test('has the eight architectures, each a valid 1×48×48 → 7 spec', () => {
    assert.deepEqual([...ARCHITECTURE_NAMES].sort(), [
      'deep',
      'mienet-m',
      'mienet-s',
      'mienet-sm',
      'mienet-xs',
      'seed-tf',
      'shallow',
      'vgg-b',
    ]);
    for (const name of ARCHITECTURE_NAMES) {
      const spec = getArchitecture(name);
      assert.equal(spec.name, name);
      assert.deepEqual(spec.input, [1, 48, 48]);
      assert.deepEqual(validateSpec(spec), [7]);
      assert.ok(spec.description.length > 20, `${name} needs a description`);
    }
  });

  test('an unknown name is a SpecError that lists the known names', () => {
    assert.throws(
      () => getArchitecture('resnet-9000'),
      (err: Error) => {
        assert.ok(err instanceof SpecError);
        assert.match(err.message, /resnet-9000/);
        for (const name of ARCHITECTURE_NAMES) assert.ok(err.message.includes(name), `message lists ${name}`);
        return true;
      },
    );
    // Object.prototype members must not pass for architectures.
    assert.throws(() => getArchitecture('constructor'), SpecError);
  });

  test('listArchitectures reports the summary figures', () => {
    const list = listArchitectures();
    assert.deepEqual(
      list.map((a) => a.name),
      ARCHITECTURE_NAMES,
    );
    for (const a of list) {
      const summary = summarize(getArchitecture(a.name));
      assert.equal(a.params, summary.totalParams);
      assert.equal(a.macs, summary.multiplyAdds);
    }
  });

  test('mienet-s fits the 90 M multiply-add budget, mienet-xs costs about 0.6× as much, mienet-sm about 2× and mienet-m 4–6×', () => {
    const small = summarize(getArchitecture('mienet-s')).multiplyAdds;
    const between = summarize(getArchitecture('mienet-sm')).multiplyAdds;
    const medium = summarize(getArchitecture('mienet-m')).multiplyAdds;
    const extraSmall = summarize(getArchitecture('mienet-xs')).multiplyAdds;
    assert.ok(small <= 90e6, `mienet-s: ${small}`);
    const ratio = medium / small;
    assert.ok(ratio >= 4 && ratio <= 6, `mienet-m / mienet-s = ${ratio}`);
    assert.ok(extraSmall / small > 0.55 && extraSmall / small < 0.65, `mienet-xs / mienet-s = ${extraSmall / small}`);
    assert.ok(between / small > 1.8 && between / small < 2.4, `mienet-sm / mienet-s = ${between / small}`);
  });

  test('every call builds a fresh spec, so a caller editing one cannot change the zoo', () => {
    const spec = getArchitecture('vgg-b');
    spec.layers.pop();
    assert.doesNotThrow(() => validateSpec(getArchitecture('vgg-b')));
  });
});

describe('normalizeSpec', () => {
  /** Every layer type, each optional field both left out and given, nested inside residual layers too. */
  const EVERY_FIELD = makeSpec('every-field', 'test net', [
    { type: 'conv', out: 4, kernel: 3, stride: 2, padding: 'same' },
    { type: 'conv', out: 4, kernel: 3, padding: 1, bias: false },
    { type: 'batchnorm' },
    { type: 'relu' },
    {
      type: 'residual',
      body: [
        { type: 'conv', out: 8, kernel: 3, padding: 'same' },
        { type: 'batchnorm', eps: 1e-3, momentum: 0.01 },
        { type: 'se', reduction: 16 },
      ],
      shortcut: [{ type: 'conv', out: 8, kernel: 1, padding: 'valid' }],
    },
    { type: 'residual', body: [{ type: 'se', reduction: 2 }] },
    { type: 'maxpool', kernel: 2 },
    { type: 'maxpool', kernel: 3, stride: 1 },
    { type: 'dropout', p: 0.25 },
    { type: 'conv', out: 8, kernel: 2 },
    { type: 'globalavgpool' },
    { type: 'flatten' },
    { type: 'dense', out: 16 },
    { type: 'dense', out: 7, bias: false },
  ]);

  /** The fields each normalised layer type must carry, all of them defined. */
  const FIELDS: Record<NormalizedLayer['type'], string[]> = {
    conv: ['out', 'kernel', 'stride', 'padding', 'bias'],
    batchnorm: ['eps', 'momentum'],
    relu: [],
    maxpool: ['kernel', 'stride'],
    dropout: ['p'],
    flatten: [],
    globalavgpool: [],
    dense: ['out', 'bias'],
    residual: ['body', 'shortcut'],
    se: ['reduction', 'hidden'],
  };

  const assertFilled = (layers: NormalizedLayer[], path: string): void =>
    layers.forEach((layer, i) => {
      const p = `${path}.${i}`;
      assert.deepEqual(Object.keys(layer).sort(), ['type', ...FIELDS[layer.type]].sort(), p);
      for (const [key, value] of Object.entries(layer)) assert.notEqual(value, undefined, `${p}.${key}`);
      if (layer.type === 'conv') assert.equal(typeof layer.padding, 'number', `${p}.padding`);
      if (layer.type === 'residual') {
        assertFilled(layer.body, `${p}.body`);
        if (layer.shortcut) assertFilled(layer.shortcut, `${p}.shortcut`);
      }
    });

  const specs = (): ModelSpec[] => [EVERY_FIELD, ...ARCHITECTURE_NAMES.map(getArchitecture)];

  test('fills in every default, recursively', () => {
    const normalized = normalizeSpec(EVERY_FIELD);
    assert.deepEqual(normalized.layers, [
      { type: 'conv', out: 4, kernel: 3, stride: 2, padding: 1, bias: true },
      { type: 'conv', out: 4, kernel: 3, stride: 1, padding: 1, bias: false },
      { type: 'batchnorm', eps: 1e-5, momentum: 0.1 },
      { type: 'relu' },
      {
        type: 'residual',
        body: [
          { type: 'conv', out: 8, kernel: 3, stride: 1, padding: 1, bias: true },
          { type: 'batchnorm', eps: 1e-3, momentum: 0.01 },
          { type: 'se', reduction: 16, hidden: 1 },
        ],
        shortcut: [{ type: 'conv', out: 8, kernel: 1, stride: 1, padding: 0, bias: true }],
      },
      { type: 'residual', body: [{ type: 'se', reduction: 2, hidden: 4 }], shortcut: null },
      { type: 'maxpool', kernel: 2, stride: 2 },
      { type: 'maxpool', kernel: 3, stride: 1 },
      { type: 'dropout', p: 0.25 },
      { type: 'conv', out: 8, kernel: 2, stride: 1, padding: 0, bias: true },
      { type: 'globalavgpool' },
      { type: 'flatten' },
      { type: 'dense', out: 16, bias: true },
      { type: 'dense', out: 7, bias: false },
    ]);
    for (const spec of specs()) {
      const n = normalizeSpec(spec);
      assert.deepEqual([n.name, n.description, n.input, n.classes], [spec.name, spec.description, spec.input, spec.classes]);
      assertFilled(n.layers, `${spec.name}.layers`);
    }
  });

  test('is idempotent, leaves its input alone and keeps every figure the same', () => {
    for (const spec of specs()) {
      const before = structuredClone(spec);
      const once = normalizeSpec(spec);
      assert.deepEqual(spec, before, `${spec.name} unchanged`);
      assert.deepEqual(normalizeSpec(once), once, spec.name);
      assert.deepEqual(tensorLayout(once), tensorLayout(spec), `${spec.name} layout`);
      assert.deepEqual(summarize(once), summarize(spec), `${spec.name} summary`);
    }
  });

  test('validates as it goes', () => {
    assert.throws(() => normalizeSpec(makeSpec('flat-se', 'test net', [{ type: 'flatten' }, { type: 'se', reduction: 2 }])), SpecError);
    assert.throws(() => normalizeSpec(makeSpec('no-head', 'test net', [{ type: 'conv', out: 4, kernel: 3 }])), /7 logits/);
  });
});

describe('summarize', () => {
  test('deep matches the Keras summary of the original, layer by layer', () => {
    const summary = summarize(getArchitecture('deep'));
    assert.equal(summary.totalParams, 4_478_727);
    assert.equal(summary.trainableParams, 4_474_759);
    assert.equal(summary.nonTrainableParams, 3_968);
    const weighted = summary.rows.filter((r) => r.label.startsWith('conv') || r.label === 'dense');
    assert.deepEqual(
      weighted.map((r) => r.params),
      [640, 204_928, 590_336, 2_359_808, 1_179_904, 131_584, 3_591],
    );
    const flatten = summary.rows.find((r) => r.label === 'flatten');
    assert.deepEqual(flatten?.outputShape, [4608]);
    // Keras counts all four batch-norm vectors; half of them are the running statistics.
    const firstBn = summary.rows.find((r) => r.label === 'batchnorm')!;
    assert.equal(firstBn.params, 4 * 64);
    assert.equal(firstBn.trainableParams, 2 * 64);
  });

  test('vgg-b agrees with the reference figures (~288 k params, ~85 M multiply-adds)', () => {
    const summary = summarize(getArchitecture('vgg-b'));
    assert.ok(Math.abs(summary.totalParams - 288_000) < 2_000, `params ${summary.totalParams}`);
    assert.ok(Math.abs(summary.multiplyAdds - 85e6) < 2e6, `multiply-adds ${summary.multiplyAdds}`);
  });

  test('parameter counts agree with the tensor layout the addon and exporter use', () => {
    for (const name of ARCHITECTURE_NAMES) {
      const spec = getArchitecture(name);
      const summary = summarize(spec);
      const tensors = tensorLayout(spec);
      const sum = (trainable: boolean): number => tensors.filter((t) => t.trainable === trainable).reduce((s, t) => s + tensorSize(t), 0);
      assert.equal(summary.trainableParams, sum(true), `${name} trainable`);
      assert.equal(summary.nonTrainableParams, sum(false), `${name} non-trainable`);
    }
  });

  test('counts multiply-adds per the formulas, nested layers included', () => {
    const spec = makeSpec('tiny', 'test net', [
      // 1×48×48 → 4×24×24: 24·24·4·1·9 multiply-adds.
      { type: 'conv', out: 4, kernel: 3, stride: 2, padding: 'same' },
      {
        type: 'residual',
        // 24·24·8·4·9 + SE 8·2 + 2·8
        body: [
          { type: 'conv', out: 8, kernel: 3, padding: 'same', bias: false },
          { type: 'se', reduction: 4 },
        ],
        // 24·24·8·4
        shortcut: [{ type: 'conv', out: 8, kernel: 1, bias: false }],
      },
      { type: 'globalavgpool' },
      { type: 'dense', out: 7, bias: false }, // 8·7
    ]);
    const summary = summarize(spec);
    assert.equal(summary.multiplyAdds, 576 * 4 * 9 + 576 * 8 * 4 * 9 + 32 + 576 * 8 * 4 + 56);
    const residual = summary.rows.find((r) => r.label === 'residual')!;
    const children = summary.rows.filter((r) => r.depth === 1);
    assert.deepEqual(
      children.map((r) => r.name),
      ['body.0', 'body.1', 'shortcut.0'],
    );
    assert.equal(
      residual.params,
      children.reduce((s, r) => s + r.params, 0),
    );
    const se = summary.rows.find((r) => r.label === 'se /4')!;
    assert.equal(se.params, 8 * 2 + 2 + 2 * 8 + 8);
    assert.deepEqual(
      summary.rows.filter((r) => r.depth === 2).map((r) => r.path),
      ['layers.1.body.1.fc1', 'layers.1.body.1.fc2'],
    );
    assert.equal(summary.rows.at(-1)!.params, 56);
  });

  test('formatSummary draws an aligned Keras-style table with nested rows indented', () => {
    const text = formatSummary(summarize(getArchitecture('deep')));
    assert.match(text, /^Model: "deep"/);
    assert.match(text, /Total params: 4,478,727\n/);
    assert.match(text, /Trainable params: 4,474,759\n/);
    assert.match(text, /Non-trainable params: 3,968\n/);
    assert.match(text, /Multiply-adds per image: 290 M$/);
    assert.match(text, /│ 0 \(conv 3×3\) +│ \(None, 64, 48, 48\) +│ +640 │/);
    const table = text.split('\n').filter((line) => /^[┏┃┡│└]/.test(line));
    assert.equal(table.length, 4 + 1 + summarize(getArchitecture('deep')).rows.length);
    assert.equal(new Set(table.map((line) => line.length)).size, 1, 'every table line has the same width');

    const nested = formatSummary(summarize(getArchitecture('mienet-s')));
    assert.match(nested, /│ 6 \(residual\) /);
    assert.match(nested, /│ {3}body\.0 \(conv 3×3\) /);
    assert.match(nested, /│ {3}shortcut\.0 \(conv 1×1\) /);
    assert.match(nested, /│ {5}fc1 \(dense\) /);
  });
});

describe('renderArchitecture', () => {
  const dir = mkdtemp(join(tmpdir(), 'mien-graph-'));
  after(async () => rm(await dir, { recursive: true, force: true }));

  test('writes an SVG with a node per layer, the residual clusters and their skip edges', async () => {
    const out = join(await dir, 'mienet-s.svg');
    await renderArchitecture(getArchitecture('mienet-s'), out);
    const svg = await readFile(out, 'utf8');
    assert.match(svg, /^<\?xml[^]*<svg /);
    // Graphviz writes some characters (the hyphen among them) as numeric entities.
    const text = svg.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
    for (const label of [
      'mienet-s',
      'conv 3×3',
      'conv 1×1',
      '16 filters, same, no bias',
      'se /8',
      'squeeze-excite 48→6→48',
      'maxpool 2×2',
      'globalavgpool',
      'dropout 0.3',
      'residual',
      'identity',
      'shortcut',
      '192×6×6',
      '88.4 M',
    ]) {
      assert.ok(text.includes(label), `SVG shows "${label}"`);
    }
    assert.equal(svg.match(/class="cluster"/g)?.length, 5, 'one cluster per residual block');
    // One node per layer (a residual is its cluster, an se layer one node), plus the input and one add per block.
    const layerNodes = summarize(getArchitecture('mienet-s')).rows.filter((r) => r.label !== 'residual' && !/\.fc[12]$/.test(r.path));
    assert.equal(svg.match(/class="node"/g)?.length, layerNodes.length + 1 + 5);
  });

  test('writes a crisp PNG sized from the layout', async () => {
    const out = join(await dir, 'deep.png');
    await renderArchitecture(getArchitecture('deep'), out);
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'png');
    // A top-to-bottom chain of 31 nodes: tall and narrow, at 2.5 px per point.
    assert.ok(meta.width! > 500 && meta.width! < 2000, `width ${meta.width}`);
    assert.ok(meta.height! > 4 * meta.width!, `height ${meta.height}`);
    // Not a blank canvas: some dark pixels (text, borders) on the white background.
    const { channels } = await sharp(out).stats();
    assert.ok(channels[0]!.min < 80 && channels[0]!.max === 255);
  });

  test('refuses other extensions without writing anything', async () => {
    const out = join(await dir, 'deep.jpg');
    await assert.rejects(renderArchitecture(getArchitecture('deep'), out), (err: Error) => {
      assert.ok(err instanceof PictureFormatError);
      assert.match(err.message, /\.svg or \.png/);
      return true;
    });
    await assert.rejects(stat(out), { code: 'ENOENT' });
  });
});
