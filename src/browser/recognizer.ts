/**
 * The recognition pipeline in the browser: the same detector, crop and classifier as in Node (src/recognize/), on
 * onnxruntime-web, reading images, videos, canvases, bitmaps and ImageData.
 */
import type { OnnxRuntime, InferenceSession } from '../core/onnx-runtime.js';
import { createFaceDetector, DETECTOR_MODEL_FILES } from '../detect/dnn.js';
import { recognizerConfig, IDENTITY_FRAMING, type RecognizerConfigOptions } from '../recognize/config.js';
import { createExpressionModel, ModelError, type ExpressionModel } from '../recognize/expression-classifier.js';
import type { FaceDetector } from '../recognize/faces.js';
import { createPipeline, type Recognizer } from '../recognize/pipeline.js';
import { browserImageToRgb, type BrowserImage } from './image.js';
import { importOnnxRuntimeWeb } from './onnx-runtime-web.js';

/** A model file: its URL (fetched) or its bytes. */
export type ModelSource = string | URL | Uint8Array;

export interface BrowserRecognizerOptions extends Omit<RecognizerConfigOptions, 'model' | 'detector' | 'threads'> {
  /**
   * Where the model files are served: a folder URL holding `fast.onnx` and the detector's `face-detector.onnx` and
   * `face-detector-short.onnx` (the package's `models/` folder, copied next to the page). Default `./models/`.
   */
  modelsUrl?: string | URL;
  /** The expression model: a shipped name in `modelsUrl` (`fast`, `accurate`, `lite`), a URL, bytes, or a loaded model. Default `fast`. */
  model?: ModelSource | ExpressionModel;
  /** `dnn` (default), `none` (each image is one face crop), or your own FaceDetector. */
  detector?: 'dnn' | 'none' | FaceDetector;
  /**
   * onnxruntime-web, if the page has it already; by default it is imported when the recognizer is created: its
   * wasm-only build, or the WebGPU one when `sessionOptions` name `webgpu`.
   */
  ort?: OnnxRuntime;
  /** Execution providers and threads (onnxruntime-web's session options); default wasm. */
  sessionOptions?: InferenceSession.SessionOptions;
}

async function bytesOf(source: ModelSource, base: URL): Promise<{ bytes: Uint8Array; url: string }> {
  if (source instanceof Uint8Array) return { bytes: source, url: '(bytes)' };
  const url = new URL(source, base);
  const response = await fetch(url).catch((err: Error) => {
    throw new ModelError(`cannot download ${url.href}: ${err.message}`);
  });
  if (!response.ok) throw new ModelError(`${url.href}: HTTP ${response.status}`);
  return { bytes: new Uint8Array(await response.arrayBuffer()), url: url.href };
}

const isShippedName = (s: unknown): s is string => typeof s === 'string' && /^[a-z][a-z0-9-]*$/.test(s);

/**
 * Fetches the models and returns the recognizer: `recognize(image)`, `recognizeSingle`, `analyze` (with per-stage
 * timings), `warmup()`, `dispose()`, as in Node.
 *
 * @example
 * ```ts
 * import { createRecognizer, drawFaces } from 'mien-fer';          // the browser entry
 * const recognizer = await createRecognizer({ modelsUrl: '/models/' });
 * const faces = await recognizer.recognize(document.querySelector('img')!);
 * console.log(faces[0].expression);                                // 'happy'
 * drawFaces(canvas.getContext('2d')!, faces);
 * ```
 */
export async function createRecognizer(options: BrowserRecognizerOptions = {}): Promise<Recognizer<BrowserImage>> {
  const { modelsUrl = './models/', model: modelOption = 'fast', detector: detectorOption, ort: given, sessionOptions, ...rest } = options;
  const config = recognizerConfig({ ...rest, detector: typeof detectorOption === 'object' ? undefined : detectorOption });
  const ort = given ?? (await importOnnxRuntimeWeb(sessionOptions));
  const base = new URL(modelsUrl, typeof document === 'undefined' ? self.location.href : document.baseURI);
  let model: ExpressionModel;
  if (typeof modelOption === 'object' && !(modelOption instanceof Uint8Array) && !(modelOption instanceof URL)) {
    model = modelOption;
  } else {
    const source = isShippedName(modelOption) ? `${modelOption}.onnx` : modelOption;
    const { bytes, url } = await bytesOf(source, base);
    const name = isShippedName(modelOption)
      ? modelOption
      : url
          .split('/')
          .at(-1)!
          .replace(/\.onnx$/i, '');
    model = await createExpressionModel({ ort, bytes, name, path: url, sessionOptions });
  }
  config.model = model.name;
  let detector: FaceDetector | 'none';
  if (typeof detectorOption === 'object') {
    detector = detectorOption;
  } else if (config.detector === 'none') {
    detector = 'none';
    config.framing = IDENTITY_FRAMING;
  } else {
    const [fullRange, shortRange] = await Promise.all([
      bytesOf(DETECTOR_MODEL_FILES.fullRange, base),
      bytesOf(DETECTOR_MODEL_FILES.shortRange, base),
    ]);
    const runtime = { ort, models: { fullRange: fullRange.bytes, shortRange: shortRange.bytes }, sessionOptions };
    detector = await createFaceDetector(runtime, { minFaceSize: config.minFaceSize, scoreThreshold: config.minConfidence });
  }
  return createPipeline({
    model,
    detector,
    config,
    decode: async (input: BrowserImage, maxPixels) => browserImageToRgb(input, maxPixels),
    owns: { model: model !== modelOption, detector: typeof detectorOption !== 'object' },
  });
}
