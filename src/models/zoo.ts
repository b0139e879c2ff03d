/**
 * The architectures mien knows by name. Each builder returns a validated ModelSpec for a 1×48×48 face and 7 classes,
 * so `--arch deep` means the same network to the trainer, the exporter and `mien summary`.
 */
import { NUM_CLASSES } from '../core/labels.js';
import { type Layer, type ModelSpec, makeSpec, SpecError, validateSpec } from './spec.js';
import { summarize } from './summary.js';

const conv = (out: number, kernel: number, bias = true): Layer => ({ type: 'conv', out, kernel, padding: 'same', bias });
const bn: Layer = { type: 'batchnorm' };
const relu: Layer = { type: 'relu' };
const pool2: Layer = { type: 'maxpool', kernel: 2 };
const dropout = (p: number): Layer => ({ type: 'dropout', p });
const dense = (out: number): Layer => ({ type: 'dense', out });

/** conv → BN → ReLU without a conv bias: batch norm's shift makes the bias redundant. */
const convBnRelu = (out: number, kernel = 3): Layer[] => [conv(out, kernel, false), bn, relu];

/**
 * Basic two-conv residual block (ResNet v1: ReLU after the addition). `se` appends squeeze-excitation to the body so
 * the channel re-weighting acts on the residual before it joins the skip path, as in SE-ResNet.
 */
function residualBlock(inChannels: number, out: number, se: boolean): Layer[] {
  const body: Layer[] = [...convBnRelu(out), conv(out, 3, false), bn];
  // Reduction 8 rather than SE's usual 16: at 48–192 channels, /16 would leave a 3–12 unit bottleneck.
  if (se) body.push({ type: 'se', reduction: 8 });
  const shortcut: Layer[] | undefined =
    inChannels === out ? undefined : [{ type: 'conv', out, kernel: 1, bias: false }, bn];
  return [{ type: 'residual', body, ...(shortcut && { shortcut }) }, relu];
}

function seedTf(): ModelSpec {
  return makeSpec(
    'seed-tf',
    'The 5-layer TensorFlow net of the original project, after the TF CIFAR-10 tutorial (its LRN layers left out): ' +
      'conv 64 5×5 → pool → conv 64 5×5 → pool → FC 384 → FC 192 → FC 7, ReLU throughout, ' +
      'dropout 0.5 before the last two FCs.',
    [
      conv(64, 5), relu, pool2,
      conv(64, 5), relu, pool2,
      { type: 'flatten' },
      dense(384), relu,
      dropout(0.5), dense(192), relu,
      dropout(0.5), dense(NUM_CLASSES),
    ],
  );
}

function shallow(): ModelSpec {
  const block = (out: number): Layer[] => [conv(out, 3), bn, relu, pool2, dropout(0.25)];
  return makeSpec(
    'shallow',
    'Two conv blocks (32 and 64 filters 3×3, batch norm, ReLU, 2×2 max-pool, dropout 0.25) → FC 512 (dropout 0.5) → FC 7.',
    [...block(32), ...block(64), { type: 'flatten' }, dense(512), relu, dropout(0.5), dense(NUM_CLASSES)],
  );
}

function deep(): ModelSpec {
  const convBlock = (out: number, kernel: number): Layer[] => [conv(out, kernel), bn, relu, pool2, dropout(0.25)];
  const denseBlock = (out: number): Layer[] => [dense(out), bn, relu, dropout(0.25)];
  return makeSpec(
    'deep',
    'The Keras FER2013 CNN of the original project: conv 64 3×3, 128 5×5, 512 3×3, 512 3×3 (each BN, ReLU, ' +
      'max-pool, dropout 0.25) → dense 256 → dense 512 (each BN, ReLU, dropout 0.25) → dense 7; 4.48 M parameters.',
    [
      ...convBlock(64, 3), ...convBlock(128, 5), ...convBlock(512, 3), ...convBlock(512, 3),
      { type: 'flatten' },
      ...denseBlock(256), ...denseBlock(512),
      dense(NUM_CLASSES),
    ],
  );
}

function vggB(): ModelSpec {
  const stage = (out: number): Layer[] => [...convBnRelu(out), ...convBnRelu(out), pool2];
  return makeSpec(
    'vgg-b',
    'Reference compact VGG: three stages of two 3×3 convs (32, 64, 128 filters; BN, ReLU) and a 2×2 max-pool, ' +
      'global average pool, dense 7; about 288 k parameters and 86 M multiply-adds.',
    [...stage(32), ...stage(64), ...stage(128), { type: 'globalavgpool' }, dense(NUM_CLASSES)],
  );
}

/**
 * The mienet family: residual VGG-style stages at 48, 24, 12 and 6 pixels, joined by 2×2 max-pools.
 * `widths` are the channels of the four stages, `blocks` how many residual blocks each stage has.
 */
