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
  cropRegion,
  DEFAULT_RECOGNIZER_CONFIG as DEFAULTS,
  faceEyes,
  importOnnxRuntimeWeb,
  MienError,
  placeFace,
  rawToRgb,
  recognizeFaces,
  selectFaces,
  type Box,
  type DetectedFace,
  type DnnFaceDetector,
  type ExpressionModel,
  type RecognizedFace,
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

/**
 * The near search reads the frame shrunk to this many pixels on its larger side — the short-range model's own view,
 * so the detector resizes nothing — and then, at full resolution, only the pixels the face crops need. Reading the
 * whole 640×360 frame back from the canvas and converting it took longer than detecting the face in it.
 */
const NEAR_VIEW_SIDE = 128;

/**
 * The near search detects on every third frame and, on the two between, crops the faces where it last found them: a
 * face moves a few pixels from one frame to the next, and detecting costs more than cropping and classifying. Ten
 * detections a second at 30 fps; a frame with no face followed is always searched, so a face is found as it appears.
 */
const NEAR_DETECT_EVERY = 3;

/** A problem the page shows as a message, not a stack trace: a missing model, a failed download. */
export class EngineError extends MienError {
  override name = 'EngineError';
}

/** Milliseconds spent per stage for one frame. */
export interface StageTimes {
  /** Canvas pixels read back into the RGB images the detector and the crops read. */
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
  /** The expression model by name: `mien web`'s own (the default) or another shipped one the manifest lists. */
  model?: string | null;
  /** `webgpu` or `wasm`; default: WebGPU when there is an adapter. */
  backend?: string | null;
  /** wasm threads; default: half the cores (at most 4) when cross-origin isolated, else 1. */
  threads?: number | null;
}

export interface Engine {
  /** What runs the models, for the page: "wasm, 2 threads" or "WebGPU". */
  readonly backend: string;
  readonly model: ExpressionModel;
  /** Every expression model the page may run, the one running included. */
  readonly models: string[];
  /** Faces and stage times for the frame drawn on `frame`'s canvas. */
  analyze(frame: CanvasRenderingContext2D, search: Search): Promise<Analysis>;
  /** Forgets the faces followed between detections: the next frame is of another source. */
  reset(): void;
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

/**
 * WebGPU when there is an adapter (and it is not turned off), else wasm: the session options and onnxruntime-web's
 * build for them (the wasm-only build is the faster one on the CPU; see importOnnxRuntimeWeb).
 */
async function chooseBackend(
  settings: EngineSettings,
): Promise<{ ort: Ort; options: OrtWeb.InferenceSession.SessionOptions; description: string }> {
  const wantGpu = settings.backend ? settings.backend === 'webgpu' : true;
  const gpu = (navigator as GpuNavigator).gpu;
  if (wantGpu && gpu && (await gpu.requestAdapter().catch(() => null))) {
    const options: OrtWeb.InferenceSession.SessionOptions = { executionProviders: ['webgpu'] };
    return { ort: (await importOnnxRuntimeWeb(options)) as Ort, options, description: 'WebGPU' };
  }
  const options: OrtWeb.InferenceSession.SessionOptions = { executionProviders: ['wasm'] };
  const ort = (await importOnnxRuntimeWeb(options)) as Ort;
  // Half the cores, as onnxruntime-web's own default: the page needs the rest to decode and show the video, and the
  // models are small enough that more threads mostly wait for each other (npm run bench:web measures 1 against 2).
  const threads = settings.threads ?? Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2));
  // Threads need SharedArrayBuffer, which browsers only give cross-origin isolated pages.
  ort.env.wasm.numThreads = crossOriginIsolated ? threads : 1;
  const n = ort.env.wasm.numThreads;
  return { ort, options, description: `wasm, ${n} thread${n === 1 ? '' : 's'}` };
}

