/**
 * The JSON schemas of the HTTP API: fastify validates the query strings and serializes the answers with them, and
 * @fastify/swagger turns them into the OpenAPI description served at /docs.
 */
import { EXPRESSIONS } from '../core/labels.js';
import { DETECTOR_NAMES, type DetectorName } from '../detect/registry.js';
import { DEFAULT_RECOGNIZER_CONFIG as DEFAULTS } from '../recognize/config.js';

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

export const errorSchema = {
  type: 'object',
  description: 'What went wrong: a short code and one line for people.',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', examples: ['unsupported_media_type'] },
    message: { type: 'string' },
  },
} as const;

const point = { type: 'object', required: ['x', 'y'], properties: { x: { type: 'integer' }, y: { type: 'integer' } } } as const;

const faceSchema = {
  type: 'object',
  required: ['box', 'score', 'expression', 'probabilities'],
  properties: {
    box: {
      type: 'object',
      description: 'The face in image pixels.',
      required: ['x', 'y', 'width', 'height'],
      properties: { x: { type: 'integer' }, y: { type: 'integer' }, width: { type: 'integer' }, height: { type: 'integer' } },
    },
    score: { type: 'number', description: "The detector's confidence, 0–1 (1 with detector=none)." },
    landmarks: {
      type: 'object',
      description: "Eyes, nose, mouth and ears (the subject's right and left), when the detector gives them.",
      additionalProperties: point,
    },
    expression: { type: 'string', enum: [...EXPRESSIONS] },
    probabilities: {
      type: 'object',
      description: 'Each expression’s probability; they add up to 1.',
      required: [...EXPRESSIONS],
      properties: Object.fromEntries(EXPRESSIONS.map((e) => [e, { type: 'number' }])),
    },
  },
} as const;

export const recognizeQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    detector: {
      type: 'string',
      enum: [...DETECTOR_NAMES],
      description: "Face detector (the server's --detector by default); none = the image is one face crop.",
    },
    'min-face': {
      type: 'integer',
      minimum: 1,
      default: DEFAULTS.minFaceSize,
      description: 'Smallest face looked for and kept (box side, pixels).',
    },
    'min-confidence': {
      type: 'number',
      minimum: 0,
      exclusiveMaximum: 1,
      description: "Drop faces the detector is less sure of (0–1; default: the detector's measured threshold).",
    },
    'max-faces': { type: 'integer', minimum: 1, description: 'At most this many faces, the largest (default: all).' },
    tta: { type: 'boolean', default: DEFAULTS.tta, description: 'Average each face with its mirror image.' },
  },
} as const;

export interface RecognizeQuery {
  detector?: DetectorName;
  'min-face': number;
  'min-confidence'?: number;
  'max-faces'?: number;
  tta: boolean;
}

export const recognizeResponseSchema = {
  type: 'object',
  description: 'The faces found, left to right, as `mien predict --json` prints them.',
  required: ['width', 'height', 'faces'],
  properties: { width: { type: 'integer' }, height: { type: 'integer' }, faces: { type: 'array', items: faceSchema } },
} as const;

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

export const modelsResponseSchema = {
  type: 'object',
  required: ['models'],
  properties: {
    models: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'version', 'classes', 'input'],
        properties: {
          name: { type: 'string', description: 'The shipped name (fast, accurate) or the file name without .onnx.' },
          version: { type: 'string', description: 'sha256 of the model file, first 12 hex digits: it changes whenever the model does.' },
          architecture: { type: 'string' },
          trained: { type: 'string', description: 'When training finished (ISO 8601), from the model metadata.' },
          classes: { type: 'array', items: { type: 'string' } },
          input: {
            type: 'object',
            description: 'The face crop the model takes.',
            required: ['width', 'height', 'channels'],
            properties: { width: { type: 'integer' }, height: { type: 'integer' }, channels: { type: 'integer' } },
          },
        },
      },
    },
  },
} as const;

export const healthResponseSchema = {
  type: 'object',
  required: ['status', 'model', 'queue'],
  properties: {
    status: { type: 'string', enum: ['ok'] },
    model: { type: 'string' },
    queue: {
      type: 'object',
      description: 'Recognitions running and waiting, and how many of each the server allows.',
      properties: {
        running: { type: 'integer' },
        waiting: { type: 'integer' },
        concurrency: { type: 'integer' },
        maxWaiting: { type: 'integer' },
      },
    },
  },
} as const;
