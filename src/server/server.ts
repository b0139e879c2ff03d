/**
 * `mien serve`: the recognition pipeline behind an HTTP API (fastify). Requests are checked before any work — body
 * size, content type, query — and recognitions go through a bounded work queue, so an overloaded server answers 503
 * with Retry-After at once instead of running out of memory. Every error is JSON `{error, message}`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { MienError } from '../core/errors.js';
import { FACE_SIZE } from '../core/labels.js';
import { decodeOnnxMetadata } from '../core/model-format.js';
import type { DetectorName } from '../detect/registry.js';
import { DEFAULT_RECOGNIZER_CONFIG, recognizerConfig } from '../recognize/config.js';
import { resolveModelPath } from '../recognize/expression-model.js';
import {
  errorSchema,
  healthResponseSchema,
  modelsResponseSchema,
  RAW_IMAGE_TYPES,
  recognizeQuerySchema,
  recognizeRequestBody,
  recognizeResponseSchema,
  type ModelInfo,
  type RecognizeQuery,
} from './openapi.js';
import { DEFAULT_HOST, DEFAULT_PORT, listenError } from './listen.js';
import { QueueFullError, WorkQueue } from './queue.js';
import { RecognitionPool } from './recognition-pool.js';

export interface ServerOptions {
  /** Expression model: a shipped name (`fast`, `accurate`, `lite`) or an .onnx path. Default `fast`. */
  model?: string;
  /** The detector used when a request names none. Default `dnn`. */
  detector?: DetectorName;
  /**
   * Recognitions running at once, each in its own worker thread with its own model. Default 1: onnxruntime already
   * spreads one over every core.
   */
  concurrency?: number;
  /** Requests that may wait for a recognition slot; one more is answered 503. Default 32. */
  maxQueue?: number;
  /**
   * Milliseconds a request may take to arrive and to reach a recognition slot: one still waiting then is answered
   * 503, one still sending its body 408. Default 30 000.
   */
  timeoutMs?: number;
  /** Largest request body in bytes (413 above). Default 20 MiB. */
  bodyLimit?: number;
  /** Largest image in pixels, read from its header before decoding (413 above). Default 50 megapixels. */
  maxPixels?: number;
  /**
   * Resident memory in bytes above which new requests are answered 503 (health checks still answered), checked every
   * 100 ms. Default 2 GiB: an idle server, one recognition at its 1 GB worst (the detector's budget) and a full queue of
   * request bodies fit under it.
   */
  maxMemory?: number;
  /** fastify's logger (pino): false (default), true, or its options. */
  logger?: FastifyServerOptions['logger'];
  /**
   * Which web pages (origins) may call the API from a browser: false (default: none but the server's own), true
   * (any), or a list such as `['https://example.com']`. Answered by @fastify/cors, preflights included.
   */
  cors?: boolean | string[];
}

export interface MienServer {
  readonly fastify: FastifyInstance;
  /** The model, as GET /v1/models describes it. */
  readonly model: ModelInfo;
  readonly queue: WorkQueue;
  /** Requests received and not yet answered (bodies still arriving and queued recognitions included). */
  readonly inFlight: number;
  /** Starts listening; resolves to the server's URL. A port in use and the like are ServeErrors. */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  /** Takes no new request, answers every request already received, then resolves. */
  close(): Promise<void>;
}

/** An error answer made here (no file in a multipart body, a request past its time, fastify's own errors). */
class HttpError extends MienError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message, { status, code });
  }
}

/** The status's name as a code: 400 → bad_request. */
const statusCode = (status: number): string => (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/\W+/g, '_');

