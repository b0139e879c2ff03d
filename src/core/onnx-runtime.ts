/**
 * The part of onnxruntime that mien's inference code uses. onnxruntime-node and onnxruntime-web both export it (from
 * onnxruntime-common), so the detector and the expression classifier take it as a parameter and run unchanged in
 * Node and in the browser.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';

export interface OnnxRuntime {
  InferenceSession: typeof InferenceSession;
  Tensor: typeof Tensor;
}

export type { InferenceSession };

/**
 * onnxruntime-node session options: `threads` intra-op threads, one graph at a time (the parallelism is inside each
 * operator), and idle threads that sleep instead of spinning. Spinning keeps every core busy between runs, taking it
 * from the JavaScript that runs between calls (the detector's resampling, the face crops) and from other processes.
 */
export function nodeSessionOptions(threads: number): InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } };
}
