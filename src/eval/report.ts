/**
 * The HTML report of `mien eval --report <dir>`: one self-contained index.html (charts as inline SVG, face grids as
 * PNG data URIs, no scripts, no external files) that can be mailed or attached to an issue as it is.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import { EXPRESSIONS } from '../core/labels.js';
import { faceAt, type FaceDataset } from '../data/index.js';
import {
  confusionMatrixChart,
  faceGrid,
  HistoryError,
  parseHistory,
  reliabilityChart,
  renderChart,
  trainingCurvesChart,
  type ChartSpec,
  type FaceGridRow,
} from '../plot/index.js';
import type { ExpressionModel } from '../recognize/expression-model.js';
import { ttaMode, type TtaOption } from '../recognize/tta.js';
import { percent } from './format.js';
import { CALIBRATION_BINS, type Evaluation } from './metrics.js';

export interface ReportInput {
  evaluation: Evaluation;
  /** The faces that were evaluated, in the evaluation's order (the mistakes grid shows them). */
  data: FaceDataset;
  model: ExpressionModel;
  /** The data source as the user named it, and the split evaluated. */
  source: string;
  split: string;
  tta: TtaOption;
}

/** The report's sections, as headings: the tests look for them. */
export const REPORT_SECTIONS = {
  perClass: 'Per class',
  confusion: 'Confusion matrix',
  calibration: 'Calibration',
  mistakes: 'Most confident mistakes',
  training: 'Training',
} as const;

/** Writes `<dir>/index.html` and returns its path. */
export async function writeEvalReport(dir: string, input: ReportInput): Promise<string> {
  const { evaluation: e, model } = input;
  const sections = [
    headline(input),
    section(REPORT_SECTIONS.perClass, perClassTable(e)),
    section(
      REPORT_SECTIONS.confusion,
      `<p>Rows are the true class, columns the prediction. On the right each row is divided by its total, so the diagonal is the recall of each class.</p>
<div class="figures">${await chart(confusionMatrixChart(e.confusion, [...EXPRESSIONS], false), 'confusion-counts')}${await chart(confusionMatrixChart(e.confusion, [...EXPRESSIONS], true), 'confusion-share')}</div>`,
    ),
    section(
      REPORT_SECTIONS.calibration,
      `<p>Expected calibration error <strong>${e.ece.toFixed(4)}</strong>: the faces are put in ${CALIBRATION_BINS} equal-width bins by the
probability of their top class, and ECE is the face-weighted mean gap between each bin's accuracy and its mean confidence.
Red bars are that gap: above the blue bar the model is over-confident, below it under-confident.</p>
<div class="figures">${await chart(reliabilityChart(e.calibration), 'reliability')}</div>`,
    ),
    section(REPORT_SECTIONS.mistakes, await mistakesGrid(input)),
    ...(model.metadata['mien.history'] ? [section(REPORT_SECTIONS.training, await trainingCurves(model))] : []),
  ];
  const title = `mien eval · ${model.name} on ${input.source} (${input.split})`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${sections.join('\n')}
</main>
</body>
</html>
`;
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'index.html');
  await writeFileAtomic(path, html);
  return path;
}

const STYLE = `
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --soft: #f6f8fa; --accent: #4c78a8; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink); font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1140px; margin: 0 auto; padding: 32px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p { margin: 8px 0; max-width: 820px; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; background: var(--soft); padding: 1px 5px; border-radius: 4px; }
h1 code { font-size: 0.9em; padding: 1px 8px; }
.meta { color: var(--muted); margin: 0; display: flex; flex-wrap: wrap; gap: 2px 20px; }
.meta div { white-space: nowrap; }
.meta dt { display: inline; font-weight: 600; color: var(--ink); }
.meta dd { display: inline; margin: 0 0 0 5px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 14px; margin: 24px 0 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; background: var(--soft); }
.card .value { font-size: 30px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; min-width: 560px; }
th, td { padding: 6px 14px; text-align: right; border-bottom: 1px solid var(--line); }
th:first-child, td:first-child { text-align: left; }
thead th { font-size: 13px; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
tbody tr:nth-child(even) { background: var(--soft); }
tfoot td { font-weight: 600; border-top: 2px solid var(--line); border-bottom: none; }
td.bar { width: 160px; }
td.bar span { display: block; height: 10px; border-radius: 2px; background: var(--accent); }
.figures { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; margin-top: 12px; }
.figures svg { max-width: 100%; height: auto; }
.grid img { image-rendering: pixelated; max-width: 100%; border: 1px solid var(--line); border-radius: 4px; }
.empty { color: var(--muted); font-style: italic; }
`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const section = (title: string, body: string): string => `<section>\n<h2>${escapeHtml(title)}</h2>\n${body}\n</section>`;

/** A chart as inline SVG. Its ids get a prefix: vega numbers gradients and clip paths from 0 in every chart, and in one
 * document two charts' `gradient_0` would otherwise resolve to the first one's. */
async function chart(spec: ChartSpec, prefix: string): Promise<string> {
  const svg = await renderChart(spec);
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`)
    .replace('<svg ', `<svg role="img" aria-label="${prefix}" `);
}

