/**
 * Draws an architecture as a top-to-bottom block diagram: Graphviz (WebAssembly build) lays it out, sharp rasterises
 * the SVG when a PNG is asked for.
 */
import { writeFile } from 'node:fs/promises';
import { instance, type Viz } from '@viz-js/viz';
import sharp from 'sharp';
import { pictureFormat } from '../core/picture.js';
import { type Layer, type ModelSpec, type NormalizedLayer, type Shape, layerOutputShape, normalizeSpec } from './spec.js';
import { formatMultiplyAdds, layerLabel, summarize } from './summary.js';

// Graphviz has DejaVu Sans's metrics built in, so the boxes it sizes fit the text librsvg later draws with it (the
// usual Linux sans font; fontconfig substitutes a look-alike where it is missing).
const FONT = 'DejaVu Sans';
// Graphviz sizes the SVG in points; 2.5 px per point draws the 9-point shape labels 22 px tall, crisp when zoomed.
const PNG_PIXELS_PER_POINT = 2.5;

/** Fill colour per layer type, so the eye can find the convs, the pools and the classifier at a glance. */
const FILL: Record<Layer['type'] | 'input' | 'add', string> = {
  input: '#eeeeee',
  conv: '#cfe2f3',
  batchnorm: '#f3f3f3',
  relu: '#fff2cc',
  maxpool: '#d9ead3',
  globalavgpool: '#d9ead3',
  dropout: '#f3f3f3',
  flatten: '#eeeeee',
  dense: '#fce5cd',
  se: '#e6d5f0',
  residual: '#ffffff',
  add: '#ffffff',
};

const escapeHtml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const shapeText = (shape: Shape): string => shape.join('×');

/** Hyper-parameters that layerLabel() leaves out, or '' when there are none worth a line. */
function layerDetails(layer: NormalizedLayer, input: Shape): string {
  switch (layer.type) {
    case 'conv': {
      const { stride, padding: pad } = layer;
      // Padding makes no difference to a 1×1 conv, so it is not worth a word there. The normalised spec gives padding
      // in pixels, so floor(kernel/2) (what 'same' pads) reads as 'same', whether the spec said 'same' or that number.
      const padding =
        layer.kernel === 1 ? '' : pad === Math.floor(layer.kernel / 2) ? 'same' : pad === 0 ? 'valid' : `pad ${pad}`;
      return [`${layer.out} filters`, stride > 1 ? `stride ${stride}` : '', padding, layer.bias ? '' : 'no bias']
        .filter(Boolean)
        .join(', ');
    }
    case 'maxpool':
      return layer.stride === layer.kernel ? '' : `stride ${layer.stride}`;
    case 'dense':
      // The unit count is the output shape, already on the label.
      return layer.bias ? '' : 'no bias';
    case 'se': {
      const channels = input[0]!;
      return `squeeze-excite ${channels}→${layer.hidden}→${channels}`;
    }
    default:
      return '';
  }
}

/**
 * An HTML-like Graphviz label: bold title, the details beneath it, the output shape in small gray type. Layers without
 * details (batch norm, ReLU, ...) get the shape on the title line, which keeps the tall diagrams of deep nets shorter.
 */
function nodeLabel(title: string, details: string, shape: Shape): string {
  const shapeFont = `<font point-size="9" color="#666666">${shapeText(shape)}</font>`;
  if (!details) return `<<b>${escapeHtml(title)}</b>  ${shapeFont}>`;
  return `<<b>${escapeHtml(title)}</b><br/>${escapeHtml(details)}<br/>${shapeFont}>`;
}

