/** `mien quantize`: the int8 (QDQ) version of an expression model, calibrated on training faces. */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { writeFileAtomic } from '../core/atomic-write.js';
import { datasetSize, facesToInput, spreadSubset } from '../data/dataset.js';
import { chooseSplit } from '../eval/index.js';
import { quantizeOnnx } from '../export/quantize.js';
import { loadExpressionModel, SHIPPED_MODELS } from '../recognize/expression-model.js';
import { usage, UsageError } from './errors.js';
import { loadForPrediction } from './load.js';
import { positiveInt } from './parse.js';

interface QuantizeFlags {
  model: string;
  data: string;
  split: string;
  faces: number;
  out: string;
}

export const quantizeCommand = new Command('quantize')
  .description('write the int8 version of an expression model (ONNX QDQ: int8 weights, uint8 activations measured on training faces)')
  .requiredOption('--model <name|file.onnx>', `the float model (${SHIPPED_MODELS.join(', ')} or a file)`)
  .requiredOption('--data <csv|dir>', 'faces to measure the activations on: FER2013 CSV, Kaggle train.csv, or class folders')
  .requiredOption('--out <file.onnx>', 'where to write the int8 model')
  .option('--split <name>', 'the split to take the faces from (default train: the faces you evaluate on must not shape the model)', 'train')
  .option('--faces <n>', 'how many faces, spread over the split (default 512)', positiveInt, 512)
  .action(async (flags: QuantizeFlags) => {
    // The model first: a missing or foreign model should not cost a long data load before it is reported.
    const model = await loadExpressionModel(flags.model, { threads: 1 });
    await model.dispose();
    const loaded = await loadForPrediction(flags.data);
    const { data, name } = usage(() => chooseSplit(flags.data, loaded.splits, flags.split));
    const faces = spreadSubset(data, flags.faces);
    if (datasetSize(faces) === 0) throw new UsageError(`the ${name} split of ${flags.data} has no faces to calibrate on`);
    process.stderr.write(
      `quantizing ${model.path}: activation ranges from ${datasetSize(faces)} faces of the ${name} split of ${flags.data}\n`,
    );
    const float = await readFile(model.path);
    const int8 = await quantizeOnnx(float, { calibration: facesToInput(faces, 0, datasetSize(faces)), runtime: ort });
    await mkdir(dirname(flags.out), { recursive: true });
    await writeFileAtomic(flags.out, int8);
    console.log(
      `wrote ${flags.out} (${(int8.byteLength / 2 ** 20).toFixed(2)} MB; ${model.path} is ${(float.byteLength / 2 ** 20).toFixed(2)} MB)`,
    );
  });
