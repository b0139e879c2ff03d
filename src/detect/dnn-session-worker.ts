/**
 * A worker thread holding one detector model's onnxruntime-node session (src/detect/dnn-node.ts starts it): batches
 * come in, detection rows go back, both transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { nodeSessionOptions } from '../core/onnx-runtime.js';
import { openDetectorSession } from './dnn.js';
import type { FromSessionWorker, SessionWorkerSetup, ToSessionWorker } from './dnn-node.js';

const port = parentPort!;
const post = (message: FromSessionWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const { bytes, threads } = workerData as SessionWorkerSetup;
try {
  const session = await openDetectorSession(ort, bytes, nodeSessionOptions(threads));
  port.on('message', async ({ id, input, dims }: ToSessionWorker) => {
    try {
      const output = await session.run(input, dims);
      post({ id, output }, [output.buffer as ArrayBuffer]);
    } catch (err) {
      post({ id, error: (err as Error).message });
    }
  });
  post({ ready: true });
} catch (err) {
  post({ startError: (err as Error).message });
}
