import { datasetSize, subset, type FaceDataset } from '../data/dataset.js';
import { DataError, loadFaces, splitStratified, type DataProblem, type LoadOptions } from '../data/index.js';
import type { TrainConfig } from './config.js';

export interface TrainingData {
  train: FaceDataset;
  val: FaceDataset;
  /** Where each set came from, for the log, e.g. "val: PublicTest rows of fer2013.csv". */
  description: string[];
  problems: DataProblem[];
}

const labelled = (d: FaceDataset): FaceDataset => {
  const keep: number[] = [];
  d.labels.forEach((l, i) => l >= 0 && keep.push(i));
  return keep.length === datasetSize(d) ? d : subset(d, keep);
};

/**
 * Picks the training and validation sets the way users expect: the source's own splits when it has them
 * (Usage column, train/ and val/ folders), else a separate --val source, else a stratified seeded hold-out.
 */
export async function loadTrainingData(
  config: Pick<TrainConfig, 'data' | 'val' | 'valFraction' | 'seed'>,
  options: LoadOptions = {},
): Promise<TrainingData> {
  const source = await loadFaces(config.data, options);
  const problems = [...source.problems];
  const { splits } = source;
  if (source.format === 'kaggle-test-csv') {
    throw new DataError(`${config.data} has no labels (a Kaggle test.csv); use it with \`mien predict-csv\`, train on train.csv`);
  }
  const main = splits['train'] ?? splits['all'];
  if (!main) throw new DataError(`${config.data} has no training split (found: ${Object.keys(splits).join(', ') || 'nothing'})`);
  let train = labelled(main);
  const description = [`train: ${datasetSize(train)} faces from ${config.data}${splits['train'] ? ' (training split)' : ''}`];

  let val: FaceDataset;
  if (config.val) {
    const valSource = await loadFaces(config.val, options);
    problems.push(...valSource.problems);
    const v = valSource.splits['val'] ?? valSource.splits['all'] ?? valSource.splits['test'];
    if (!v) throw new DataError(`${config.val} has no validation data`);
    val = labelled(v);
    description.push(`val: ${datasetSize(val)} faces from ${config.val}`);
  } else if (splits['val']) {
    val = labelled(splits['val']);
    description.push(`val: ${datasetSize(val)} faces from ${config.data} (validation split)`);
  } else {
    if (!(config.valFraction > 0 && config.valFraction < 1))
      throw new DataError(`--val-fraction must be between 0 and 1, got ${config.valFraction}`);
    [train, val] = splitStratified(train, [1 - config.valFraction, config.valFraction], config.seed) as [FaceDataset, FaceDataset];
    description[0] = `train: ${datasetSize(train)} faces from ${config.data}`;
    description.push(
      `val: ${datasetSize(val)} faces held out (${Math.round(config.valFraction * 100)} %, stratified, seed ${config.seed})`,
    );
  }
  if (datasetSize(val) === 0) throw new DataError('the validation set is empty: give --val or a larger --val-fraction');
  return { train, val, description, problems };
}
