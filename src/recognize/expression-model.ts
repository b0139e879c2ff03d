/**
 * The ONNX expression classifier that `mien eval`, `mien predict-csv` and the face pipeline share, on
 * onnxruntime-node: a shipped model name or an .onnx path in, the classifier of src/recognize/expression-classifier.ts
 * (faces in as gray / 255, 7 probabilities out per face) out.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { nodeSessionOptions } from '../core/onnx-runtime.js';
import { packageRoot } from '../core/package-root.js';
import { createExpressionModel, ModelError, type ExpressionModel } from './expression-classifier.js';

export { ModelError, type ClassifyOptions, type ExpressionModel } from './expression-classifier.js';

/** The models that ship with mien, as `models/<name>.onnx` in the package root. */
export const SHIPPED_MODELS = ['fast', 'accurate', 'lite'] as const;
export type ShippedModel = (typeof SHIPPED_MODELS)[number];
export const DEFAULT_MODEL: ShippedModel = 'fast';
/**
 * The webcam page's default: the smallest model, the one whose classification fits the page's frame budget in wasm,
 * where onnxruntime-web runs it several times slower than onnxruntime-node runs `fast` (`npm run bench:web`).
 */
export const PAGE_MODEL: ShippedModel = 'lite';

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

/**
 * Loads a shipped model by name (default `fast`) or an .onnx file, after checking it is a mien expression model.
 *
 * @example
 * ```ts
 * import { loadExpressionModel } from 'mien-fer';
 * const model = await loadExpressionModel(); // the shipped `fast`
 * console.log(model.name, model.metadata['mien.architecture'], model.temperature?.toFixed(4)); // fast mienet-sm 1.1650
 * ```
 */
export async function loadExpressionModel(nameOrPath?: string, options: LoadModelOptions = {}): Promise<ExpressionModel> {
  const { name, path } = resolveModelPath(nameOrPath);
  const bytes = await readFile(path).catch((err: Error) => {
    throw new ModelError(`${path}: cannot read it (${err.message})`);
  });
  return createExpressionModel({
    ort,
    bytes,
    name,
    path,
    sessionOptions: nodeSessionOptions(options.threads ?? availableParallelism()),
  });
}
