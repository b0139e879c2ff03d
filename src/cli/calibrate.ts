/** `mien calibrate`: fits a softmax temperature on held-out faces and stores it in the model as `mien.temperature`. */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { DataError, type FaceDataset } from '../data/index.js';
import { ALL_SPLITS, chooseSplit, datasetLogits, fitTemperature, TEMPERATURE_RANGE, type ChosenSplit } from '../eval/index.js';
import { writeOnnxMetadata } from '../export/metadata.js';
import { TEMPERATURE_KEY } from '../core/model-format.js';
import { loadExpressionModel, SHIPPED_MODELS, type ExpressionModel } from '../recognize/expression-model.js';
import { UsageError } from './errors.js';
import { loadForPrediction } from './load.js';
import { progressPrinter } from './progress.js';

interface CalibrateFlags {
  model: string;
  data: string;
  split?: string;
  out?: string;
}

/** The split to fit on: `requested`, else the source's val split, else all its faces when it has no splits at all. */
function calibrationSplit(source: string, splits: Record<string, FaceDataset>, requested?: string): ChosenSplit {
  const names = Object.keys(splits);
  const fallback = names.includes('val') ? 'val' : names.length === 1 && names[0] === ALL_SPLITS ? ALL_SPLITS : 'val';
  try {
    return chooseSplit(source, splits, requested ?? fallback);
  } catch (err) {
    // The test split would then no longer be unseen, and the training split is where the model is overconfident.
    if (requested === undefined && err instanceof DataError)
      throw new UsageError(`${err.message}; pass --split with faces the model was not trained on`);
    // a --split the data does not have (or no split's name at all) is a mistake in the command too
    if (err instanceof DataError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

async function loadModel(flags: CalibrateFlags): Promise<ExpressionModel> {
  if ((SHIPPED_MODELS as readonly string[]).includes(flags.model) && !flags.out) {
    throw new UsageError(`${flags.model} is a model shipped with mien; pass --out <file.onnx> to write a calibrated copy`);
  }
  const model = await loadExpressionModel(flags.model);
  if (!model.logits) throw new UsageError(`${model.path} has no 'logits' output, so it cannot be calibrated`);
  return model;
}

export const calibrateCommand = new Command('calibrate')
  .description(
    'fit a softmax temperature on held-out faces so the probabilities match how often the model is right; stores it in the model',
  )
  .requiredOption('--model <file.onnx>', 'the model to calibrate (changed in place unless --out is given)')
  .requiredOption('--data <csv|dir>', 'labelled faces: FER2013 CSV, Kaggle train.csv, or class folders')
  .option(
    '--split <name>',
    'Training, PublicTest, PrivateTest, train, val, test or all (default: val, or all faces of a source without splits)',
  )
  .option('--out <file.onnx>', 'write the calibrated model here instead of changing --model')
  .action(async (flags: CalibrateFlags) => {
    // The model first: a missing model should not cost a long data load before it is reported.
    const model = await loadModel(flags);
    const loaded = await loadForPrediction(flags.data);
    const split = calibrationSplit(flags.data, loaded.splits, flags.split);
    const { labels } = split.data;
    if (labels.length === 0) throw new UsageError(`the ${split.name} split of ${flags.data} has no faces to calibrate on`);
    if (labels.some((l) => l < 0))
      throw new UsageError(`${flags.data} has no labels (Kaggle test.csv?), so there is nothing to calibrate on`);

    const previous =
      model.temperature === undefined ? '' : ` (it was calibrated with T = ${model.temperature}; fitting again from its raw logits)`;
    process.stderr.write(`calibrating ${model.path} on the ${split.name} split of ${flags.data}: ${labels.length} faces${previous}\n`);
    const logits = await datasetLogits(model, split.data, { onProgress: progressPrinter('classifying') });
    const fit = fitTemperature(logits, labels);
    if (fit.atBound) {
      process.stderr.write(
        `note: T is at the end of the range searched (${TEMPERATURE_RANGE.min}–${TEMPERATURE_RANGE.max}); the data may be too few or too easy\n`,
      );
    }

    const out = flags.out ?? model.path;
    await mkdir(dirname(out), { recursive: true });
    await writeOnnxMetadata(model.path, { [TEMPERATURE_KEY]: String(fit.temperature) }, out);
    const rows: [string, string][] = [
      ['temperature', fit.temperature.toFixed(4)],
      ['NLL before', fit.nllBefore.toFixed(4)],
      ['NLL after', fit.nllAfter.toFixed(4)],
      ['ECE before', fit.eceBefore.toFixed(4)],
      ['ECE after', fit.eceAfter.toFixed(4)],
    ];
    const width = Math.max(...rows.map(([name]) => name.length));
    for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
    console.log(`wrote ${out}`);
  });
