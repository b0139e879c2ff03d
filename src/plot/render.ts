/**
 * Charts are vega-lite specs: compiled to vega, rendered to SVG by vega's headless view, rasterised by sharp.
 */
import sharp from 'sharp';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../core/atomic-write.js';
import { pictureFormat } from '../core/picture.js';
import { useDejaVuMetrics } from './text-metrics.js';

/** A vega-lite chart as the plot functions build it. */
export type ChartSpec = TopLevelSpec;

/**
 * librsvg (inside sharp) draws the SVG's text with whatever font fontconfig finds under this name; DejaVu Sans is
 * the usual Linux sans font, so the PNG shows the same letters as the SVG does in a browser.
 */
export const CHART_FONT = 'DejaVu Sans';

/** The PNG is drawn at twice the SVG's size so that text stays crisp when zoomed or shown on a high-DPI screen. */
const PNG_SCALE = 2;

/** mien's look for every chart; a spec's own config is applied on top, so a chart can still override any of it. */
const BASE_CONFIG = {
  font: CHART_FONT,
  // Without a background the PNG is transparent, which image viewers show as black or a checkerboard.
  background: 'white',
  padding: 10,
  // Titles start at the plot's left edge, not at the axis labels', so titles of stacked panels line up.
  title: { fontSize: 14, anchor: 'start', frame: 'group', offset: 8, subtitleColor: '#555555' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  view: { stroke: '#cccccc' },
} as const;

useDejaVuMetrics();

type Config = Record<string, unknown>;
const isPlainObject = (x: unknown): x is Config => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The base config with a spec's own on top, merged one level deep so that `axis: { labelFontSize }` keeps the rest. */
function mergeConfig(base: Config, own: Config = {}): Config {
  const merged: Config = { ...base };
  for (const [key, value] of Object.entries(own))
    merged[key] = isPlainObject(value) && isPlainObject(base[key]) ? { ...base[key], ...value } : value;
  return merged;
}

async function toSvg(spec: ChartSpec, scale: number): Promise<string> {
  const withConfig = { ...spec, config: mergeConfig(BASE_CONFIG, spec.config as Config | undefined) } as ChartSpec;
  const view = new View(parse(compile(withConfig).spec), { renderer: 'none' });
  try {
    return await view.toSVG(scale);
  } finally {
    view.finalize();
  }
}

/** The chart as an SVG document. */
export function renderChart(spec: ChartSpec): Promise<string> {
  return toSvg(spec, 1);
}

/** The chart as a PNG at twice its nominal size. */
export async function renderChartPng(spec: ChartSpec): Promise<Buffer> {
  return sharp(Buffer.from(await toSvg(spec, PNG_SCALE)))
    .png()
    .toBuffer();
}

/** Writes the chart to `path` as SVG or PNG, chosen by the extension, atomically (a reader never sees half a file). */
export async function writeChart(spec: ChartSpec, path: string): Promise<void> {
  await writeFileAtomic(path, pictureFormat(path) === 'svg' ? await renderChart(spec) : await renderChartPng(spec));
}
