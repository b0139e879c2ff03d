/**
 * Keras-style model summary: per-layer output shapes and parameter counts, plus the multiply-adds one face costs.
 * Parameters are counted from the layer definitions here, independently of `tensorLayout()`, so the tests can hold
 * the two against each other.
 */
import { type ModelSpec, type NormalizedLayer, type Shape, layerOutputShape, normalizeSpec } from './spec.js';

export interface SummaryRow {
  /** Dotted path as in `tensorLayout()`, e.g. `layers.4.body.1`; the two FCs of an se layer end in `.fc1`/`.fc2`. */
  path: string;
  /** Path inside the parent layer: the index for top-level layers, else e.g. `body.0`, `shortcut.1` or `fc2`. */
  name: string;
  /** 0 for top-level layers, one more inside each residual or se layer. */
  depth: number;
  /** Layer type with its key hyper-parameter, e.g. `conv 5×5` or `dropout 0.25`. */
  label: string;
  /** Without the batch dimension. */
  outputShape: Shape;
  /** Keras counting: batch norm has 4×C parameters, 2×C of them (the running statistics) non-trainable. */
  params: number;
  trainableParams: number;
  /** Per face; a residual or se row totals the rows nested beneath it. */
  multiplyAdds: number;
}

export interface ModelSummary {
  name: string;
  input: Shape;
  /** Depth first: every residual or se row is followed by the rows of its sub-layers. */
  rows: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
  /**
   * Multiply-adds for one face: conv outH·outW·outC·inC·k², dense (and se FCs) in·out; batch norm, ReLU, pooling and
   * the residual addition are left out, being one cheap pass each over the activations.
   */
  multiplyAdds: number;
}

export function layerLabel(layer: NormalizedLayer): string {
  switch (layer.type) {
    case 'conv':
      return `conv ${layer.kernel}×${layer.kernel}${layer.stride > 1 ? ` /${layer.stride}` : ''}`;
    case 'maxpool':
      return `maxpool ${layer.kernel}×${layer.kernel}`;
    case 'dropout':
      return `dropout ${layer.p}`;
    case 'se':
      return `se /${layer.reduction}`;
    default:
      return layer.type;
  }
}

export function summarize(userSpec: ModelSpec): ModelSummary {
  const spec = normalizeSpec(userSpec);
  const rows: SummaryRow[] = [];

  /** Adds the row for one layer (and, beneath it, its sub-layers' rows) and returns that row. */
  const addLayer = (layer: NormalizedLayer, input: Shape, parentPath: string, name: string, depth: number): SummaryRow => {
    const path = `${parentPath}.${name}`;
    const outputShape = layerOutputShape(layer, input, path);
    const row: SummaryRow = {
      path, name, depth, label: layerLabel(layer), outputShape, params: 0, trainableParams: 0, multiplyAdds: 0,
    };
    rows.push(row);
    const addChildren = (children: SummaryRow[]): void => {
      for (const child of children) {
        row.params += child.params;
        row.trainableParams += child.trainableParams;
        row.multiplyAdds += child.multiplyAdds;
      }
    };
    const inChannels = input[0]!;
    switch (layer.type) {
      case 'conv': {
        const weights = layer.out * inChannels * layer.kernel ** 2;
        row.params = row.trainableParams = weights + (layer.bias ? layer.out : 0);
        row.multiplyAdds = outputShape[1]! * outputShape[2]! * weights;
        break;
      }
      case 'batchnorm':
        row.params = 4 * inChannels;
        row.trainableParams = 2 * inChannels;
        break;
      case 'dense':
        row.params = row.trainableParams = inChannels * layer.out + (layer.bias ? layer.out : 0);
        row.multiplyAdds = inChannels * layer.out;
        break;
      case 'se': {
        addChildren([
          addFc(path, 'fc1', inChannels, layer.hidden, depth + 1),
          addFc(path, 'fc2', layer.hidden, inChannels, depth + 1),
        ]);
        break;
      }
      case 'residual':
        addChildren(addSequence(layer.body, input, path, 'body.', depth + 1));
        if (layer.shortcut) addChildren(addSequence(layer.shortcut, input, path, 'shortcut.', depth + 1));
        break;
      default:
        break;
    }
    return row;
  };

  const addFc = (parentPath: string, name: string, inFeatures: number, outFeatures: number, depth: number): SummaryRow => {
    const params = inFeatures * outFeatures + outFeatures;
    const row: SummaryRow = {
      path: `${parentPath}.${name}`, name, depth, label: 'dense', outputShape: [outFeatures],
      params, trainableParams: params, multiplyAdds: inFeatures * outFeatures,
    };
    rows.push(row);
    return row;
  };

  const addSequence = (layers: NormalizedLayer[], input: Shape, parentPath: string, namePrefix: string, depth: number): SummaryRow[] => {
    let shape = input;
    return layers.map((layer, i) => {
      const row = addLayer(layer, shape, parentPath, `${namePrefix}${i}`, depth);
      shape = row.outputShape;
      return row;
    });
  };

  const topLevel = addSequence(spec.layers, spec.input, 'layers', '', 0);
  const total = (key: 'params' | 'trainableParams' | 'multiplyAdds'): number =>
    topLevel.reduce((sum, row) => sum + row[key], 0);
  const totalParams = total('params');
  const trainableParams = total('trainableParams');
  return {
    name: spec.name,
    input: spec.input,
    rows,
    totalParams,
    trainableParams,
    nonTrainableParams: totalParams - trainableParams,
    multiplyAdds: total('multiplyAdds'),
  };
}

