/** `mien quantize`: the int8 (QDQ) version of an expression model, calibrated on training faces. */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import * as ort from 'onnxruntime-node';
import { writeFileAtomic } from '../core/atomic-write.js';
import { datasetSize, facesToInput, spreadSubset } from '../data/dataset.js';
import { chooseSplit } from '../eval/index.js';
import { quantizeOnnx, QUANTIZATION_KEY, SEVEN_BIT_OPERANDS, type SevenBitOperand } from '../export/quantize.js';
import { floatModelOf } from '../export/weights.js';
import { loadExpressionModel, SHIPPED_MODELS } from '../recognize/expression-model.js';
import { usage, UsageError } from './errors.js';
import { loadForPrediction } from './load.js';
import { positiveInt } from './parse.js';

interface QuantizeFlags {
  model: string;
  data: string;
  split: string;
  faces: number;
  sevenBit: SevenBitOperand;
  out: string;
}

export const quantizeCommand = new Command('quantize')
  .description('write the int8 version of an expression model (ONNX QDQ: int8 weights, uint8 activations measured on training faces)')
  .requiredOption('--model <name|file.onnx>', `the float model (${SHIPPED_MODELS.join(', ')} or a file)`)
  .requiredOption('--data <csv|dir>', 'faces to measure the activations on: FER2013 CSV, Kaggle train.csv, or class folders')
  .requiredOption('--out <file.onnx>', 'where to write the int8 model')
  .option('--split <name>', 'the split to take the faces from (default train: the faces you evaluate on must not shape the model)', 'train')
  .option('--faces <n>', 'how many faces, spread over the split (default 512)', positiveInt, 512)
  .addOption(
    new Option(
      '--seven-bit <operand>',
      "the convolutions' operand kept to 7 bits, so that CPUs without VNNI compute what the others do (default weights)",
    )
      .choices(SEVEN_BIT_OPERANDS)
      .default('weights'),
  )
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
    const calibration = facesToInput(faces, 0, datasetSize(faces));
    let float: Uint8Array = await readFile(model.path);
    if (model.metadata[QUANTIZATION_KEY] !== undefined) {
      process.stderr.write(`${model.path} is int8: quantising the float model read back from it\n`);
      float = await floatModelOf(float, model.path, { calibration, runtime: ort });
    }
    const int8 = await quantizeOnnx(float, { calibration, runtime: ort, sevenBit: flags.sevenBit });
    await mkdir(dirname(flags.out), { recursive: true });
    await writeFileAtomic(flags.out, int8);
    console.log(
      `wrote ${flags.out} (${(int8.byteLength / 2 ** 20).toFixed(2)} MB; the float model is ${(float.byteLength / 2 ** 20).toFixed(2)} MB)`,
    );
  });
