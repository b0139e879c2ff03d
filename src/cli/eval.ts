import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { EXPRESSIONS } from '../core/labels.js';
import { pictureFormat } from '../core/picture.js';
import { scanFolder } from '../data/folder.js';
import { DataError, loadFaces, summarizeProblems, type DataProblem } from '../data/index.js';
import { problemText, summarizeSkipped } from '../data/problems.js';
import {
  allFaces,
  chooseSplit,
  classifyDataset,
  evaluateModel,
  evaluatePipeline,
  evaluationJson,
  formatEvaluation,
  formatPredictionsCsv,
  pickSplit,
  writeEvalReport,
} from '../eval/index.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { loadExpressionModel, type ExpressionModel } from '../recognize/expression-model.js';
import { createRecognizer } from '../recognize/recognizer.js';
import type { TtaOption } from '../recognize/tta.js';
import { usage, UsageError } from './errors.js';
import { loadForPrediction } from './load.js';
import { checkOutputFolder, outputFolder, STDIO } from './output.js';
import { progressPrinter } from './progress.js';
import { addRecognizerOptions, MODEL_HELP, recognizerOptions, ttaNote, ttaOption, type RecognizerFlags } from './recognizer-options.js';

interface EvalFlags extends RecognizerFlags {
  data: string;
  split?: string;
  strict?: boolean;
  json?: boolean;
  report?: string;
  confusion?: string;
}

export const evalCommand = addRecognizerOptions(
  new Command('eval')
    .description(
      'measure a model on labelled faces: accuracy, macro-F1, per-class scores, confusion matrix, calibration; with --detector, on class folders of whole photos through the full pipeline',
    )
    .requiredOption('--data <csv|dir>', 'labelled faces: FER2013 CSV, Kaggle train.csv, or class folders')
    .option('--split <name>', 'Training, PublicTest, PrivateTest, train, val, test or all (default: test, else val, else all)')
    .option('--strict', 'fail on the first bad row or image instead of skipping it')
    .option('--json', 'print one JSON object with the metrics on stdout (progress and notes go to stderr)')
    .option('--report <dir>', 'also write a self-contained HTML report to <dir>/index.html')
    .option('--confusion <file.svg|png>', 'also draw the confusion matrix (each row as shares of its true class) to this picture'),
  { detector: 'none' },
).action(async (flags: EvalFlags) => {
  if (flags.report !== undefined && flags.detector === 'none') await checkOutputFolder(flags.report, '--report');
  // A picture name mien cannot write is a mistake to report before the evaluation, not after it.
  if (flags.confusion) usage(() => pictureFormat(flags.confusion!));
  // The model first: a missing model should not cost a 40-second data load before it is reported.
  const model = await loadExpressionModel(flags.model);
  if (flags.detector !== 'none') return evalPhotos(model, flags);
  const loaded = await loadFaces(flags.data, { strict: flags.strict, onProgress: progressPrinter('loading images') });
  // Checked before the split is chosen: with every row bad, a CSV has no splits at all to choose from.
  if (Object.values(loaded.splits).every((d) => d.labels.length === 0)) throw noFacesError(flags.data, 'all', loaded.problems);
  const split = usage(() => chooseSplit(flags.data, loaded.splits, flags.split));
  if (split.data.labels.length === 0) throw noFacesError(flags.data, split.name, loaded.problems);
  const summary = summarizeProblems(loaded.problems);
  if (summary) process.stderr.write(`${summary}\n`);
  if (split.data.labels.some((l) => l < 0)) {
    throw new UsageError(
      `${flags.data} has no labels (Kaggle test.csv?), so there is nothing to score; \`mien predict-csv\` predicts them`,
    );
  }
  process.stderr.write(
    `evaluating ${model.path} on the ${split.name} split of ${flags.data}: ${split.data.labels.length} faces${ttaNote(flags.tta)}\n`,
  );
  const evaluation = await evaluateModel(model, split.data, { tta: flags.tta, onProgress: progressPrinter('classifying') });
  process.stdout.write(flags.json ? `${JSON.stringify(evaluationJson(evaluation))}\n` : formatEvaluation(evaluation));
  if (flags.report) {
    await outputFolder(flags.report, '--report');
    const file = await writeEvalReport(flags.report, {
      evaluation,
      data: split.data,
      model,
      source: flags.data,
      split: split.name,
      tta: flags.tta ?? false,
    });
    process.stderr.write(`wrote ${file}\n`);
  }
  if (flags.confusion) {
    // vega loads here, not with every `mien eval`
    const { confusionMatrixChart, writeChart } = await import('../plot/index.js');
    await writeChart(confusionMatrixChart(evaluation.confusion, [...EXPRESSIONS], true), flags.confusion);
    process.stderr.write(`wrote ${flags.confusion}\n`);
  }
});

