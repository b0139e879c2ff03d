/**
 * The ONNX expression classifier that `mien eval`, `mien predict-csv` and the face pipeline share: a mien model file
 * (see src/export/onnx.ts) run by onnxruntime-node, faces in as gray / 255, 7 probabilities out per face.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, readOnnxMetadata } from '../export/index.js';
import { EXPRESSIONS, FACE_PIXELS, FACE_SIZE, NUM_CLASSES } from '../labels.js';
import { packageRoot } from '../util/package-root.js';

/** The models that ship with mien, as `models/<name>.onnx` in the package root. */
export const SHIPPED_MODELS = ['fast', 'accurate'] as const;
export type ShippedModel = (typeof SHIPPED_MODELS)[number];
export const DEFAULT_MODEL: ShippedModel = 'fast';

/** Faces per onnxruntime call: large enough to keep the cores busy, small enough to bound memory. */
const MAX_BATCH = 256;

/** A model that cannot be used: missing, not ONNX, or not a mien expression model. The CLI shows it as one line. */
export class ModelError extends Error {
  override name = 'ModelError';
}

export interface ClassifyOptions {
  /** Test-time augmentation: average the probabilities of each face and its horizontal mirror image. */
  tta?: boolean;
  /** Called after each batch with the faces done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface ExpressionModel {
  /** The shipped model's name (`fast`, `accurate`) or the file's name without `.onnx`. */
  readonly name: string;
  readonly path: string;
  /** The file's metadata_props (`mien.classes`, `mien.architecture`, `mien.history`, …). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The softmax temperature from `mien.temperature`, when the model was calibrated. */
  readonly temperature?: number;
  /** Probabilities (n × 7, in EXPRESSIONS order) for n faces given as n × 2304 gray / 255 values. */
  classify(faces: Float32Array, options?: ClassifyOptions): Promise<Float32Array>;
}

export interface LoadModelOptions {
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
}

/** Where a shipped model lives: `models/<name>.onnx` in the package root. */
export const shippedModelPath = (name: ShippedModel, root = packageRoot()): string => join(root, 'models', `${name}.onnx`);

const isShippedName = (s: string): s is ShippedModel => (SHIPPED_MODELS as readonly string[]).includes(s);

/**
 * The file for a shipped model name or a path to an .onnx file. A shipped model not there yet, an unknown name or a
 * missing file is a ModelError saying what to pass instead.
 */
export function resolveModelPath(nameOrPath: string = DEFAULT_MODEL, root?: string): { name: string; path: string } {
  if (isShippedName(nameOrPath)) {
    const path = shippedModelPath(nameOrPath, root);
    if (!existsSync(path)) throw new ModelError(`mien has no shipped model '${nameOrPath}' yet; pass --model <file.onnx>`);
    return { name: nameOrPath, path };
  }
  if (existsSync(nameOrPath)) return { name: basename(nameOrPath).replace(/\.onnx$/i, ''), path: nameOrPath };
  if (/[\\/]|\.onnx$/i.test(nameOrPath)) throw new ModelError(`${nameOrPath}: no such model file`);
  throw new ModelError(`unknown model '${nameOrPath}': pass ${SHIPPED_MODELS.join(' or ')}, or the path of an .onnx file`);
}

/** Loads a shipped model by name (default `fast`) or an .onnx file, after checking it is a mien expression model. */
export async function loadExpressionModel(nameOrPath?: string, options: LoadModelOptions = {}): Promise<ExpressionModel> {
  const { name, path } = resolveModelPath(nameOrPath);
  const metadata = await readOnnxMetadata(path).catch((err: Error) => {
    throw new ModelError(err.message);
  });
  checkClasses(path, metadata);
  const temperature = parseTemperature(path, metadata);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: options.threads ?? availableParallelism(),
      // One graph at a time: the parallelism is inside each convolution.
      interOpNumThreads: 1,
    });
  } catch (err) {
    throw new ModelError(`${path}: onnxruntime cannot load it (${(err as Error).message.split('\n')[0]})`);
  }
  // Calibrated models are read from the logits so the temperature can be applied; others from their softmax.
  const output = temperature === undefined ? PROBABILITIES_NAME : LOGITS_NAME;
  for (const [names, wanted] of [[session.inputNames, INPUT_NAME], [session.outputNames, output]] as const) {
    if (!names.includes(wanted)) throw new ModelError(`${path} is not a mien expression model: it has no '${wanted}' tensor`);
  }

  return {
    name,
    path,
    metadata,
    temperature,
    async classify(faces, { tta = false, onProgress } = {}) {
      const n = faces.length / FACE_PIXELS;
      if (!Number.isInteger(n)) throw new RangeError(`faces must hold n × ${FACE_PIXELS} values, got ${faces.length}`);
      const probabilities = new Float32Array(n * NUM_CLASSES);
      for (let start = 0; start < n; start += MAX_BATCH) {
        const batch = faces.slice(start * FACE_PIXELS, Math.min(n, start + MAX_BATCH) * FACE_PIXELS);
        const out = probabilities.subarray(start * NUM_CLASSES);
        const run = async (input: Float32Array) => {
          const tensor = new ort.Tensor('float32', input, [input.length / FACE_PIXELS, 1, FACE_SIZE, FACE_SIZE]);
          const result = (await session.run({ [INPUT_NAME]: tensor }, [output]))[output]!.data as Float32Array;
          return temperature === undefined ? result : softmaxRows(result, temperature);
        };
        const p = await run(batch);
        if (tta) {
          const mirrored = await run(mirrorFaces(batch));
          for (let i = 0; i < p.length; i++) out[i] = (p[i]! + mirrored[i]!) / 2;
        } else {
          out.set(p);
        }
        onProgress?.(Math.min(n, start + MAX_BATCH), n);
      }
      return probabilities;
    },
  };
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
  const text = metadata['mien.temperature'];
  if (text === undefined) return undefined;
  const t = Number(text);
  if (text.trim() === '' || !Number.isFinite(t) || t <= 0) {
    throw new ModelError(`${path}: mien.temperature is ${JSON.stringify(text)}, not a positive number`);
  }
  return t;
}

/** softmax(logits / temperature) per row of NUM_CLASSES, shifted by the row maximum so exp never overflows. */
function softmaxRows(logits: Float32Array, temperature: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let row = 0; row < logits.length; row += NUM_CLASSES) {
    let max = -Infinity;
    for (let k = 0; k < NUM_CLASSES; k++) max = Math.max(max, logits[row + k]! / temperature);
    let sum = 0;
    for (let k = 0; k < NUM_CLASSES; k++) {
      const e = Math.exp(logits[row + k]! / temperature - max);
      out[row + k] = e;
      sum += e;
    }
    for (let k = 0; k < NUM_CLASSES; k++) out[row + k]! /= sum;
  }
  return out;
}

/** Each face mirrored left–right. */
function mirrorFaces(faces: Float32Array): Float32Array {
  const out = new Float32Array(faces.length);
  for (let row = 0; row < faces.length; row += FACE_SIZE) {
    for (let x = 0; x < FACE_SIZE; x++) out[row + x] = faces[row + FACE_SIZE - 1 - x]!;
  }
  return out;
}
