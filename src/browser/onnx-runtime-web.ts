/**
 * onnxruntime-web comes in two builds: the default one (`onnxruntime-web`) carries the WebGPU execution provider, and
 * its wasm is compiled for it (asynchronous GPU calls from inside the kernels); `onnxruntime-web/wasm` runs the CPU
 * kernels alone. On the CPU the wasm-only build runs mien's `fast` model in 3.6 ms against 4.8–5.7 ms for the default
 * one in headless Chromium, one thread (npm run bench:web measures the page on both). So the WebGPU build is loaded
 * only when WebGPU is asked for.
 */
import type { InferenceSession, OnnxRuntime } from '../core/onnx-runtime.js';

/** Whether these session options ask for the WebGPU execution provider. */
export function wantsWebGpu(sessionOptions: InferenceSession.SessionOptions | undefined): boolean {
  return (sessionOptions?.executionProviders ?? []).some(
    (provider) => (typeof provider === 'string' ? provider : provider.name) === 'webgpu',
  );
}

/**
 * The onnxruntime-web build for these session options, imported when first needed (a chunk of its own in a bundled
 * page): the WebGPU build when they name `webgpu`, the wasm-only one otherwise.
 *
 * @example
 * ```ts
 * const ort = await importOnnxRuntimeWeb({ executionProviders: ['wasm'] });   // onnxruntime-web/wasm
 * ```
 */
export async function importOnnxRuntimeWeb(sessionOptions?: InferenceSession.SessionOptions): Promise<OnnxRuntime> {
  return (wantsWebGpu(sessionOptions) ? await import('onnxruntime-web') : await import('onnxruntime-web/wasm')) as unknown as OnnxRuntime;
}