/** `mien eval --detector`: class folders of whole photos through the full pipeline. */
async function evalPhotos(model: ExpressionModel, flags: EvalFlags): Promise<void> {
  if (flags.report) throw new UsageError('--report shows face crops; with --detector use --json for the figures');
  if (!(await stat(flags.data).catch(() => undefined))?.isDirectory())
    throw new UsageError(`--detector needs class folders of photos; ${flags.data} is not a folder`);
  const scan = await scanFolder(flags.data);
  const firstSkipped = scan.problems.find((p) => !p.warning);
  if (flags.strict && firstSkipped) throw new DataError(problemText(firstSkipped));
  const splits = Object.fromEntries([...scan.splits].map(([name, files]) => [name, files.map(({ path, label }) => ({ path, label }))]));
  const split = usage(() => pickSplit(flags.data, splits, flags.split, (all) => Object.values(all).flat()));
  if (split.data.length === 0) throw noFacesError(flags.data, split.name, scan.problems);
  const recognizer = await createRecognizer({ ...recognizerOptions(flags), model });
  process.stderr.write(
    `evaluating ${model.path} with the ${flags.detector} detector on the ${split.name} split of ${flags.data}: ${split.data.length} photos${ttaNote(flags.tta)}\n`,
  );
  const result = await evaluatePipeline(recognizer, split.data, { onProgress: progressPrinter('recognizing') });
  // The pipeline reads each photo only now; a strict run stops at the first it could not read, as a load would.
  const firstFailed = result.problems[0];
  if (flags.strict && firstFailed) throw new DataError(problemText(firstFailed));
  const problems = [...scan.problems, ...result.problems];
  if (result.photos.length === 0) throw noFacesError(flags.data, split.name, problems);
  const summary = summarizeProblems(problems);
  if (summary) process.stderr.write(`${summary}\n`);
  if (result.noFace.length > 0) {
    const shown = result.noFace.slice(0, 10);
    process.stderr.write(
      `no face found in ${result.noFace.length} photos (counted as wrong): ${shown.join(', ')}${result.noFace.length > shown.length ? ', …' : ''}\n`,
    );
  }
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ ...evaluationJson(result.evaluation), detector: flags.detector, noFaceFiles: result.noFace })}\n`,
    );
  } else {
    process.stdout.write(formatEvaluation(result.evaluation));
  }
}

/**
 * Nothing left to score is an error, in one line that says what was skipped: an accuracy of 0 over no faces would
 * read as a model that is always wrong.
 */
function noFacesError(source: string, split: string, problems: readonly DataProblem[]): DataError {
  const skipped = summarizeSkipped(problems);
  const where = split === 'all' ? source : `the ${split} split of ${source}`;
  return new DataError(`${where} has no usable faces to evaluate${skipped ? `: ${skipped}` : ''}`);
}

interface PredictCsvFlags {
  data: string;
  model?: string;
  out: string;
  tta?: TtaOption;
}

export const predictCsvCommand = new Command('predict-csv')
  .description('predict the expression of every face in a CSV (or folder): id, emotion id and the 7 probabilities per row')
  .requiredOption('--data <csv|dir>', 'faces: Kaggle test.csv (pixels, optional id), any FER2013 CSV, or class folders')
  .option('--model <name|file.onnx>', MODEL_HELP)
  .requiredOption('--out <predictions.csv>', 'where to write the predictions; - = stdout (the summary then goes to stderr)')
  .addOption(ttaOption())
  .action(async (flags: PredictCsvFlags) => {
    const model = await loadExpressionModel(flags.model);
    const faces = allFaces((await loadForPrediction(flags.data)).splits);
    const probabilities = await classifyDataset(model, faces, { tta: flags.tta, onProgress: progressPrinter('classifying') });
    const csv = formatPredictionsCsv(faces.ids, probabilities);
    if (flags.out === STDIO) {
      process.stdout.write(csv);
      process.stderr.write(`wrote ${faces.ids.length} predictions by ${model.path} to stdout\n`);
      return;
    }
    await mkdir(dirname(flags.out), { recursive: true });
    await writeFileAtomic(flags.out, csv);
    console.log(`wrote ${flags.out}: ${faces.ids.length} predictions by ${model.path}`);
  });
