/**
 * The recognition worker threads of `mien serve` (see recognition-worker.ts), one job each at a time. The server's
 * WorkQueue decides when a job may start; the pool only hands it to a free worker and brings back its answer.
 */
import type { Worker } from 'node:worker_threads';
import { MienError } from '../core/errors.js';
import { startModuleWorker } from '../core/worker.js';
import type { DetectorName } from '../detect/registry.js';
import type { RecognizerConfig } from '../recognize/config.js';
import type { RecognitionResult } from './openapi.js';

export interface WorkerSetup {
  modelPath: string;
  /** The detector loaded at start (the one requests get by default). */
  detector: DetectorName;
  maxPixels: number;
}

export interface RecognitionJob {
  /** The encoded image, as it came in the request. */
  image: Uint8Array;
  /** The request's recognizer settings; the rest are the pipeline's defaults. */
  settings: Pick<RecognizerConfig, 'detector' | 'minFaceSize' | 'minConfidence' | 'maxFaces' | 'tta'>;
}

/**
 * An error as it crosses postMessage, which keeps no prototype: its name and message, and for a MienError what the
 * server and the CLI need to report it (status, code, exit code).
 */
export interface ErrorMessage {
  name: string;
  message: string;
  mien?: { status: number; code?: string; exitCode: number };
}

/** An error thrown in a worker, as the message that carries it to the pool. */
export function errorMessage(err: unknown): ErrorMessage {
  const name = (err as Error | undefined)?.name ?? 'Error';
  const message = (err as Error | undefined)?.message ?? String(err);
  if (!(err instanceof MienError)) return { name, message };
  return { name, message, mien: { status: err.status, code: err.code, exitCode: err.exitCode } };
}

/**
 * The error again on the pool's side: a MienError (same name, message, status, code and exit code) when it was one,
 * so the server answers it as it would have in this thread; anything else stays a plain Error, a 500.
 */
export function reviveError({ name, message, mien }: ErrorMessage): Error {
  const err = mien ? new MienError(message, mien) : new Error(message);
  err.name = name;
  return err;
}

export type ToWorker = { id: number; job: RecognitionJob };
export type FromWorker =
  { ready: true } | { startError: ErrorMessage } | { id: number; result: RecognitionResult } | { id: number; error: ErrorMessage };

/** A thread running recognition-worker, the module beside this one. */
const startWorker = (setup: WorkerSetup): Worker =>
  startModuleWorker(new URL('./recognition-worker.js', import.meta.url), { workerData: setup });

interface Pending {
  resolve: (result: RecognitionResult) => void;
  reject: (err: Error) => void;
}

/** One worker thread and the job it is running. */
class PoolWorker {
  readonly thread: Worker;
  /** Resolves once the model and the default detector are loaded; rejects with the reason they are not. */
  readonly ready: Promise<void>;
  busy = false;
  #pending?: Pending & { id: number };
  #nextId = 0;

  constructor(setup: WorkerSetup, onDeath: (worker: PoolWorker, started: boolean) => void) {
    this.thread = startWorker(setup);
    let started = false;
    this.ready = new Promise((resolve, reject) => {
      this.thread.on('message', (message: FromWorker) => {
        if ('ready' in message) {
          started = true;
          resolve();
          return;
        }
        if ('startError' in message) return reject(reviveError(message.startError));
        if (this.#pending?.id !== message.id) return;
        const { resolve: done, reject: fail } = this.#pending;
        this.#pending = undefined;
        if ('result' in message) done(message.result);
        else fail(reviveError(message.error));
      });
      const die = (err: Error) => {
        reject(err);
        this.#pending?.reject(err);
        this.#pending = undefined;
        onDeath(this, started);
      };
      this.thread.on('error', (err) => die(new Error(`a recognition worker failed: ${err.message}`)));
      this.thread.on('exit', (code) => die(new Error(`a recognition worker stopped (exit code ${code})`)));
    });
    // Nobody may be waiting for a replacement worker when its start fails; the next job that uses it gets the error.
    this.ready.catch(() => {});
  }

  run(job: RecognitionJob): Promise<RecognitionResult> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending = { id, resolve, reject };
      this.thread.postMessage({ id, job } satisfies ToWorker);
    });
  }
}

export class RecognitionPool {
  readonly #setup: WorkerSetup;
  readonly #workers: PoolWorker[] = [];
  #closed = false;

  private constructor(setup: WorkerSetup) {
    this.#setup = setup;
  }

  /** Starts `size` workers and waits until each has loaded the model and the default detector. */
  static async start(size: number, setup: WorkerSetup): Promise<RecognitionPool> {
    const pool = new RecognitionPool(setup);
    for (let i = 0; i < size; i++) pool.#workers.push(pool.#spawn());
    try {
      await Promise.all(pool.#workers.map((w) => w.ready));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Runs a job on a free worker. The caller runs at most `size` jobs at once (the server's WorkQueue does). */
  async run(job: RecognitionJob): Promise<RecognitionResult> {
    const worker = this.#workers.find((w) => !w.busy);
    if (!worker) throw new Error('internal: more recognition jobs than workers');
    worker.busy = true;
    try {
      await worker.ready;
      return await worker.run(job);
    } finally {
      worker.busy = false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.thread.terminate()));
  }

  #spawn(): PoolWorker {
    return new PoolWorker(this.#setup, (dead, started) => {
      // A worker that died while working is replaced, so one failure costs one answer (500), not the server's
      // capacity; one that could not even start is not, or a missing model would start workers forever.
      const i = this.#workers.indexOf(dead);
      if (!this.#closed && started && i >= 0) this.#workers[i] = this.#spawn();
    });
  }
}