/** The title, what was evaluated, and the four headline numbers. */
function headline({ evaluation: e, model, source, split, tta }: ReportInput): string {
  const m = model.metadata;
  const facts: [string, string | undefined][] = [
    ['model', model.path],
    ['architecture', m['mien.architecture']],
    ['data', `${source} (${split} split)`],
    ['test-time augmentation', ttaMode(tta)],
    ['temperature', model.temperature?.toString()],
    ['trained on', m['mien.training_data']],
    ['val accuracy at export', m['mien.val_accuracy'] && percent(Number(m['mien.val_accuracy']))],
  ];
  const cards: [string, string][] = [
    [percent(e.accuracy), 'accuracy'],
    [e.macroF1.toFixed(4), 'macro-F1'],
    [e.ece.toFixed(4), `expected calibration error (${CALIBRATION_BINS} bins)`],
    [e.n.toLocaleString('en-US'), 'faces'],
  ];
  return `<header>
<h1>Evaluation of <code>${escapeHtml(model.name)}</code></h1>
<dl class="meta">${facts
    .filter((f): f is [string, string] => f[1] !== undefined)
    .map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd></div>`)
    .join('')}</dl>
<div class="cards">${cards.map(([value, label]) => `<div class="card"><div class="value">${value}</div><div class="label">${escapeHtml(label)}</div></div>`).join('')}</div>
</header>`;
}

function perClassTable(e: Evaluation): string {
  const rows = e.perClass
    .map(
      (m, k) =>
        `<tr><td>${EXPRESSIONS[k]}</td><td>${m.precision.toFixed(4)}</td><td>${m.recall.toFixed(4)}</td><td>${m.f1.toFixed(4)}</td>` +
        `<td class="bar"><span style="width:${(100 * m.f1).toFixed(1)}%"></span></td><td>${m.support}</td></tr>`,
    )
    .join('\n');
  return `<table>
<thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th></th><th>support</th></tr></thead>
<tbody>
${rows}
</tbody>
<tfoot><tr><td>macro average</td><td></td><td></td><td>${e.macroF1.toFixed(4)}</td><td></td><td>${e.n}</td></tr></tfoot>
</table>`;
}

/** Faces per class in the mistakes grid. */
const MISTAKES_PER_CLASS = 8;

/** Per true class, the wrong predictions the model was surest of: where it is confidently wrong, or the label is. */
async function mistakesGrid({ evaluation: e, data }: ReportInput): Promise<string> {
  const rows: FaceGridRow[] = [];
  const clean: string[] = [];
  EXPRESSIONS.forEach((name, k) => {
    const worst = [...e.predicted.keys()]
      .filter((i) => data.labels[i] === k && e.predicted[i] !== k)
      .sort((a, b) => e.confidence[b]! - e.confidence[a]!)
      .slice(0, MISTAKES_PER_CLASS);
    if (worst.length === 0) {
      if (e.perClass[k]!.support > 0) clean.push(name);
      return;
    }
    rows.push({
      label: name,
      faces: worst.map((i) => faceAt(data, i)),
      captions: worst.map((i) => `${EXPRESSIONS[e.predicted[i]!]} ${Math.round(100 * e.confidence[i]!)}%`),
    });
  });
  if (rows.length === 0) return `<p class="empty">The model got every face right.</p>`;
  const none = clean.length > 0 ? `<p class="empty">No mistakes on ${clean.join(', ')}.</p>` : '';
  const png = await faceGrid(rows);
  return `<p>One row per true class: the misclassified faces the model was most sure of, with what it said under each. Some are the
model's errors, some are wrong labels.</p>
<div class="grid"><img alt="most confident mistakes per class" src="data:image/png;base64,${png.toString('base64')}"></div>
${none}`;
}

/** The curves of the training run stored in the model (mien.history), or why they cannot be drawn. */
async function trainingCurves(model: ExpressionModel): Promise<string> {
  let history;
  try {
    history = parseHistory(model.metadata['mien.history']!, `${model.path}'s mien.history`);
  } catch (err) {
    // A damaged history costs the curves, not the report.
    if (err instanceof HistoryError) return `<p class="empty">${escapeHtml(err.message)}</p>`;
    throw err;
  }
  return `<div class="figures">${await chart(trainingCurvesChart(history), 'curves')}</div>`;
}
