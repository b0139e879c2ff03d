/**
 * Expression models the evaluation tests build without the training addon, so those tests run everywhere: one dense
 * layer on the raw pixels, with weights written by hand (a classifier of the synthetic faces) or drawn at random.
 */
import onnxProto from 'onnx-proto';
import { FACE_PIXELS, FACE_SIZE, NUM_CLASSES } from '../../src/core/labels.js';
import { Rng } from '../../src/data/random.js';
import { buildOnnx, type OnnxMetadata } from '../../src/export/index.js';
import { makeSpec } from '../../src/models/spec.js';
import onnx = onnxProto.onnx;

export const LINEAR_SPEC = makeSpec('linear-test', 'one dense layer on the pixels', [
  { type: 'flatten' },
  { type: 'dense', out: NUM_CLASSES },
]);

/**
 * A model that always recognises syntheticFaces (test/helpers/synthetic.ts): logit c is `scale` × the mean brightness
 * of band c, and the bright band is the class. With scale 6 the top probability is about 0.9, not a saturated 1.
 */
export function bandClassifierOnnx(extra?: OnnxMetadata, scale = 6): Uint8Array {
  const band = Math.floor(FACE_SIZE / NUM_CLASSES);
  const weight = new Float32Array(NUM_CLASSES * FACE_PIXELS);
  for (let c = 0; c < NUM_CLASSES; c++) {
    for (let y = c * band; y < (c + 1) * band; y++) {
      weight.fill(scale / (band * FACE_SIZE), c * FACE_PIXELS + y * FACE_SIZE, c * FACE_PIXELS + (y + 1) * FACE_SIZE);
    }
  }
  return buildOnnx(LINEAR_SPEC, [weight, new Float32Array(NUM_CLASSES)], extra);
}

/** A linear model with random weights: nothing in it is symmetric, so a mirrored face gets other probabilities. */
export function randomLinearOnnx(seed: number, extra?: OnnxMetadata): Uint8Array {
  const random = new Rng(seed);
  const weight = Float32Array.from({ length: NUM_CLASSES * FACE_PIXELS }, () => random.uniform(-0.1, 0.1));
  const bias = Float32Array.from({ length: NUM_CLASSES }, () => random.uniform(-0.5, 0.5));
  return buildOnnx(LINEAR_SPEC, [weight, bias], extra);
}

/**
 * A model whose scores are NaN whatever the face, as a run that diverged exports it: its weights are fine but one
 * bias is NaN, and the softmax spreads that NaN over all 7 probabilities. `extra` as for buildOnnx (a temperature,
 * say, so that mien reads the logits).
 */
export function nanClassifierOnnx(extra?: OnnxMetadata): Uint8Array {
  const bias = new Float32Array(NUM_CLASSES);
  bias[0] = Number.NaN;
  return buildOnnx(LINEAR_SPEC, [new Float32Array(NUM_CLASSES * FACE_PIXELS), bias], extra);
}

/** The model with metadata entries replaced (or removed, for undefined): for models the exporter would refuse to write. */
export function withMetadata(model: Uint8Array, changes: Record<string, string | undefined>): Uint8Array {
  const proto = onnx.ModelProto.decode(model);
  const kept = proto.metadataProps.filter((p) => !(p.key! in changes));
  const added = Object.entries(changes).flatMap(([key, value]) => (value === undefined ? [] : [{ key, value }]));
  proto.metadataProps = [...kept, ...added].map((p) => onnx.StringStringEntryProto.create(p));
  return onnx.ModelProto.encode(proto).finish();
}
