/**
 * The expression classifier itself, for any onnxruntime: a mien model's bytes in, a classifier of 48×48 gray faces
 * out. It uses no Node module, so Node (src/recognize/expression-model.ts, which finds and reads the file) and the web
 * app run the same code.
 */
import { MienError } from '../core/errors.js';
import { EXPRESSIONS, FACE_PIXELS, FACE_SIZE, NUM_CLASSES } from '../core/labels.js';
import type { InferenceSession, OnnxRuntime } from '../core/onnx-runtime.js';
import { softmaxRows } from '../core/tensor.js';
import { decodeOnnxMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, TEMPERATURE_KEY } from '../core/model-format.js';
import { ttaViewCount, ttaViews, type TtaOption } from './tta.js';

/** Faces per onnxruntime call: large enough to keep the cores busy, small enough to bound memory. */
const MAX_BATCH = 256;

/**
 * A model that cannot be used: missing, not ONNX, or not a mien expression model. The CLI shows it as one line; in the
 * server it is the server's model that is wrong, not the request: 500.
 */
export class ModelError extends MienError {
  override name = 'ModelError';
  override readonly status = 500;
  override readonly code = 'model_unavailable';
}

export interface ClassifyOptions {
  /**
   * Test-time augmentation: average the probabilities of several views of each face — `zoom` (or `true`): five zooms
   * and their mirror images; `mirror`: the face and its mirror image (src/recognize/tta.ts).
   */
  tta?: TtaOption;
  /** Called after each batch with the faces done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface ExpressionModel {
  /** The shipped model's name (`fast`, `accurate`, `lite`) or the file's name without `.onnx`. */
  readonly name: string;
  readonly path: string;
  /** The file's metadata_props (`mien.classes`, `mien.architecture`, `mien.history`, …). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The softmax temperature from `mien.temperature`, when the model was calibrated. */
  readonly temperature?: number;
  /** Probabilities (n × 7, in EXPRESSIONS order) for n faces given as n × 2304 gray / 255 values. */
  classify(faces: Float32Array, options?: ClassifyOptions): Promise<Float32Array>;
  /**
   * The raw logits (n × 7) for n faces, before any temperature: what `mien calibrate` fits one to. Absent when the
   * model has no `logits` output.
   */
  logits?(faces: Float32Array, options?: Pick<ClassifyOptions, 'onProgress'>): Promise<Float32Array>;
  /** Frees the onnxruntime session; the model cannot classify afterwards. */
  dispose(): Promise<void>;
}

export interface ExpressionModelSource {
  /** The onnxruntime to run it on: onnxruntime-node or onnxruntime-web. */
  ort: OnnxRuntime;
  /** The .onnx file's bytes. */
  bytes: Uint8Array;
  name: string;
  /** Where the bytes came from (a path or a URL), named in errors. */
  path: string;
  /** Threads in Node, execution providers in the browser. */
  sessionOptions?: InferenceSession.SessionOptions;
}

