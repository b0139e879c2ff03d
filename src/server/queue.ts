/**
 * The server's bounded work queue: recognitions run `concurrency` at a time (onnxruntime already spreads each one over
 * every core, so more at once only adds memory), at most `maxWaiting` more wait their turn, and the rest are refused
 * at once so an overloaded server answers quickly instead of piling up requests it cannot finish.
 *
 * Why not piscina's queue (`maxQueue`, `signal`): piscina cancels a task that has started by terminating its worker
 * thread, and a recognition worker holds an expression model and detectors that take hundreds of milliseconds to load
 * again; a request past its deadline here leaves the queue only while it waits, and one that runs finishes. The
 * workers themselves (recognition-pool.ts) must also report a model that fails to load before the server listens,
 * where piscina would only fail the first task.
 */
import { MienError } from '../core/errors.js';

/** The queue is full: the caller should answer 503 and ask the client to come back after `retryAfterSeconds`. */
export class QueueFullError extends MienError {
  override name = 'QueueFullError';
  override readonly status = 503;
  override readonly code = 'busy';
  constructor(readonly retryAfterSeconds: number) {
    super(`the server is busy (every recognition slot and queue place is taken); retry after ${retryAfterSeconds} s`);
  }
}

interface Waiting {
  start: () => void;
  /** Takes the task out of the queue without running it. */
  cancel: (reason: unknown) => void;
}

export interface WorkQueueOptions {
  /** Tasks run at the same time. */
  concurrency: number;
  /** Tasks that may wait for a free slot; one more is refused with QueueFullError. */
  maxWaiting: number;
}

/** Seconds of work assumed per task until the first one has been timed. */
const INITIAL_TASK_SECONDS = 0.5;
/** Weight of the newest task in the moving average of task time. */
const AVERAGE_WEIGHT = 0.2;

export class WorkQueue {
  readonly concurrency: number;
  readonly maxWaiting: number;
  #running = 0;
  readonly #waiting: Waiting[] = [];
  #averageSeconds = INITIAL_TASK_SECONDS;
  #idle: (() => void)[] = [];

  constructor({ concurrency, maxWaiting }: WorkQueueOptions) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1))
      throw new RangeError(`concurrency must be a whole number ≥ 1, got ${concurrency}`);
    if (!(Number.isInteger(maxWaiting) && maxWaiting >= 0))
      throw new RangeError(`maxWaiting must be a whole number ≥ 0, got ${maxWaiting}`);
    this.concurrency = concurrency;
    this.maxWaiting = maxWaiting;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Moving average of how long a task runs, in seconds. */
  get averageTaskSeconds(): number {
    return this.#averageSeconds;
  }

  /** When a slot is likely free again: the work ahead divided among the slots, rounded up to whole seconds. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(((this.#running + this.#waiting.length) * this.#averageSeconds) / this.concurrency));
  }

  /**
   * Runs `task` when a slot is free (waiting tasks start in arrival order). Throws QueueFullError at once when the queue is full; rejects with the signal's
   * reason when `signal` aborts before the task has started (a task that has started always finishes).
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#running < this.concurrency) {
      this.#running++;
    } else {
      if (this.#waiting.length >= this.maxWaiting) throw new QueueFullError(this.retryAfterSeconds());
      await this.#waitForSlot(signal);
    }
    const started = performance.now();
    try {
      return await task();
    } finally {
      this.#running--;
      this.#averageSeconds += AVERAGE_WEIGHT * ((performance.now() - started) / 1000 - this.#averageSeconds);
      this.#next();
    }
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (this.#running === 0 && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #waitForSlot(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => entry.cancel(signal!.reason);
      const entry: Waiting = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        cancel: (reason) => {
          this.#waiting.splice(this.#waiting.indexOf(entry), 1);
          reject(reason);
          this.#next();
        },
      };
      this.#waiting.push(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #next(): void {
    // The freed slot is counted as taken here, not when the woken task resumes: a caller arriving in between must
    // not see it free.
    if (this.#running < this.concurrency && this.#waiting.length > 0) {
      this.#running++;
      this.#waiting.shift()!.start();
      return;
    }
    if (this.#running === 0 && this.#waiting.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
