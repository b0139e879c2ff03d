#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../core/package-root.js';
import { pictureFormat } from '../core/picture.js';
import { formatSummary, listArchitectures, renderArchitecture, summarize } from '../models/index.js';
import { engineInfo } from '../train/engine.js';
import { exportRun } from '../export/index.js';
import { bestCheckpointOf } from '../train/run-folder.js';
import { RUN_FILES } from '../train/trainer.js';
import { calibrateCommand } from './calibrate.js';
import { dataCommand } from './data.js';
import { reportError, usage, UsageError } from './errors.js';
import { plotCommand } from './plot.js';
import { predictCommand } from './predict.js';
import { quantizeCommand } from './quantize.js';
import { serveCommand } from './serve.js';
import { videoCommand } from './video.js';
import { webCommand } from './web.js';
import { evalCommand, predictCsvCommand } from './eval.js';
import { resolveArchitecture, trainCommand } from './train.js';

const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

const program = new Command('mien')
  .description('facial expression recognition: train, evaluate and run FER models from TypeScript')
  .version(version, '-V, --version', "print mien's version")
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

// Commands built in their own modules need the program's exit override and help hint, or commander exits by itself.
for (const command of [
  trainCommand,
  predictCommand,
  videoCommand,
  serveCommand,
  webCommand,
  evalCommand,
  calibrateCommand,
  quantizeCommand,
  predictCsvCommand,
  plotCommand,
  dataCommand,
]) {
  program.addCommand(command.copyInheritedSettings(program));
}

program
  .command('export')
  .description('write the ONNX model of a run (its best checkpoint) or of one checkpoint file')
  .argument('<run>', 'run folder, or a .ckpt file (e.g. runs/x/last.ckpt for the last epoch)')
  .requiredOption('--out <file.onnx>', 'where to write the model')
  .action(async (run: string, flags: { out: string }) => {
    if (!existsSync(bestCheckpointOf(run)))
      throw new UsageError(`${run} is neither a run folder (no ${RUN_FILES.best}) nor a checkpoint file`);
    await exportRun(run, flags.out);
    console.log(`wrote ${flags.out}`);
  });

program
  .command('summary')
  .description('print an architecture as a Keras-style table with parameter counts and multiply-adds')
  .argument('<arch>', 'architecture name (see `mien models`) or ModelSpec JSON file')
  .option('--graph <file.svg|file.png>', 'also draw the architecture to this file')
  .action(async (arch: string, flags: { graph?: string }) => {
    if (flags.graph) usage(() => pictureFormat(flags.graph!));
    const spec = await resolveArchitecture(arch);
    console.log(formatSummary(summarize(spec)));
    if (flags.graph) {
      await renderArchitecture(spec, flags.graph);
      console.log(`wrote ${flags.graph}`);
    }
  });

program
  .command('models')
  .description('list the architectures mien can train')
  .action(() => {
    const rows = listArchitectures();
    const width = Math.max(...rows.map((r) => r.name.length));
    for (const r of rows) {
      const params = `${(r.params / 1e6).toFixed(2)} M params`;
      const macs = `${(r.macs / 1e6).toFixed(0)} M mult-adds`;
      console.log(`${r.name.padEnd(width)}  ${params.padStart(14)}  ${macs.padStart(16)}  ${r.description}`);
    }
  });

program
  .command('info')
  .description('show the training engine mien found (libtorch, CUDA, distributed backends)')
  .action(() => {
    const info = engineInfo();
    if (!info.available) {
      console.log(`training engine: not available — ${info.reason}`);
      return;
    }
    console.log(`training engine: libtorch ${info.torchVersion} (${info.libtorch}), CUDA ${info.cuda ? 'available' : 'not available'}`);
    const backends = info.distributedBackends;
    console.log(
      `distributed training: ${backends.length > 0 ? backends.join(', ') : 'none (sudo apt-get install -y libgloo-dev, then npm run build:addon)'}`,
    );
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