/** A mien expression model from its bytes, after checking that it is one. Problems are ModelErrors. */
export async function createExpressionModel({ ort, bytes, name, path, sessionOptions }: ExpressionModelSource): Promise<ExpressionModel> {
  let metadata: Record<string, string>;
  try {
    metadata = decodeOnnxMetadata(bytes, path);
  } catch (err) {
    throw new ModelError((err as Error).message);
  }
  checkClasses(path, metadata);
  const temperature = parseTemperature(path, metadata);
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (err) {
    throw new ModelError(`${path}: onnxruntime cannot load it (${(err as Error).message.split('\n')[0]})`);
  }
  // Calibrated models are read from the logits so the temperature can be applied; others from their softmax.
  const output = temperature === undefined ? PROBABILITIES_NAME : LOGITS_NAME;
  for (const [names, wanted] of [
    [session.inputNames, INPUT_NAME],
    [session.outputNames, output],
  ] as const) {
    if (!names.includes(wanted)) throw new ModelError(`${path} is not a mien expression model: it has no '${wanted}' tensor`);
  }

  /** One onnxruntime call: the tensor `name` (n × 7) for the faces of `input`. */
  const runSession = async (input: Float32Array, name: string): Promise<Float32Array> => {
    const tensor = new ort.Tensor('float32', input, [input.length / FACE_PIXELS, 1, FACE_SIZE, FACE_SIZE]);
    return (await session.run({ [INPUT_NAME]: tensor }, [name]))[name]!.data as Float32Array;
  };

  /** `perBatch` on each batch of at most MAX_BATCH faces, the results (n × 7) in face order. */
  const inBatches = async (
    faces: Float32Array,
    onProgress: ClassifyOptions['onProgress'],
    perBatch: (batch: Float32Array, out: Float32Array) => Promise<void>,
  ): Promise<Float32Array> => {
    const n = faces.length / FACE_PIXELS;
    if (!Number.isInteger(n)) throw new RangeError(`faces must hold n × ${FACE_PIXELS} values, got ${faces.length}`);
    const results = new Float32Array(n * NUM_CLASSES);
    for (let start = 0; start < n; start += MAX_BATCH) {
      const end = Math.min(n, start + MAX_BATCH);
      const batch = faces.slice(start * FACE_PIXELS, end * FACE_PIXELS);
      const out = results.subarray(start * NUM_CLASSES, end * NUM_CLASSES);
      await perBatch(batch, out);
      // NaN would otherwise come out as "angry NaN%", or as a silent 0 in every score computed from it.
      if (!out.every(Number.isFinite)) {
        throw new ModelError(`${path} produced NaN/infinite scores: the model is damaged or was exported from a diverged run`);
      }
      onProgress?.(end, n);
    }
    return results;
  };

  const model: ExpressionModel = {
    name,
    path,
    metadata,
    temperature,
    classify(faces, { tta = false, onProgress } = {}) {
      const views = ttaViewCount(tta);
      return inBatches(faces, onProgress, async (batch, out) => {
        // Every view of the batch in one onnxruntime call, view after view.
        const result = await runSession(ttaViews(batch, tta), output);
        const p = temperature === undefined ? result : softmaxRows(result, NUM_CLASSES, temperature);
        for (let i = 0; i < out.length; i++) {
          let sum = 0;
          for (let v = 0; v < views; v++) sum += p[v * out.length + i]!;
          out[i] = sum / views;
        }
      });
    },
    dispose: () => session.release(),
  };
  if (session.outputNames.includes(LOGITS_NAME)) {
    model.logits = (faces, { onProgress } = {}) =>
      inBatches(faces, onProgress, async (batch, out) => out.set(await runSession(batch, LOGITS_NAME)));
  }
  return model;
}

/** The model must name the 7 FER2013 classes in id order, or every prediction would be read as the wrong expression. */
function checkClasses(path: string, metadata: Record<string, string>): void {
  const text = metadata['mien.classes'];
  if (text === undefined) throw new ModelError(`${path} is not a mien expression model (its metadata has no mien.classes)`);
  let classes: unknown;
  try {
    classes = JSON.parse(text);
  } catch {
    classes = text;
  }
  if (JSON.stringify(classes) !== JSON.stringify(EXPRESSIONS)) {
    throw new ModelError(`${path} predicts the classes ${text}; mien needs ${EXPRESSIONS.join(', ')} in that order`);
  }
}

function parseTemperature(path: string, metadata: Record<string, string>): number | undefined {
  const text = metadata[TEMPERATURE_KEY];
  if (text === undefined) return undefined;
  const t = Number(text);
  if (text.trim() === '' || !Number.isFinite(t) || t <= 0) {
    throw new ModelError(`${path}: mien.temperature is ${JSON.stringify(text)}, not a positive number`);
  }
  return t;
}
