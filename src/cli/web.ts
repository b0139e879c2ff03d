import { Command } from 'commander';
import { DEFAULT_HOST } from '../server/listen.js';
import { createWebServer, DEFAULT_WEB_PORT } from '../webapp/server.js';
import { port } from './parse.js';

interface WebFlags {
  port: number;
  host: string;
  model?: string;
}

export const webCommand = new Command('web')
  .description('serve the live webcam page: faces and expressions in the browser, computed on your machine')
  .option('--port <n>', 'port to listen on (0 = any free port)', port, DEFAULT_WEB_PORT)
  .option(
    '--host <address>',
    'address to listen on (0.0.0.0 = every network; browsers give the camera only to localhost or https)',
    DEFAULT_HOST,
  )
  .option(
    '--model <name|file.onnx>',
    'expression model the page runs: lite (default: the fastest in the browser), fast, accurate, or an .onnx file',
  )
  .action(async (flags: WebFlags) => {
    const server = await createWebServer({ model: flags.model });
    if ('missing' in server.model) process.stderr.write(`mien: ${server.model.missing}\n`);
    const url = await server.listen(flags.port, flags.host);
    const model = 'missing' in server.model ? 'no expression model' : `model ${server.model.name}`;
    console.log(`mien: webcam page at ${url} (${model}); Ctrl-C stops`);
    const stop = () => {
      server.close().then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`mien: error while stopping: ${err.message}\n`);
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
