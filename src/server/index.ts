export { createServer, type MienServer, type ServerOptions } from './server.js';
export { DEFAULT_HOST, DEFAULT_PORT, ServeError } from './listen.js';
// The API's JSON schemas (TypeBox, plain JSON Schema at run time), for clients that check the answers they get.
export {
  errorSchema,
  healthResponseSchema,
  modelSchema,
  modelsResponseSchema,
  recognizeQuerySchema,
  recognizeResponseSchema,
  type ModelInfo,
  type RecognitionResult,
  type RecognizeQuery,
} from './openapi.js';
export { QueueFullError, WorkQueue, type WorkQueueOptions } from './queue.js';
