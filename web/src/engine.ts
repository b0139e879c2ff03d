/**
 * The recognition engine of the page: mien's detector, crop and expression classifier (the same TypeScript as in
 * Node) on onnxruntime-web, with the time each stage takes. WebGPU when the browser has an adapter, else wasm with
 * threads when the page is cross-origin isolated (`mien web` sends the headers), one thread otherwise.
 */
import type * as OrtWeb from 'onnxruntime-web';
import {
  analyzeFaces,
  createExpressionModel,
  createFaceDetector,
  DEFAULT_RECOGNIZER_CONFIG as DEFAULTS,
  MienError,
  rawToRgb,
  type DnnFaceDetector,
  type ExpressionModel,
  type RecognizedFace,
  type RgbImage,
} from 'mien-fer';
// What the page and `mien web` agree on (where the models are listed): the server's side of the page, not the package's API.
import { MANIFEST_FILE, MODELS_PATH, type ModelManifest } from '../../src/webapp/protocol.js';

/**
 * How hard the detector looks, from slowest to fastest:
 * - `thorough`: as `mien predict` does, down to 48-px faces, in tiles on large photos (photos);
 * - `whole`: both models, for faces down to an eighth of the frame's larger side (live, when asked for far faces);
 * - `near`: the short-range model alone on the whole frame, for the large faces before a webcam (live).
 */
export type Search = 'thorough' | 'whole' | 'near';

/** Whole-frame searches look for faces at least this fraction of the frame's larger side: then one view needs no tiles. */
const WHOLE_MIN_FACE_FRACTION = 1 / 8;

/** A problem the page shows as a message, not a stack trace: a missing model, a failed download. */
export class EngineError extends MienError {
  override name = 'EngineError';
}

/** Milliseconds spent per stage for one frame. */
export interface StageTimes {
  /** Canvas pixels to the RGB image the detector reads. */
  capture: number;
  detect: number;
  /** Crop, align and run the expression model. */
  classify: number;
}

export interface Analysis {
  faces: RecognizedFace[];
  times: StageTimes;
}

export interface EngineSettings {
  /** `webgpu` or `wasm`; default: WebGPU when there is an adapter. */
  backend?: string | null;
  /** wasm threads; default: half the cores (at most 4) when cross-origin isolated, else 1. */
  threads?: number | null;
}

export interface Engine {
  /** What runs the models, for the page: "wasm, 2 threads" or "WebGPU". */
  readonly backend: string;
  readonly model: ExpressionModel;
  /** Faces and stage times for one frame. */
  analyze(pixels: ImageData, search: Search): Promise<Analysis>;
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

async function download(url: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new EngineError(`cannot download ${url}: ${(err as Error).message}`);
  }
  if (!response.ok) throw new EngineError(`${url}: HTTP ${response.status}`);
  return response;
}

/** A model file's bytes; the browser's cache keeps it, its URL changing only with its content. */
const fetchModel = async (url: string): Promise<Uint8Array> => new Uint8Array(await (await download(url)).arrayBuffer());

type Ort = typeof OrtWeb;

async function chooseBackend(
  ort: Ort,
  settings: EngineSettings,
): Promise<{ options: OrtWeb.InferenceSession.SessionOptions; description: string }> {
  const wantGpu = settings.backend ? settings.backend === 'webgpu' : true;
  const gpu = (navigator as GpuNavigator).gpu;
  if (wantGpu && gpu && (await gpu.requestAdapter().catch(() => null))) {
    return { options: { executionProviders: ['webgpu'] }, description: 'WebGPU' };
  }
  // Half the cores, as onnxruntime-web's own default: the page needs the rest to decode and show the video, and the
  // models are small enough that more threads mostly wait for each other (npm run bench:web measures 1 against 2).
  const threads = settings.threads ?? Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2));
  // Threads need SharedArrayBuffer, which browsers only give cross-origin isolated pages.
  ort.env.wasm.numThreads = crossOriginIsolated ? threads : 1;
  const n = ort.env.wasm.numThreads;
  return { options: { executionProviders: ['wasm'] }, description: `wasm, ${n} thread${n === 1 ? '' : 's'}` };
}

export async function createEngine(settings: EngineSettings = {}): Promise<Engine> {
  // Imported on its own, so onnxruntime-web gets a chunk of its own: its wasm threads are workers started from that
  // chunk's URL, and must not run the page's code.
  const ort = await import('onnxruntime-web');
  const { options, description } = await chooseBackend(ort, settings);
  const manifest = (await (await download(MODELS_PATH + MANIFEST_FILE)).json()) as ModelManifest;
  // `mien web` explains a missing model in the manifest.
  if ('missing' in manifest.expression) throw new EngineError(manifest.expression.missing);
  const { name, url } = manifest.expression;
  const [fullRange, shortRange, expression] = await Promise.all([
    fetchModel(manifest.detector.fullRange),
    fetchModel(manifest.detector.shortRange),
    fetchModel(url),
  ]);
  const model = await createExpressionModel({ ort, bytes: expression, name, path: url, sessionOptions: options });
  const runtime = { ort, models: { fullRange, shortRange }, sessionOptions: options };
  // A detector per search and face size (each holds its own sessions), made when first needed and kept.
  const detectors = new Map<string, Promise<DnnFaceDetector>>();
  const detectorFor = (search: Search, width: number, height: number): Promise<DnnFaceDetector> => {
    // The short-range model alone sees only the whole frame, whatever the smallest face.
    const minFaceSize = search === 'whole' ? Math.round(Math.max(width, height) * WHOLE_MIN_FACE_FRACTION) : DEFAULTS.minFaceSize;
    const key = `${search} ${minFaceSize}`;
    let detector = detectors.get(key);
    if (!detector) detectors.set(key, (detector = createFaceDetector(runtime, { minFaceSize, fullRange: search !== 'near' })));
    return detector;
  };
  // Ready before the camera starts, and any problem with the detector models shows now.
  await detectorFor('near', 0, 0);

  return {
    backend: description,
    model,
    async analyze(pixels, search) {
      const detector = await detectorFor(search, pixels.width, pixels.height);
      const started = performance.now();
      const image: RgbImage = rawToRgb({ data: pixels.data, width: pixels.width, height: pixels.height, channels: 4 }, DEFAULTS.maxPixels);
      const capture = performance.now() - started;
      const { faces, timings } = await analyzeFaces(image, { ...DEFAULTS, detector, model });
      return { faces, times: { capture, ...timings } };
    },
  };
}
