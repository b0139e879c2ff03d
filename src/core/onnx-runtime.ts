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
 * operator), threads that spin while a run lasts and sleep once it ends. Sleeping through a run, each operator has to
 * wake its threads again, which at batch 1 is a good part of a small model's time (`npm run bench:pipeline`, five
 * runs: `fast` 0.89–1.28 ms a face, 1.00–1.27 with sleeping threads); spinning between runs too would keep every core
 * busy, taking it from the JavaScript that runs between calls (the detector's resampling, the face crops) and from
 * other processes. On cores a training run keeps busy, spinning is the slower (2.6 against 2.1 ms a face, 2 ms apart).
 */
export function nodeSessionOptions(threads: number): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '1' }, force_spinning_stop: '1' } },
  };
}
