/** The DNN face detector in Node: src/detect/dnn.ts on onnxruntime-node, with the model files read from models/. */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { nodeSessionOptions } from '../core/onnx-runtime.js';
import { packageRoot } from '../core/package-root.js';
import { startModuleWorker } from '../core/worker.js';
import { DETECTOR_MODEL_FILES, createFaceDetector, type DetectionOptions, type DetectorSession, type DnnFaceDetector } from './dnn.js';

export interface FaceDetectorOptions extends DetectionOptions {
  /**
   * onnxruntime threads. Default: all cores. From 2 on, the full-range model runs in a worker thread on one of them,
   * at the same time as the short-range model on the others: the detector's runs are too small for onnxruntime to
   * spread one over two cores (one thread is faster than two), but two runs at once use both.
   */
  threads?: number;
}

export interface SessionWorkerSetup {
  bytes: Uint8Array;
  threads: number;
}
export type ToSessionWorker = { id: number; input: Float32Array; dims: [number, number, number, number] };
export type FromSessionWorker =
  { ready: true } | { startError: string } | { id: number; output: Float32Array } | { id: number; error: string };

/** A detector model's session in a worker thread (src/detect/dnn-session-worker.ts) on `threads` onnxruntime threads. */
async function openSessionWorker(bytes: Uint8Array, threads: number): Promise<DetectorSession> {
  const worker = startModuleWorker(new URL('./dnn-session-worker.js', import.meta.url), { workerData: { bytes, threads } });
  const pending = new Map<number, { resolve: (output: Float32Array) => void; reject: (err: Error) => void }>();
  let nextId = 0;
  let stopped: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (message: FromSessionWorker) =>
      'startError' in message ? reject(new Error(`the detector's worker thread: ${message.startError}`)) : resolve(),
    );
  });
  // An idle worker must not keep the process alive; a run in flight must.
  worker.unref();
  const fail = (err: Error) => {
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', () => fail((stopped ??= new Error("the detector's worker thread stopped"))));
  worker.on('message', (message: FromSessionWorker) => {
    if (!('id' in message)) return;
    const request = pending.get(message.id)!;
    pending.delete(message.id);
    if (pending.size === 0) worker.unref();
    if ('error' in message) request.reject(new Error(message.error));
    else request.resolve(message.output);
  });
  return {
    run(input, dims) {
      if (stopped) return Promise.reject(stopped);
      const id = nextId++;
      worker.ref();
      const done = new Promise<Float32Array>((resolve, reject) => pending.set(id, { resolve, reject }));
      worker.postMessage({ id, input, dims } satisfies ToSessionWorker, [input.buffer as ArrayBuffer]);
      return done;
    },
    release: async () => void (await worker.terminate()),
  };
}

/** Loads the default DNN face detector. */
export async function loadFaceDetector(options: FaceDetectorOptions = {}): Promise<DnnFaceDetector> {
  const { threads = availableParallelism(), ...detection } = options;
  const read = (file: string) => readFile(join(packageRoot(), 'models', file));
  const [fullRange, shortRange] = await Promise.all([read(DETECTOR_MODEL_FILES.fullRange), read(DETECTOR_MODEL_FILES.shortRange)]);
  return createFaceDetector(
    {
      ort,
      models: { fullRange, shortRange },
      sessionOptions: nodeSessionOptions(Math.max(1, threads - 1)),
      openSession: async (role, bytes) => (role === 'fullRange' && threads >= 2 ? openSessionWorker(bytes, 1) : undefined),
    },
    detection,
  );
}
