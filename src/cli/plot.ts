import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseHistory, renderTrainingCurves } from '../plot/index.js';
import { RUN_FILES } from '../train/trainer.js';
import { UsageError } from './errors.js';

export const plotCommand = new Command('plot')
  .description('draw the training curves of a run (cost, training and validation accuracy, learning rate) into the run folder')
  .argument('<run>', 'run folder (holds history.json)')
  .action(async (run: string) => {
    const path = join(run, RUN_FILES.history);
    if (!existsSync(path)) throw new UsageError(`${run} has no ${RUN_FILES.history} (is it a training run folder?)`);
    const paths = await renderTrainingCurves(parseHistory(await readFile(path, 'utf8'), path), run);
    console.log(`wrote ${paths.svg}`);
    console.log(`wrote ${paths.png}`);
  });
