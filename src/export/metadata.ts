/**
 * Changing the metadata_props of an ONNX model that already exists (`mien calibrate` stores its temperature this way)
 * while keeping its graph, weights and every other entry. A file that is not ONNX gets the one-line error that
 * reading its metadata (core/model-format.ts) gives.
 */
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { writeFileAtomic } from '../core/atomic-write.js';

// See onnx.ts: the alias gives onnx-proto's classes and interfaces.
import onnx = onnxProto.onnx;

/** An ONNX model's bytes as a ModelProto, with the error words of decodeOnnxMetadata (core/model-format.ts). */
function decodeOnnxModel(bytes: Uint8Array, name: string): onnx.ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`${name} is not an ONNX model (${(err as Error).message})`);
  }
}

/** Entries to change: a string sets the entry (where it already is, else at the end), undefined removes it. */
export type OnnxMetadataChanges = Readonly<Record<string, string | undefined>>;

/**
 * The model's bytes with its metadata_props changed; other entries keep their values and their order. `name` says
 * which file in the error when the bytes are not an ONNX model.
 */
export function setOnnxMetadata(bytes: Uint8Array, changes: OnnxMetadataChanges, name = 'the model'): Uint8Array {
  const model = decodeOnnxModel(bytes, name);
  const changed = (key: string) => Object.hasOwn(changes, key);
  const done = new Set<string>();
  const props: onnx.IStringStringEntryProto[] = [];
  for (const entry of model.metadataProps) {
    const key = entry.key ?? '';
    if (!changed(key)) {
      props.push(entry);
    } else if (!done.has(key)) {
      // A key given twice keeps one entry, the new value.
      done.add(key);
      const value = changes[key];
      if (value !== undefined) props.push(onnx.StringStringEntryProto.create({ key, value }));
    }
  }
  for (const [key, value] of Object.entries(changes)) {
    if (!done.has(key) && value !== undefined) props.push(onnx.StringStringEntryProto.create({ key, value }));
  }
  model.metadataProps = props;
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Changes the metadata_props of the ONNX file `path` and writes the model to `out` (default: `path` itself),
 * atomically, so a reader never sees a half-written model and a crash leaves the old one whole.
 */
export async function writeOnnxMetadata(path: string, changes: OnnxMetadataChanges, out = path): Promise<void> {
  await writeFileAtomic(out, setOnnxMetadata(await readFile(path), changes, path));
}
