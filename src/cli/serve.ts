import { Command, Option } from 'commander';
import { DETECTOR_NAMES, type DetectorName } from '../detect/registry.js';
import { DEFAULT_RECOGNIZER_CONFIG as DEFAULTS } from '../recognize/config.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../server/listen.js';
import { nonNegativeInt, port, positiveFloat, positiveInt } from './parse.js';
import { MODEL_HELP } from './recognizer-options.js';

interface ServeFlags {
  port: number;
  host: string;
  model?: string;
  detector: DetectorName;
  concurrency: number;
  queue: number;
  timeout: number;
  maxBody: number;
  maxPixels: number;
  maxMemory: number;
  log?: boolean;
  cors?: boolean | string[];
}

export const serveCommand = new Command('serve')
  .description('serve recognition over HTTP: POST /v1/recognize, GET /v1/models, GET /healthz, API docs at /docs')
  .option('--port <n>', 'port to listen on (0 = any free port)', port, DEFAULT_PORT)
  .option('--host <address>', 'address to listen on (0.0.0.0 = every network)', DEFAULT_HOST)
  .option('--model <name|file.onnx>', MODEL_HELP)
  .addOption(
    new Option('--detector <name>', 'face detector when a request names none').choices([...DETECTOR_NAMES]).default(DEFAULTS.detector),
  )
  .option('--concurrency <n>', 'recognitions running at once', positiveInt, 1)
  .option('--queue <n>', 'requests waiting for a recognition at most; more are answered 503 with Retry-After', nonNegativeInt, 32)
  .option('--timeout <s>', 'seconds a request may take to arrive and to reach a recognition', positiveFloat, 30)
  .option('--max-body <MiB>', 'largest request body, in MiB', positiveFloat, 20)
  .option('--max-pixels <n>', 'refuse images larger than this many pixels', positiveFloat, DEFAULTS.maxPixels)
  .option(
    '--max-memory <MiB>',
    'resident memory above which new requests are answered 503 (health checks still answered)',
    positiveFloat,
    2048,
  )
  .option('--log', 'log every request (JSON lines on stdout)')
  .option('--cors [origins...]', 'let web pages on other origins call the API: any, or only the origins listed (default: none)')
  .action(async (flags: ServeFlags) => {
    // fastify and its plugins load here, not with every mien command
    const { createServer } = await import('../server/server.js');
    const server = await createServer({
      model: flags.model,
      detector: flags.detector,
      concurrency: flags.concurrency,
      maxQueue: flags.queue,
      timeoutMs: flags.timeout * 1000,
      bodyLimit: Math.round(flags.maxBody * 1024 * 1024),
      maxPixels: flags.maxPixels,
      maxMemory: Math.round(flags.maxMemory * 1024 * 1024),
      logger: flags.log ?? false,
      cors: flags.cors ?? false,
    });
    const url = await server.listen({ port: flags.port, host: flags.host }).catch(async (err: unknown) => {
      await server.close(); // its recognition workers would keep the process alive
      throw err;
    });
    console.log(`mien: serving ${server.model.name} on ${url} (detector ${flags.detector}); API docs at ${url}/docs`);

    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`mien: ${signal} again: stopping without waiting\n`);
        process.exit(1);
      }
      stopping = true;
      const n = server.inFlight;
      process.stderr.write(
        `mien: ${signal}: finishing ${n} request${n === 1 ? '' : 's'} in flight, then stopping (${signal} again stops at once)\n`,
      );
      server.close().then(
        () => process.stderr.write('mien: stopped\n'),
        (err: Error) => {
          process.stderr.write(`mien: error while stopping: ${err.message}\n`);
          process.exitCode = 1;
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
