/**
 * What an app needs to read a mien ONNX file, without the exporter: the tensor names and the metadata. It uses no
 * module at all, so the browser entry loads it as it is (onnx-proto, a CommonJS bundle, would need a bundler) and a
 * model's metadata is read without decoding its graph and weights.
 */

export const INPUT_NAME = 'input';
export const LOGITS_NAME = 'logits';
export const PROBABILITIES_NAME = 'probabilities';
/** Metadata entry holding the softmax temperature `mien calibrate` fitted; the classifier applies it. */
export const TEMPERATURE_KEY = 'mien.temperature';

/** ModelProto.metadata_props, and in each StringStringEntryProto its key and value (onnx.proto3). */
const METADATA_PROPS_FIELD = 14;
const KEY_FIELD = 1;
const VALUE_FIELD = 2;

/**
 * The fields of one protobuf message in `bytes[start, end)`: each length-delimited field's number and byte range
 * (the others, varints and fixed-size numbers, are skipped). Throws on bytes that are not protobuf's wire format.
 */
function* lengthDelimitedFields(bytes: Uint8Array, start: number, end: number): Generator<[field: number, from: number, to: number]> {
  let pos = start;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (pos >= end) throw new Error('truncated');
      const b = bytes[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error('a varint longer than 10 bytes');
  };
  while (pos < end) {
    const key = varint();
    const [field, wireType] = [Math.floor(key / 8), key % 8];
    if (field === 0) throw new Error('field number 0');
    if (wireType === 0) varint();
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = varint();
      if (pos + length > end) throw new Error('truncated');
      yield [field, pos, pos + length];
      pos += length;
    } else throw new Error(`wire type ${wireType}`);
    if (pos > end) throw new Error('truncated');
  }
}

/** The metadata_props of an ONNX model's bytes as key → value; `name` says which file in the error when they are not one. */
export function decodeOnnxMetadata(bytes: Uint8Array, name: string): Record<string, string> {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const metadata: Record<string, string> = {};
  try {
    for (const [field, from, to] of lengthDelimitedFields(bytes, 0, bytes.length)) {
      if (field !== METADATA_PROPS_FIELD) continue;
      let [key, value] = ['', ''];
      for (const [entryField, a, b] of lengthDelimitedFields(bytes, from, to)) {
        if (entryField === KEY_FIELD) key = utf8.decode(bytes.subarray(a, b));
        else if (entryField === VALUE_FIELD) value = utf8.decode(bytes.subarray(a, b));
      }
      metadata[key] = value;
    }
  } catch (err) {
    throw new Error(`${name} is not an ONNX model (${(err as Error).message})`);
  }
  return metadata;
}
