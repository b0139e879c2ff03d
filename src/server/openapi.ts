/**
 * The JSON schemas of the HTTP API, written once in TypeBox: fastify validates the query strings with them,
 * @fastify/swagger turns them into the OpenAPI description served at /docs, and the TypeScript types of the query and
 * the answers are derived from them (`Static`), so the code and the documented API cannot drift apart.
 */
import { type Static, type TNumber, Type } from 'typebox';
import { EXPRESSIONS, type Expression } from '../core/labels.js';
import { DETECTOR_NAMES } from '../detect/registry.js';
import { SMALLEST_FACE } from '../detect/smallest-face.js';
import { DEFAULT_RECOGNIZER_CONFIG as DEFAULTS } from '../recognize/config.js';
import { TTA_MODES } from '../recognize/tta.js';

/** The body types `POST /v1/recognize` takes as a raw image; multipart/form-data is taken besides. */
export const RAW_IMAGE_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/tiff',
  'image/avif',
  'application/octet-stream',
] as const;

export const errorSchema = Type.Object(
  {
    error: Type.String({ examples: ['unsupported_media_type'] }),
    message: Type.String(),
  },
  { description: 'What went wrong: a short code and one line for people.' },
);

const point = Type.Object({ x: Type.Integer(), y: Type.Integer() });

const faceSchema = Type.Object({
  box: Type.Object(
    { x: Type.Integer(), y: Type.Integer(), width: Type.Integer(), height: Type.Integer() },
    { description: 'The face in image pixels.' },
  ),
  score: Type.Optional(Type.Number({ description: "The detector's confidence, 0–1 (1 with detector=none)." })),
  landmarks: Type.Optional(
    Type.Object(
      { rightEye: point, leftEye: point, nose: point, mouth: point, rightEar: point, leftEar: point },
      { description: "Eyes, nose, mouth and ears (the subject's right and left), when the detector gives them." },
    ),
  ),
  expression: Type.Enum([...EXPRESSIONS]),
  probabilities: Type.Object(Object.fromEntries(EXPRESSIONS.map((e) => [e, Type.Number()])) as Record<Expression, TNumber>, {
    description: 'Each expression’s probability; they add up to 1.',
  }),
});

export const recognizeQuerySchema = Type.Object(
  {
    detector: Type.Optional(
      Type.Enum([...DETECTOR_NAMES], {
        description: "Face detector (the server's --detector by default); none = the image is one face crop.",
      }),
    ),
    'min-face': Type.Integer({
      minimum: 1,
      default: DEFAULTS.minFaceSize,
      description: `Smallest face looked for and kept (box side, pixels; at least ${SMALLEST_FACE.dnn} with dnn, ${SMALLEST_FACE.haar} with haar; in an image under twice this size, half its shorter side).`,
    }),
    'min-confidence': Type.Optional(
      Type.Number({
        minimum: 0,
        exclusiveMaximum: 1,
        description: "Drop faces the detector is less sure of (0–1; default: the detector's measured threshold).",
      }),
    ),
    'max-faces': Type.Optional(Type.Integer({ minimum: 1, description: 'At most this many faces, the largest (default: all).' })),
    tta: Type.Enum(['false', 'true', ...TTA_MODES], {
      default: String(DEFAULTS.tta),
      description: 'Test-time augmentation: true or zoom = ten views of each face (five zooms and their mirror images), mirror = two.',
    }),
  },
  { additionalProperties: false },
);

/** The query after validation: parameters with a default are always there. */
export type RecognizeQuery = Static<typeof recognizeQuerySchema>;

export const recognizeResponseSchema = Type.Object(
  { width: Type.Integer(), height: Type.Integer(), faces: Type.Array(faceSchema) },
  { description: 'The faces found, left to right, as `mien predict --json` prints them.' },
);

/** The answer of POST /v1/recognize: `mien predict --json` without the file name. */
export type RecognitionResult = Static<typeof recognizeResponseSchema>;

/** Raw image bodies and multipart uploads: described here because fastify validates no binary body. */
export const recognizeRequestBody = {
  required: true,
  description: 'The image: the raw bytes with their type, or a multipart/form-data upload whose first file is read.',
  content: {
    ...Object.fromEntries(RAW_IMAGE_TYPES.map((type) => [type, { schema: { type: 'string', format: 'binary' } }])),
    'multipart/form-data': {
      schema: { type: 'object', required: ['image'], properties: { image: { type: 'string', format: 'binary' } } },
    },
  },
};

export const modelSchema = Type.Object({
  name: Type.String({ description: 'The shipped name (fast, accurate) or the file name without .onnx.' }),
  version: Type.String({ description: 'sha256 of the model file, first 12 hex digits: it changes whenever the model does.' }),
  architecture: Type.Optional(Type.String()),
  trained: Type.Optional(Type.String({ description: 'When training finished (ISO 8601), from the model metadata.' })),
  classes: Type.Array(Type.String()),
  input: Type.Object(
    { width: Type.Integer(), height: Type.Integer(), channels: Type.Integer() },
    { description: 'The face crop the model takes.' },
  ),
});

/** What GET /v1/models says about a model. */
export type ModelInfo = Static<typeof modelSchema>;

export const modelsResponseSchema = Type.Object({ models: Type.Array(modelSchema) });

export const healthResponseSchema = Type.Object({
  status: Type.Literal('ok'),
  model: Type.String(),
  queue: Type.Object(
    { running: Type.Integer(), waiting: Type.Integer(), concurrency: Type.Integer(), maxWaiting: Type.Integer() },
    { description: 'Recognitions running and waiting, and how many of each the server allows.' },
  ),
});