const megabytes = (bytes: number): string => `${+(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Seconds a client turned away for memory is asked to wait: about the time one large recognition takes. */
const MEMORY_RETRY_SECONDS = 5;

const SEND_AN_IMAGE = `send the image as the body with its Content-Type (${RAW_IMAGE_TYPES.join(', ')}) or as multipart/form-data`;

/** The options with their defaults filled in. */
type Settings = Required<Omit<ServerOptions, 'model' | 'logger'>> & Pick<ServerOptions, 'logger'>;

export async function createServer(options: ServerOptions = {}): Promise<MienServer> {
  const settings: Settings = {
    detector: options.detector ?? DEFAULT_RECOGNIZER_CONFIG.detector,
    concurrency: options.concurrency ?? 1,
    maxQueue: options.maxQueue ?? 32,
    timeoutMs: options.timeoutMs ?? 30_000,
    bodyLimit: options.bodyLimit ?? 20 * 1024 * 1024,
    maxPixels: options.maxPixels ?? DEFAULT_RECOGNIZER_CONFIG.maxPixels,
    maxMemory: options.maxMemory ?? 2 * 1024 ** 3,
    logger: options.logger,
    cors: options.cors ?? false,
  };
  // the options are checked before any worker thread starts (the queue checks its own)
  const { concurrency, maxQueue, timeoutMs, bodyLimit, maxPixels } = settings;
  const queue = new WorkQueue({ concurrency, maxWaiting: maxQueue });
  // the recognition settings every request starts from are checked as the CLI's are (the pixel limit's ceiling too)
  recognizerConfig({ detector: settings.detector, maxPixels });
  for (const [name, value] of Object.entries({ timeoutMs, bodyLimit, maxMemory: settings.maxMemory })) {
    if (!(value > 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
  const { name, path } = resolveModelPath(options.model);
  // The workers load and check the model (a ModelError when it is not a mien model) and the default detector.
  const pool = await RecognitionPool.start(concurrency, { modelPath: path, detector: settings.detector, maxPixels });
  try {
    return await serve(pool, queue, await describeModel(name, path), settings);
  } catch (err) {
    await pool.close(); // its worker threads would keep the process alive
    throw err;
  }
}

/** The fastify app over a started pool of recognition workers. */
async function serve(pool: RecognitionPool, queue: WorkQueue, modelInfo: ModelInfo, settings: Settings): Promise<MienServer> {
  const { detector: defaultDetector, timeoutMs, bodyLimit } = settings;

  const app = Fastify({
    logger: settings.logger ?? false,
    bodyLimit,
    requestTimeout: timeoutMs,
    http: {
      // Node looks for requests past their time only this often: by default every 30 s, which would double a 30 s timeout.
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, timeoutMs / 10)),
      // Node takes the larger of headersTimeout (60 s by default) and requestTimeout as the whole request's limit.
      headersTimeout: Math.min(60_000, timeoutMs),
    },
    // An unknown query parameter is a mistake to report (a misspelt option would otherwise be dropped silently).
    ajv: { customOptions: { removeAdditional: false } },
    // Node reports requests it cannot hand to fastify here: too slow to arrive, headers too large, not HTTP.
    clientErrorHandler: (err, socket) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (!socket.writable || code === 'ECONNRESET') return socket.destroy();
      const [status, answer] =
        code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, { error: 'request_timeout', message: `the request did not arrive within ${timeoutMs / 1000} s` }]
          : code === 'HPE_HEADER_OVERFLOW'
            ? [431, { error: 'headers_too_large', message: 'the request headers are too large' }]
            : [400, { error: 'bad_request', message: 'malformed HTTP request' }];
      const body = JSON.stringify(answer);
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });

  // Answers are written by JSON.stringify, so a face's keys come in the order `mien predict --json` gives them; the
  // response schemas describe the API in /docs (fastify's schema serializer would reorder optional keys).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  let inFlight = 0;
  app.addHook('onRequest', async (_request, reply) => {
    inFlight++;
    // 'close' comes both when the answer has gone and when the client left before it
    reply.raw.once('close', () => inFlight--);
  });

  // The one place errors become answers: a MienError (the user's mistake or the server's set-up, found here or in a
  // recognition worker) with its status, code and message; fastify's own errors as the API's; anything else a 500.
  app.setErrorHandler((err: FastifyError | MienError, request, reply) => {
    const answer = err instanceof MienError ? err : fromFastifyError(err, request, bodyLimit);
    // bugs and the server's own set-up (no cascade, say) go to the log; being busy (503) and the client's mistakes do not
    if (answer.status >= 500 && answer.status !== 503) request.log.error(err);
    const retryAfter = err instanceof HttpError || err instanceof QueueFullError ? err.retryAfterSeconds : undefined;
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    return reply.code(answer.status).send({ error: answer.code ?? statusCode(answer.status), message: answer.message });
  });
  // The methods of every path, for 405's Allow header: a known path asked with the wrong method is not a 404.
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', ({ url, method }) => {
    const methods = methodsByPath.get(url) ?? new Set<string>();
    for (const m of [method].flat()) methods.add(m);
    methodsByPath.set(url, methods);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = methodsByPath.get(path);
    if (allowed && !allowed.has(request.method)) {
      const allow = [...allowed].sort().join(', ');
      return reply
        .code(405)
        .header('Allow', allow)
        .send({ error: 'method_not_allowed', message: `${path} takes ${allow}, not ${request.method}` });
    }
    return reply.code(404).send({ error: 'not_found', message: `no ${request.method} ${path}; the API is described at /docs` });
  });
  if (settings.cors !== false) await app.register(cors, { origin: settings.cors, methods: ['GET', 'HEAD', 'POST'] });
  // Over the memory cap a request is turned away before its body is read; /healthz still answers, so a load balancer
  // sees a live server that is busy, not a dead one.
  await app.register(underPressure, {
    maxRssBytes: settings.maxMemory,
    sampleInterval: 100,
    pressureHandler: (request, _reply, _type, rss) => {
      if (request.url === '/healthz') return;
      throw new HttpError(
        503,
        'over_memory_cap',
        `the server is over its memory cap (${megabytes(rss ?? 0)} of ${megabytes(settings.maxMemory)}): retry after ${MEMORY_RETRY_SECONDS} s`,
        MEMORY_RETRY_SECONDS,
      );
    },
  });

  // Only image bodies are parsed; JSON, text and the rest are refused with 415 before any byte is buffered.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...RAW_IMAGE_TYPES], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  await app.register(multipart, { limits: { fileSize: bodyLimit, files: 1, fields: 16, parts: 32 } });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'mien',
        description: 'Facial expression recognition: every face in a photo with its expression.',
        version: modelInfo.version,
      },
    },
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      // Binary bodies are described by hand: a route body schema would make fastify validate them as JSON.
      const post = (document.openapiObject.paths?.['/v1/recognize'] as { post?: Record<string, unknown> } | undefined)?.post;
      if (post) post.requestBody = recognizeRequestBody;
      return document.openapiObject;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const errorResponses = (...codes: number[]) =>
    Object.fromEntries(codes.map((c) => [c, { ...errorSchema, description: STATUS_CODES[c] }]));

  app.get('/healthz', { schema: { summary: 'Is the server up', response: { 200: healthResponseSchema } } }, async () => ({
    status: 'ok' as const,
    model: modelInfo.name,
    queue: { running: queue.running, waiting: queue.waiting, concurrency: queue.concurrency, maxWaiting: queue.maxWaiting },
  }));

  app.get(
    '/v1/models',
    { schema: { summary: 'The expression model the server runs', response: { 200: modelsResponseSchema } } },
    async () => ({
      models: [modelInfo],
    }),
  );

  app.post<{ Querystring: RecognizeQuery }>(
    '/v1/recognize',
    {
      schema: {
        summary: 'Every face in an image with its expression',
        querystring: recognizeQuerySchema,
        response: { 200: recognizeResponseSchema, ...errorResponses(400, 408, 413, 415, 503) },
      },
    },
    async (request, reply) => {
      const image = await imageBody(request, bodyLimit);
      const {
        detector = defaultDetector,
        'min-face': minFaceSize,
        'min-confidence': minConfidence,
        'max-faces': maxFaces,
        tta,
      } = request.query;
      const deadline = requestDeadline(reply, timeoutMs);
      const settings = {
        detector,
        minFaceSize,
        minConfidence,
        maxFaces: maxFaces ?? Infinity,
        tta: tta === 'true' || (tta !== 'false' && tta),
      };
      try {
        return await queue.run(() => pool.run({ image, settings }), deadline.signal);
      } catch (err) {
        throw toHttpError(err, queue, timeoutMs);
      } finally {
        deadline.clear();
      }
    },
  );

  // While closing, answers end their connection: a kept-alive one would hold the shutdown until its idle timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('Connection', 'close');
  });
  app.addHook('onClose', async () => {
    await queue.idle();
    await pool.close();
  });

  return {
    fastify: app,
    model: modelInfo,
    queue,
    get inFlight() {
      return inFlight;
    },
    async listen({ port = DEFAULT_PORT, host = DEFAULT_HOST } = {}) {
      try {
        return await app.listen({ port, host });
      } catch (err) {
        throw listenError(err, port, host);
      }
    },
    close: () => app.close(),
  };
}

/** The image of a request: its raw body, or the first file of a multipart upload. */
async function imageBody(request: FastifyRequest, bodyLimit: number): Promise<Buffer> {
  if (request.isMultipart()) {
    let image: Buffer | undefined;
    try {
      // The whole body is read, so a second file meets the files limit (413) instead of passing unseen.
      for await (const part of request.parts({ limits: { fileSize: bodyLimit, files: 1 } })) {
        if (part.type === 'file') image = await part.toBuffer();
      }
    } catch (err) {
      // busboy's own errors (no or wrong boundary, a body cut off) carry no code: they are the client's malformed body
      if ((err as FastifyError).code) throw err;
      throw new HttpError(400, 'bad_multipart', `malformed multipart/form-data body: ${(err as Error).message}`);
    }
    if (!image)
      throw new HttpError(400, 'no_file', 'the multipart body has no file: send the image as a file field (curl -F image=@photo.jpg)');
    return image;
  }
  if (!Buffer.isBuffer(request.body)) {
    throw new HttpError(415, 'unsupported_media_type', SEND_AN_IMAGE);
  }
  return request.body;
}

/** A request still waiting for a slot when its time is up. */
class QueueTimeoutError extends Error {}

/** A request whose client left before its answer: it gives up its place in the queue. */
class ClientGoneError extends Error {}

/**
 * A signal that aborts when the request has waited `timeoutMs` since it arrived, or when its client has gone (then
 * nobody would read the answer). `clear` stops watching, once the recognition is over.
 */
function requestDeadline(reply: FastifyReply, timeoutMs: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new QueueTimeoutError()), Math.max(0, timeoutMs - reply.elapsedTime));
  const onClose = () => controller.abort(new ClientGoneError('the client closed the connection'));
  reply.raw.once('close', onClose);
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
    },
  };
}

/** The queue's abort reasons as answers; every other error goes to the error handler as it is. */
function toHttpError(err: unknown, queue: WorkQueue, timeoutMs: number): unknown {
  // nginx's status for it: nobody reads the answer, but a log shows why the request ended
  if (err instanceof ClientGoneError) return new HttpError(499, 'client_closed_request', err.message);
  if (err instanceof QueueTimeoutError) {
    const retry = queue.retryAfterSeconds();
    return new HttpError(503, 'timeout', `no recognition slot came free within ${timeoutMs / 1000} s; retry after ${retry} s`, retry);
  }
  return err;
}

/** fastify's and @fastify/multipart's own errors, as the API's error codes with messages that say what to do. */
function fromFastifyError(err: FastifyError, request: FastifyRequest, bodyLimit: number): HttpError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new HttpError(413, 'body_too_large', `the image is over the ${megabytes(bodyLimit)} body limit`);
    case 'FST_FILES_LIMIT':
      return new HttpError(413, 'too_many_files', 'send one image per request');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new HttpError(415, 'unsupported_media_type', SEND_AN_IMAGE);
    case 'FST_ERR_VALIDATION':
      return new HttpError(400, 'bad_request', validationMessage(err, request));
  }
  const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
  if (status >= 500) return new HttpError(status, 'internal', 'internal server error');
  return new HttpError(status, statusCode(status), err.message);
}

/**
 * A query that fails its schema, in mien's words: the parameter, what it takes and what it got, as the CLI says it
 * (`min-face must be at least 1, got 0`), not the validator's (`querystring/min-face must be >= 1`).
 */
function validationMessage(err: FastifyError, request: FastifyRequest): string {
  const [first] = err.validation ?? [];
  if (!first) return err.message;
  const query = new URL(request.url, 'http://localhost').searchParams;
  const param = first.instancePath.replace(/^\//, '');
  const got = `got ${JSON.stringify(query.get(param))}`;
  const { params } = first as { params: Record<string, unknown> };
  const known = Object.keys(recognizeQuerySchema.properties).join(', ');
  switch (first.keyword) {
    case 'additionalProperties':
      return `unknown query parameter '${String(params.additionalProperty)}': use ${known}`;
    case 'enum':
      return `${param} must be one of ${(params.allowedValues as string[]).join(', ')}, ${got}`;
    case 'type':
      return `${param} must be ${({ integer: 'a whole number', number: 'a number', boolean: 'true or false' } as Record<string, string>)[String(params.type)] ?? String(params.type)}, ${got}`;
    case 'minimum':
      return `${param} must be at least ${String(params.limit)}, ${got}`;
    case 'exclusiveMaximum':
      return `${param} must be below ${String(params.limit)}, ${got}`;
  }
  return `${param} ${first.message ?? 'is not valid'}, ${got}`;
}

/** What GET /v1/models says about the model, from its file and metadata. */
async function describeModel(name: string, path: string): Promise<ModelInfo> {
  const bytes = await readFile(path);
  const meta = decodeOnnxMetadata(bytes, path);
  // models written by other tools may lack mien.input; mien's face crop is 48×48 gray
  const input = meta['mien.input']
    ? (JSON.parse(meta['mien.input']) as { width: number; height: number; channels: number })
    : { width: FACE_SIZE, height: FACE_SIZE, channels: 1 };
  return {
    name,
    version: createHash('sha256').update(bytes).digest('hex').slice(0, 12),
    ...(meta['mien.architecture'] && { architecture: meta['mien.architecture'] }),
    ...(meta['mien.training_date'] && { trained: meta['mien.training_date'] }),
    classes: JSON.parse(meta['mien.classes']!) as string[],
    input: { width: input.width, height: input.height, channels: input.channels },
  };
}
