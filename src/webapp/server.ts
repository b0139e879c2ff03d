/**
 * Serves the built webcam page (dist/web, from web/) and the models it runs, with the cross-origin-isolation
 * headers that let onnxruntime-web use wasm threads. Everything the page needs comes from here: nothing is fetched
 * from another site.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { packageRoot } from '../core/package-root.js';
import { DETECTOR_MODEL_FILES } from '../detect/dnn.js';
import { loadExpressionModel, ModelError, resolveModelPath } from '../recognize/expression-model.js';
import { listenError, ServeError } from '../server/listen.js';
import { EXPRESSION_MODEL_FILE, MODEL_NAME_HEADER, MODELS_PATH } from './protocol.js';

export const DEFAULT_WEB_PORT = 5173;

const EXPRESSION_MODEL_URL = `/${MODELS_PATH}${EXPRESSION_MODEL_FILE}`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

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

export interface WebServerOptions {
  /** Expression model: a shipped name or an .onnx file. Default `fast`; when that is not there the page says so. */
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
 * the default `fast` may be missing (it is not shipped yet), and then the page explains what to do.
 */
async function pageModel(model: string | undefined): Promise<WebServer['model']> {
  try {
    const resolved = resolveModelPath(model);
    await loadExpressionModel(resolved.path, { threads: 1 });
    return resolved;
  } catch (err) {
    if (model !== undefined || !(err instanceof ModelError)) throw err;
    return { missing: `No expression model: ${err.message} to mien web.` };
  }
}

export async function createWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const appDir = await appFolder(options.appDir ?? join(packageRoot(), 'dist', 'web'));
  const model = await pageModel(options.model);
  const modelsDir = join(packageRoot(), 'models');
  const modelFiles = new Map<string, string>(
    Object.values(DETECTOR_MODEL_FILES).map((file) => [`/${MODELS_PATH}${file}`, join(modelsDir, file)]),
  );

  async function sendFile(req: IncomingMessage, res: ServerResponse, path: string, headers: Record<string, string> = {}): Promise<void> {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return sendText(res, 404, 'not found');
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
      'Content-Length': String(info.size),
      // Vite names assets by content hash, so they never change; everything else is checked each time.
      'Cache-Control': path.startsWith(join(appDir, 'assets') + sep) ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...headers,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(path)
      .on('error', () => res.destroy())
      .pipe(res);
  }

  function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache', ...headers });
    res.end(`${text}\n`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return sendText(res, 400, 'bad URL');
    }
    if (pathname === EXPRESSION_MODEL_URL) {
      if ('missing' in model) return sendText(res, 404, model.missing);
      return sendFile(req, res, model.path, { [MODEL_NAME_HEADER]: model.name });
    }
    const detectorFile = modelFiles.get(pathname);
    if (detectorFile) return sendFile(req, res, detectorFile);
    // Only files inside the app folder: a path that normalises to outside it is refused.
    const path = normalize(join(appDir, pathname === '/' ? 'index.html' : pathname));
    if (!path.startsWith(appDir + sep)) return sendText(res, 404, 'not found');
    return sendFile(req, res, path);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    });
  });

  return {
    model,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', (err) => reject(listenError(err, port, host)));
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve(`http://${shown}:${address.port}/`);
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Idle keep-alive connections would hold the server open; the page has nothing in flight worth waiting for.
        server.closeAllConnections();
      }),
  };
}