/** The DOT source of the diagram; exported for tests and for anyone who wants to style it further. */
export function architectureDot(userSpec: ModelSpec): string {
  const spec = normalizeSpec(userSpec);
  const summary = summarize(spec);
  // Nodes (and the cluster brackets around them) in one list, edges in another: an edge written inside a cluster
  // would pull its outside end into that cluster.
  const statements: string[] = [];
  const edges: string[] = [];
  const nodeId = (path: string): string => `"${path}"`;
  const node = (path: string, label: string, fill: string): void => {
    statements.push(`${nodeId(path)} [label=${label}, fillcolor="${fill}"];`);
  };
  // Heavy main-path edges keep the trunk a straight line; skip edges bend around it.
  const edge = (from: string, to: string, extra = ''): void => {
    edges.push(`${nodeId(from)} -> ${nodeId(to)} [${extra || 'weight=10'}];`);
  };

  /** Emits the layers as a chain fed by node `from`; returns the id of the chain's last node. */
  const emitSequence = (layers: NormalizedLayer[], from: string, input: Shape, parentPath: string): string => {
    let last = from;
    let shape = input;
    layers.forEach((layer, i) => {
      const path = `${parentPath}.${i}`;
      const output = layerOutputShape(layer, shape, path);
      if (layer.type === 'residual') {
        last = emitResidual(layer, last, shape, output, path);
      } else {
        node(path, nodeLabel(layerLabel(layer), layerDetails(layer, shape), output), FILL[layer.type]);
        edge(last, path);
        last = path;
      }
      shape = output;
    });
    return last;
  };

  /** Emits a residual layer as a cluster ending in an add node, fed by node `from`; returns the add node's id. */
  const emitResidual = (
    layer: Extract<NormalizedLayer, { type: 'residual' }>, from: string, input: Shape, output: Shape, path: string,
  ): string => {
    const addNode = `${path}.add`;
    // The cluster's label sits bottom right, the one corner no edge enters or leaves by.
    statements.push(
      `subgraph "cluster_${path}" {`,
      'label=<<i>residual</i>>; labelloc=b; labeljust=r; style="rounded,dashed"; color="#888888";',
    );
    edge(emitSequence(layer.body, from, input, `${path}.body`), addNode);
    const skipStyle = (name: string): string => `weight=1, color="#888888", label=<<font point-size="9">${name}</font>>`;
    if (layer.shortcut) {
      edge(emitSequence(layer.shortcut, from, input, `${path}.shortcut`), addNode, skipStyle('shortcut'));
    } else {
      edge(from, addNode, `${skipStyle('identity')}, style=dashed`);
    }
    node(addNode, nodeLabel('add', '', output), FILL.add);
    statements.push('}');
    return addNode;
  };

  node('input', nodeLabel('input', 'gray face', spec.input), FILL.input);
  emitSequence(spec.layers, 'input', spec.input, 'layers');

  const title =
    `<b>${escapeHtml(spec.name)}</b><br/><font point-size="10">${summary.totalParams.toLocaleString('en-US')} parameters, ` +
    `${formatMultiplyAdds(summary.multiplyAdds)} multiply-adds per face</font>` +
    // A short blank line: Graphviz sets the title flush against the first node.
    '<br/><font point-size="6"> </font>';
  return [
    // The user's spec name appears only in the (escaped) title, so no quote in it can break the DOT syntax.
    'digraph architecture {',
    `graph [rankdir=TB, labelloc=t, label=<${title}>, fontname="${FONT}", fontsize=14,`,
    '  nodesep=0.25, ranksep=0.22, pad=0.2, bgcolor=white];',
    // height=0.3: Graphviz's 0.5-inch minimum would make the one-line nodes as tall as the three-line ones.
    `node [shape=box, style="rounded,filled", fontname="${FONT}", fontsize=10, color="#666666", margin="0.12,0.04", height=0.3];`,
    `edge [color="#444444", arrowsize=0.6, fontname="${FONT}", fontcolor="#666666"];`,
    ...statements,
    ...edges,
    '}',
  ].join('\n');
}

/** Compiling Graphviz's WebAssembly takes a while: once per process, and only when a picture is asked for. */
let vizInstance: Promise<Viz> | undefined;

/** Writes the diagram of `spec` to `outPath` as SVG or PNG, chosen by the extension. */
export async function renderArchitecture(spec: ModelSpec, outPath: string): Promise<void> {
  const format = pictureFormat(outPath);
  vizInstance ??= instance();
  const svg = (await vizInstance).renderString(architectureDot(spec), { format: 'svg' });
  const data = format === 'svg' ? svg : await sharp(Buffer.from(inPixels(svg, PNG_PIXELS_PER_POINT))).png().toBuffer();
  await writeFile(outPath, data);
}

/**
 * The SVG with its size restated in pixels. sharp 0.35's `density` option scales a point-sized SVG by the square of
 * density/72, not by density/72, so a pixel size written into the SVG is the dependable way to set the PNG's size.
 */
function inPixels(svg: string, pixelsPerPoint: number): string {
  const px = (points: string): string => `${Math.ceil(Number(points) * pixelsPerPoint)}px`;
  const sized = svg.replace(
    /<svg width="([\d.]+)pt" height="([\d.]+)pt"/,
    (_, w: string, h: string) => `<svg width="${px(w)}" height="${px(h)}"`,
  );
  if (sized === svg) throw new Error('Graphviz wrote an SVG without a width and height in points');
  return sized;
}