function mienet(widths: [number, number, number, number], blocks: [number, number, number, number], dropoutP: number): Layer[] {
  // A single cheap stem conv lifts the 1-channel face to the stage-1 width before any residual addition.
  const layers: Layer[] = [...convBnRelu(widths[0])];
  let channels = widths[0];
  widths.forEach((width, stage) => {
    // Stages 2–4 start by widening; the pool sits between stages (not in the first block) so every block of a stage
    // runs at one resolution and the shortcut stays a 1×1 conv, never a strided one that discards 3/4 of the pixels.
    if (stage > 0) layers.push(pool2);
    for (let b = 0; b < blocks[stage]!; b++) {
      // No SE at 48×48: edge-level channels gain little from global re-weighting, and the full-resolution stage
      // is where every extra elementwise pass costs the most time.
      layers.push(...residualBlock(channels, width, stage > 0));
      channels = width;
    }
  });
  // Global average pooling instead of a flatten+dense head: 7×C classifier weights instead of 36×7×C, less overfitting
  // on FER2013's 28 k training faces; dropout on the pooled features is the classifier's only regulariser.
  layers.push({ type: 'globalavgpool' }, dropout(dropoutP), dense(NUM_CLASSES));
  return layers;
}

function mienetS(): ModelSpec {
  return makeSpec(
    'mienet-s',
    'The small mienet (lite is cut from it): residual SE stages of 16/48/96/192 channels at 48/24/12/6 px (1/1/2/1 ' +
      'blocks), global average pool, dropout 0.3, dense 7; under 90 M multiply-adds.',
    // 16 channels keep the 48×48 stage at ~12% of the cost; the width triples into stage 2 and then doubles, which
    // keeps each later 3×3 conv at the same ~12 M multiply-adds. The spare block goes to 12×12, the smallest
    // resolution at which a face's parts (eyes, brows, mouth) are still several pixels apart.
    mienet([16, 48, 96, 192], [1, 1, 2, 1], 0.3),
  );
}

function mienetXs(): ModelSpec {
  return makeSpec(
    'mienet-xs',
    'mienet-s without its 48×48 block and with one 12×12 block: residual SE stages of 48/96/192 channels at ' +
      '24/12/6 px (1/1/1 blocks) after a 16-channel stem, global average pool, dropout 0.3, dense 7; about 0.6× the ' +
      'compute of mienet-s, for the browser.',
    // The blocks left out are the two of mienet-s with the same channels in and out, so every block kept has the same
    // tensors as one of mienet-s and `mien train --arch mienet-xs --init <a mienet-s run>` starts from its trained
    // weights (lite started from the mienet-s that was fast before mienet-sm took its place).
    mienet([16, 48, 96, 192], [0, 1, 1, 1], 0.3),
  );
}

function mienetSm(): ModelSpec {
  return makeSpec(
    'mienet-sm',
    "mien's fast default, between mienet-s and mienet-m: residual SE stages of 16/64/128/256 channels at 48/24/12/6 " +
      'px (1/1/2/2 blocks), global average pool, dropout 0.35, dense 7; about 2.1× the compute of mienet-s.',
    // The widths grow only where the face is 24 px or smaller: the 48×48 stage is the costliest per multiply-add
    // (memory traffic), so it keeps mienet-s's 16 channels, and the extra 6×6 block is mienet-m's cheapest depth.
    mienet([16, 64, 128, 256], [1, 1, 2, 2], 0.35),
  );
}

function mienetM(): ModelSpec {
  return makeSpec(
    'mienet-m',
    'The accurate mienet: residual SE stages of 32/96/192/384 channels at 48/24/12/6 px (1/1/2/2 blocks), ' +
      'global average pool, dropout 0.4, dense 7; about 5× the compute of mienet-s.',
    // Doubling every width quadruples the cost; the extra block at 6×6 adds depth where it is cheapest per parameter.
    // The stronger dropout matches the ~5× larger parameter count.
    mienet([32, 96, 192, 384], [1, 1, 2, 2], 0.4),
  );
}

const BUILDERS = new Map<string, () => ModelSpec>([
  ['seed-tf', seedTf],
  ['shallow', shallow],
  ['deep', deep],
  ['vgg-b', vggB],
  ['mienet-s', mienetS],
  ['mienet-xs', mienetXs],
  ['mienet-sm', mienetSm],
  ['mienet-m', mienetM],
]);

export const ARCHITECTURE_NAMES: readonly string[] = [...BUILDERS.keys()];

/** The named architecture, validated; an unknown name is a SpecError that lists the known ones. */
export function getArchitecture(name: string): ModelSpec {
  const build = BUILDERS.get(name);
  if (!build) throw new SpecError(`unknown architecture "${name}"; known: ${ARCHITECTURE_NAMES.join(', ')}`);
  const spec = build();
  validateSpec(spec);
  return spec;
}

export interface ArchitectureInfo {
  name: string;
  description: string;
  /** Total parameters, Keras counting (batch-norm running statistics included). */
  params: number;
  /** Multiply-adds for one face. */
  macs: number;
}

/**
 * The architectures mien trains by name, with their size and cost per face (what `mien models` prints).
 *
 * @example
 * ```ts
 * import { listArchitectures } from 'mien-fer';
 * for (const a of listArchitectures()) console.log(a.name, a.params, a.macs);
 * // seed-tf 3718727 66282816 · shallow 4741895 16002560 · deep 4478727 290475520 · vgg-b 288679 85599104
 * // mienet-s 865405 88378752 · mienet-xs 691601 53871744 · mienet-sm 2726655 189119232 · mienet-m 6142243 448437120
 * // (one line each)
 * ```
 */
export function listArchitectures(): ArchitectureInfo[] {
  return ARCHITECTURE_NAMES.map((name) => {
    const spec = getArchitecture(name);
    const summary = summarize(spec);
    return { name, description: spec.description, params: summary.totalParams, macs: summary.multiplyAdds };
  });
}
