import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A thread running the module at `url` (its compiled `.js` name, beside the caller). Run from source (tests and
 * benchmarks, under tsx) that module is the `.ts` file, and the thread registers tsx itself: Node 20 runs no --import
 * hook in worker threads.
 */
export function startModuleWorker(url: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (extname(fileURLToPath(import.meta.url)) !== '.ts') return new Worker(url, options);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(url.href.replace(/\.js$/, '.ts'));
  return new Worker(`import(${tsx}).then(({ register }) => { register(); return import(${entry}); })`, { ...options, eval: true });
}
