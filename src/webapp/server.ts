/**
 * Serves the built webcam page (dist/web, from web/) and the models it runs, with the cross-origin-isolation
 * headers that let onnxruntime-web use wasm threads. Everything the page needs comes from here: nothing is fetched
 * from another site. fastify and @fastify/static do the HTTP (ranges, ETag, 304, paths kept inside the folder).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import { packageRoot } from '../core/package-root.js';
import { DETECTOR_MODEL_FILES } from '../detect/dnn.js';
import {
  loadExpressionModel,
  ModelError,
  PAGE_MODEL,
  resolveModelPath,
  SHIPPED_MODELS,
  shippedModelPath,
} from '../recognize/expression-model.js';
import { listenError, ServeError } from '../server/listen.js';
import { MANIFEST_FILE, MODELS_PATH, type ModelManifest } from './protocol.js';

export const DEFAULT_WEB_PORT = 5173;

/**
 * On every response. COOP + COEP make the page cross-origin isolated, which is what gives it SharedArrayBuffer and
 * so wasm threads; CORP lets the isolated page load these files.
 */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};
/** Files whose URL changes with their content: Vite's hashed assets and the versioned model files. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

export interface WebServerOptions {
  /** Expression model: a shipped name or an .onnx file. Default `lite` (PAGE_MODEL); when that is not there the page says so. */
  model?: string;
  /** The built page; default dist/web in the package. */
  appDir?: string;
}

export interface WebServer {
  /** The model the page gets, or why there is none (shown on the page). */
  readonly model: { name: string; path: string } | { missing: string };
  listen(port: number, host: string): Promise<string>;
  close(): Promise<void>;
}

/** The built page's folder, after checking it is there: the app is built by `npm run build:web` (part of `npm ci`). */
async function appFolder(dir: string): Promise<string> {
  const index = await stat(join(dir, 'index.html')).catch(() => undefined);
  if (!index?.isFile()) throw new ServeError(`the web app is not built (no ${join(dir, 'index.html')}): run npm run build:web`);
  return dir;
}

/**
 * The model the page will run. A model named on the command line must be usable, or `mien web` stops with the reason;
 * the default may be missing (a checkout without the shipped models), and then the page explains what to do.
 */
async function pageModel(model: string | undefined): Promise<WebServer['model']> {
  try {
    const resolved = resolveModelPath(model ?? PAGE_MODEL);
    await loadExpressionModel(resolved.path, { threads: 1 });
    return resolved;
  } catch (err) {
    if (model !== undefined || !(err instanceof ModelError)) throw err;
    return { missing: `No expression model: ${err.message} to mien web.` };
  }
}

/** A model file under its versioned URL path (`models/<hash>/<name>`), relative to the page. */
async function versioned(path: string): Promise<{ url: string; path: string }> {
  const hash = createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
    .slice(0, 16);
  return { url: `${MODELS_PATH}${hash}/${basename(path)}`, path };
}

export async function createWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const appDir = await appFolder(options.appDir ?? join(packageRoot(), 'dist', 'web'));
  const model = await pageModel(options.model);
  const modelsDir = join(packageRoot(), 'models');
  // The shipped models besides the page's own, where the package has them: the page's menu offers them.
  const otherNames = SHIPPED_MODELS.filter((name) => !('name' in model && model.name === name) && existsSync(shippedModelPath(name)));
  const [fullRange, shortRange, expression] = await Promise.all([
    versioned(join(modelsDir, DETECTOR_MODEL_FILES.fullRange)),
    versioned(join(modelsDir, DETECTOR_MODEL_FILES.shortRange)),
    'missing' in model ? undefined : versioned(model.path),
  ]);
  const others = await Promise.all(otherNames.map((name) => versioned(shippedModelPath(name))));
  const manifest: ModelManifest = {
    expression: expression && !('missing' in model) ? { name: model.name, url: expression.url } : (model as { missing: string }),
    others: others.map((file, i) => ({ name: otherNames[i]!, url: file.url })),
    detector: { fullRange: fullRange.url, shortRange: shortRange.url },
  };
  const manifestBody = JSON.stringify(manifest);
  const manifestTag = `"${createHash('sha256').update(manifestBody).digest('hex').slice(0, 16)}"`;
  const modelFiles = new Map<string, string>(
    [fullRange, shortRange, ...(expression ? [expression] : []), ...others].map((f) => [`/${f.url}`, f.path]),
  );

  // The page keeps connections alive; on close they are cut, as it has nothing in flight worth waiting for.
  const modelPaths = new Set(modelFiles.values());

  const app = Fastify({ forceCloseConnections: true });
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(ISOLATION_HEADERS);
  });
  await app.register(fastifyStatic, {
    root: appDir,
    cacheControl: false,
    // Vite names assets by content hash, so they never change; index.html and the rest are checked each time.
    setHeaders: (reply, path) =>
      reply.header('Cache-Control', path.startsWith(join(appDir, 'assets')) || modelPaths.has(path) ? IMMUTABLE : 'no-cache'),
  });
  app.get(`/${MODELS_PATH}${MANIFEST_FILE}`, async (request, reply) => {
    reply.header('Cache-Control', 'no-cache').header('ETag', manifestTag);
    if (request.headers['if-none-match'] === manifestTag) return reply.code(304).send();
    return reply.type('application/json').send(manifestBody);
  });
  app.get(`/${MODELS_PATH}:version/:file`, (request, reply) => {
    const path = modelFiles.get(request.url.split('?')[0]!);
    if (!path) return reply.code(404).type('text/plain').send('not found\n');
    return reply.sendFile(basename(path), dirname(path));
  });
  app.setNotFoundHandler((request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return reply.code(405).header('Allow', 'GET, HEAD').type('text/plain').send('only GET and HEAD\n');
    }
    return reply.code(404).type('text/plain').send('not found\n');
  });
  // @fastify/static refuses paths that climb out of the folder with 403; to the page they are simply not there.
  app.setErrorHandler((err: { statusCode?: number }, _request, reply) => {
    const status = err.statusCode === 403 || err.statusCode === 404 ? 404 : (err.statusCode ?? 500);
    return reply
      .code(status)
      .type('text/plain')
      .send(status === 404 ? 'not found\n' : 'internal error\n');
  });

  return {
    model,
    async listen(port, host) {
      try {
        return `${await app.listen({ port, host })}/`;
      } catch (err) {
        throw listenError(err, port, host);
      }
    },
    close: () => app.close(),
  };
}