const thousands = (n: number): string => n.toLocaleString('en-US');

/** Three significant digits with a k/M/G suffix, e.g. `85.6 M`. */
export function formatMultiplyAdds(n: number): string {
  for (const [scale, suffix] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (n >= scale) return `${Number((n / scale).toPrecision(3))} ${suffix}`;
  }
  return String(n);
}

const kerasShape = (shape: Shape): string => `(None, ${shape.join(', ')})`;

/** The summary as a Keras-style box table; sub-layers of residual and se layers are indented beneath them. */
export function formatSummary(summary: ModelSummary): string {
  const header = ['Layer (type)', 'Output Shape', 'Param #', 'Mult-adds'];
  // Text columns are left-aligned, number columns right-aligned.
  const rightAligned = [false, false, true, true];
  const cells = [
    ['input', kerasShape(summary.input), '0', '0'],
    ...summary.rows.map((row) => [
      `${'  '.repeat(row.depth)}${row.name} (${row.label})`,
      kerasShape(row.outputShape),
      thousands(row.params),
      formatMultiplyAdds(row.multiplyAdds),
    ]),
  ];
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c]!.length)));
  const pad = (text: string, c: number): string => (rightAligned[c] ? text.padStart(widths[c]!) : text.padEnd(widths[c]!));
  const line = (left: string, fill: string, join: string, right: string): string =>
    left + widths.map((w) => fill.repeat(w + 2)).join(join) + right;
  const tableRow = (texts: string[], bar: string): string => `${bar} ${texts.map(pad).join(` ${bar} `)} ${bar}`;
  return [
    `Model: "${summary.name}"`,
    line('┏', '━', '┳', '┓'),
    tableRow(header, '┃'),
    line('┡', '━', '╇', '┩'),
    ...cells.map((r) => tableRow(r, '│')),
    line('└', '─', '┴', '┘'),
    `Total params: ${thousands(summary.totalParams)}`,
    `Trainable params: ${thousands(summary.trainableParams)}`,
    `Non-trainable params: ${thousands(summary.nonTrainableParams)}`,
    `Multiply-adds per image: ${formatMultiplyAdds(summary.multiplyAdds)}`,
  ].join('\n');
}
