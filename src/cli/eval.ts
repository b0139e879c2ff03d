import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { loadFaces, summarizeProblems, type LoadedFaces } from '../data/index.js';
import { allFaces, chooseSplit, classifyDataset, evaluateModel, evaluationJson, formatEvaluation, formatPredictionsCsv, writeEvalReport } from '../eval/index.js';
import { DEFAULT_MODEL, loadExpressionModel, SHIPPED_MODELS } from '../recognize/expression-model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError } from './errors.js';
import { progressPrinter } from './train.js';

const MODEL_HELP = `${SHIPPED_MODELS.join(' or ')} (a model shipped with mien; default ${DEFAULT_MODEL}) or an .onnx file`;

/** Loads the data and reports skipped rows on stderr, where they never mix with --json or CSV output. */
async function loadForPrediction(source: string): Promise<LoadedFaces> {
  const loaded = await loadFaces(source, { onProgress: progressPrinter('loading images') });
  const skipped = summarizeProblems(loaded.problems);
  if (skipped) process.stderr.write(`${skipped}\n`);
  return loaded;
}

interface EvalFlags {
  data: string;
  split?: string;
  model?: string;
  json?: boolean;
  report?: string;
  tta?: boolean;
}

export const evalCommand = new Command('eval')
  .description('measure a model on labelled faces: accuracy, macro-F1, per-class scores, confusion matrix, calibration')
  .requiredOption('--data <csv|dir>', 'labelled faces: FER2013 CSV, Kaggle train.csv, or class folders')
  .option('--split <name>', 'Training, PublicTest, PrivateTest, train, val, test or all (default: test, else val, else all)')
  .option('--model <name|file.onnx>', MODEL_HELP)
  .option('--json', 'print one JSON object with the metrics on stdout (progress and notes go to stderr)')
  .option('--report <dir>', 'also write a self-contained HTML report to <dir>/index.html')
  .option('--tta', 'test-time augmentation: average each face with its mirror image')
  .action(async (flags: EvalFlags) => {
    // The model first: a missing model should not cost a 40-second data load before it is reported.
    const model = await loadExpressionModel(flags.model);
    const loaded = await loadForPrediction(flags.data);
    const split = chooseSplit(flags.data, loaded.splits, flags.split);
    if (split.data.labels.some((l) => l < 0)) {
      throw new UsageError(`${flags.data} has no labels (Kaggle test.csv?), so there is nothing to score; \`mien predict-csv\` predicts them`);
    }
    process.stderr.write(`evaluating ${model.path} on the ${split.name} split of ${flags.data}: ${split.data.labels.length} faces${flags.tta ? ', with mirror TTA' : ''}\n`);
    const evaluation = await evaluateModel(model, split.data, { tta: flags.tta, onProgress: progressPrinter('classifying') });
    process.stdout.write(flags.json ? `${JSON.stringify(evaluationJson(evaluation))}\n` : formatEvaluation(evaluation));
    if (flags.report) {
      const file = await writeEvalReport(flags.report, { evaluation, data: split.data, model, source: flags.data, split: split.name, tta: !!flags.tta });
      process.stderr.write(`wrote ${file}\n`);
    }
  });

interface PredictCsvFlags {
  data: string;
  model?: string;
  out: string;
  tta?: boolean;
}

export const predictCsvCommand = new Command('predict-csv')
  .description('predict the expression of every face in a CSV (or folder): id, emotion id and the 7 probabilities per row')
  .requiredOption('--data <csv|dir>', 'faces: Kaggle test.csv (pixels, optional id), any FER2013 CSV, or class folders')
  .option('--model <name|file.onnx>', MODEL_HELP)
  .requiredOption('--out <predictions.csv>', 'where to write the predictions')
  .option('--tta', 'test-time augmentation: average each face with its mirror image')
  .action(async (flags: PredictCsvFlags) => {
    const model = await loadExpressionModel(flags.model);
    const faces = allFaces((await loadForPrediction(flags.data)).splits);
    const probabilities = await classifyDataset(model, faces, { tta: flags.tta, onProgress: progressPrinter('classifying') });
    await mkdir(dirname(flags.out), { recursive: true });
    await writeFileAtomic(flags.out, formatPredictionsCsv(faces.ids, probabilities));
    console.log(`wrote ${flags.out}: ${faces.ids.length} predictions by ${model.path}`);
  });
