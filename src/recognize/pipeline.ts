/**
 * The recognizer both entries build: a loaded expression model and face detector, configured by one RecognizerConfig,
 * with the calls users of face-api.js and Human reach for. It decodes through the function it is given, so Node
 * (sharp: files and buffers) and the browser (images, videos, canvases) share everything else.
 */
import { FACE_PIXELS } from '../core/labels.js';
import type { RecognizerConfig } from './config.js';
import type { ExpressionModel } from './expression-classifier.js';
import { analyzeFaces, type FaceDetector, type RecognizedFace, type StageTimings } from './faces.js';
import type { RgbImage } from './pixels.js';

/** One image's faces, its size, and the milliseconds each stage took. */
export interface Recognition {
  width: number;
  height: number;
  /** Every face kept, left to right. */
  faces: RecognizedFace[];
  timings: StageTimings & { decode: number; total: number };
}

export interface Recognizer<Input> {
  readonly model: ExpressionModel;
  /** The configuration in force: the options given, merged over DEFAULT_RECOGNIZER_CONFIG. */
  readonly config: Readonly<RecognizerConfig>;
  /** Every face in the image, left to right; empty when there is none. */
  recognize(input: Input): Promise<RecognizedFace[]>;
  /** The largest face (the one nearest the camera), or undefined when there is none. */
  recognizeSingle(input: Input): Promise<RecognizedFace | undefined>;
  /** The faces with the image's size and per-stage timings. */
  analyze(input: Input): Promise<Recognition>;
  /** The same for an image already decoded (video frames). */
  analyzeImage(image: RgbImage): Promise<Recognition>;
  recognizeImage(image: RgbImage): Promise<RecognizedFace[]>;
  /** Runs every model once, so the first real image does not pay for onnxruntime's first-run set-up. */
  warmup(): Promise<void>;
  /** Frees the onnxruntime sessions this recognizer loaded (not those of a model or detector passed in). */
  dispose(): Promise<void>;
}

export interface PipelineParts<Input> {
  model: ExpressionModel;
  detector: FaceDetector | 'none';
  config: RecognizerConfig;
  decode(input: Input, maxPixels: number): Promise<RgbImage>;
  /** Which parts the recognizer loaded itself, and so frees on dispose(). */
  owns: { model: boolean; detector: boolean };
}

/** A blank frame for warmup(): large enough for every detector view. */
const WARMUP_SIDE = 192;

export function createPipeline<Input>({ model, detector, config, decode, owns }: PipelineParts<Input>): Recognizer<Input> {
  const analyzeImage = async (image: RgbImage, maxFaces = config.maxFaces, decodeMs = 0): Promise<Recognition> => {
    const started = performance.now();
    const { faces, timings } = await analyzeFaces(image, { ...config, detector, model, maxFaces });
    const total = decodeMs + performance.now() - started;
    return { width: image.width, height: image.height, faces, timings: { decode: decodeMs, ...timings, total } };
  };
  const analyze = async (input: Input, maxFaces?: number): Promise<Recognition> => {
    const started = performance.now();
    const image = await decode(input, config.maxPixels);
    return analyzeImage(image, maxFaces, performance.now() - started);
  };
  let disposed = false;
  return {
    model,
    config,
    analyze: (input) => analyze(input),
    analyzeImage: (image) => analyzeImage(image),
    recognize: async (input) => (await analyze(input)).faces,
    recognizeImage: async (image) => (await analyzeImage(image)).faces,
    recognizeSingle: async (input) => (await analyze(input, 1)).faces[0],
    async warmup() {
      const side = WARMUP_SIDE;
      await analyzeImage({ data: new Uint8Array(side * side * 3).fill(128), width: side, height: side });
      await model.classify(new Float32Array(FACE_PIXELS), { tta: config.tta });
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await Promise.all([owns.model && model.dispose(), owns.detector && detector !== 'none' && detector.dispose?.()]);
    },
  };
}