export async function createEngine(settings: EngineSettings = {}): Promise<Engine> {
  // onnxruntime-web is imported on its own, so it gets a chunk of its own: its wasm threads are workers started from
  // that chunk's URL, and must not run the page's code.
  const { ort, options, description } = await chooseBackend(settings);
  const manifest = (await (await download(MODELS_PATH + MANIFEST_FILE)).json()) as ModelManifest;
  // `mien web` explains a missing model in the manifest.
  if ('missing' in manifest.expression) throw new EngineError(manifest.expression.missing);
  const choices = [manifest.expression, ...manifest.others];
  const chosen = settings.model ? choices.find((m) => m.name === settings.model) : manifest.expression;
  if (!chosen) {
    throw new EngineError(`There is no model '${settings.model}' here: pick ${choices.map((m) => m.name).join(' or ')}.`);
  }
  const { name, url } = chosen;
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

  const nearView = new OffscreenCanvas(1, 1);
  const nearContext = nearView.getContext('2d', { willReadFrequently: true })!;
  const read = (ctx: CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D, { x, y, width, height }: Box) =>
    rawToRgb({ data: ctx.getImageData(x, y, width, height).data, width, height, channels: 4 }, DEFAULTS.maxPixels);

  let followed: DetectedFace[] = [];
  let sinceDetection = 0;

  /** The faces of this frame: where they were last found, or, every NEAR_DETECT_EVERY frames, detected in the shrunk frame. */
  async function nearFaces(frame: CanvasRenderingContext2D, detector: DnnFaceDetector): Promise<DetectedFace[]> {
    if (followed.length > 0 && ++sinceDetection < NEAR_DETECT_EVERY) return followed;
    sinceDetection = 0;
    const { width, height } = frame.canvas;
    const scale = Math.min(1, NEAR_VIEW_SIDE / Math.max(width, height));
    nearView.width = Math.max(1, Math.round(width * scale));
    nearView.height = Math.max(1, Math.round(height * scale));
    nearContext.imageSmoothingQuality = 'high';
    nearContext.drawImage(frame.canvas, 0, 0, nearView.width, nearView.height);
    const shrunk = read(nearContext, { x: 0, y: 0, width: nearView.width, height: nearView.height });
    const scaleX = width / nearView.width;
    const scaleY = height / nearView.height;
    const found = (await detector.detect(shrunk)).map((f) => placeFace(f, { scaleX, scaleY }));
    followed = selectFaces(found, { width, height }, DEFAULTS.minFaceSize, DEFAULTS.maxFaces);
    return followed;
  }

  /** The near search: faces from nearFaces, then only the crops' pixels read at full resolution and classified. */
  async function analyzeNear(frame: CanvasRenderingContext2D, detector: DnnFaceDetector): Promise<Analysis> {
    const { width, height } = frame.canvas;
    const started = performance.now();
    const faces = await nearFaces(frame, detector);
    const detectedAt = performance.now();
    if (faces.length === 0) return { faces: [], times: { capture: 0, detect: detectedAt - started, classify: 0 } };
    const part = cropsPart(faces, width, height);
    const image = read(frame, part);
    const readAt = performance.now();
    const recognized = await recognizeFaces(
      image,
      faces,
      { model, framing: DEFAULTS.framing, tta: DEFAULTS.tta },
      {
        x: part.x,
        y: part.y,
        frameWidth: width,
        frameHeight: height,
      },
    );
    return {
      faces: recognized,
      // Reading the shrunk frame counts as detection: it is part of the search, not of every frame.
      times: { capture: readAt - detectedAt, detect: detectedAt - started, classify: performance.now() - readAt },
    };
  }

  return {
    backend: description,
    model,
    models: choices.map((m) => m.name),
    async analyze(frame, search) {
      const { width, height } = frame.canvas;
      const detector = await detectorFor(search, width, height);
      if (search === 'near') return analyzeNear(frame, detector);
      // Faces followed before another search are stale by the time the near search is back.
      followed = [];
      const started = performance.now();
      const image = read(frame, { x: 0, y: 0, width, height });
      const capture = performance.now() - started;
      const { faces, timings } = await analyzeFaces(image, { ...DEFAULTS, detector, model });
      return { faces, times: { capture, ...timings } };
    },
    reset() {
      followed = [];
    },
  };
}

/** The smallest whole-pixel part of the frame that holds every face's crop (outside the frame a crop reads black anyway). */
function cropsPart(faces: DetectedFace[], width: number, height: number): Box {
  const regions = faces.map((f) => cropRegion(f.box, DEFAULTS.framing, faceEyes(f)));
  const x0 = Math.max(0, Math.min(...regions.map((r) => r.x)));
  const y0 = Math.max(0, Math.min(...regions.map((r) => r.y)));
  const x1 = Math.min(width, Math.max(...regions.map((r) => r.x + r.width)));
  const y1 = Math.min(height, Math.max(...regions.map((r) => r.y + r.height)));
  return { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) };
}
