/**
 * The page: a source (camera, video file or photo) drawn frame by frame on the view canvas, each frame's faces
 * found, classified and smoothed per track as `mien video` does, then drawn on it. Keys: Space saves a snapshot, Esc
 * stops, C starts the camera, O opens a file.
 */
import './style.css';
import {
  DEFAULT_TRACKER_OPTIONS,
  drawFaces,
  EXPRESSION_COLOURS,
  EXPRESSIONS,
  faceRecord,
  FaceTracker,
  MienError,
  type TrackedFace,
} from 'mien-fer';
import { createEngine, type Engine, type Search } from './engine.js';
import { FrameStats } from './stats.js';

type State = 'loading' | 'ready' | 'error' | 'camera' | 'video' | 'photo' | 'stopped';

const element = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
};

const view = element<HTMLCanvasElement>('view');
// Read back every frame: a CPU-backed canvas makes getImageData cheap.
const ctx = view.getContext('2d', { willReadFrequently: true })!;
const video = element<HTMLVideoElement>('source');
const cameraButton = element<HTMLButtonElement>('camera');
const stopButton = element<HTMLButtonElement>('stop');
const snapshotButton = element<HTMLButtonElement>('snapshot');
const fileInput = element<HTMLInputElement>('file');
const farFaces = element<HTMLInputElement>('far');
const modelChoice = element<HTMLSelectElement>('model-choice');
const drop = element<HTMLDivElement>('drop');
const statusLine = element<HTMLParagraphElement>('status');
const faceList = element<HTMLOListElement>('faces');
const noFaces = element<HTMLParagraphElement>('no-faces');
const output = (id: string) => element<HTMLOutputElement>(id);
const fpsOutput = output('fps');

/** The readouts change at most this often: numbers redrawn every frame cannot be read. */
const READOUT_INTERVAL_MS = 250;

let engine: Engine | undefined;
let state: State = 'loading';
/** Bumped whenever the source changes or stops; a frame loop whose generation is stale ends. */
let generation = 0;
let stream: MediaStream | undefined;
let sourceName = '';
let tracker = new FaceTracker(DEFAULT_TRACKER_OPTIONS);
let faces: TrackedFace[] = [];
let frameIndex = -1;
const stats = new FrameStats();
let lastReadout = 0;

function setState(next: State, message?: string): void {
  state = next;
  document.body.dataset.state = next;
  if (message !== undefined) statusLine.textContent = message;
  const ready = engine !== undefined;
  const running = next === 'camera' || next === 'video';
  cameraButton.disabled = !ready || next === 'camera';
  fileInput.disabled = !ready;
  stopButton.disabled = !running;
  snapshotButton.disabled = frameIndex < 0;
}

/** Ends whatever source is running; the view keeps its last annotated frame. */
function stopSource(): void {
  generation++;
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = undefined;
  video.pause();
  video.srcObject = null;
  if (video.src) {
    URL.revokeObjectURL(video.src);
    video.removeAttribute('src');
    video.load();
  }
}

function newSource(name: string): number {
  stopSource();
  sourceName = name;
  tracker = new FaceTracker(DEFAULT_TRACKER_OPTIONS);
  engine?.reset();
  faces = [];
  frameIndex = -1;
  stats.reset();
  return generation;
}

/** Video frames presented so far, as the video's frame callbacks count them. */
let presented = 0;
/** Resolves the frame loop's wait when the next frame is presented. */
let onPresented: (() => void) | undefined;

/** Follows the frames of the current source as they are presented, until the source changes. */
function countFrames(mine: number): void {
  const onFrame = (_now: number, frame: VideoFrameCallbackMetadata) => {
    if (mine !== generation) return;
    presented = frame.presentedFrames;
    onPresented?.();
    onPresented = undefined;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

/** Analyses one picture already drawn on the view: faces, tracking, overlay, readouts. */
async function analyzeView(search: Search, started: number): Promise<void> {
  const drawn = performance.now();
  const analysis = await engine!.analyze(ctx, search);
  faces = tracker.update(analysis.faces.map((f) => ({ box: f.box, probabilities: EXPRESSIONS.map((e) => f.probabilities[e]) })));
  const drawStart = performance.now();
  drawFaces(ctx, faces);
  const end = performance.now();
  frameIndex++;
  snapshotButton.disabled = false;
  stats.record({ ...analysis.times, capture: analysis.times.capture + (drawn - started), draw: end - drawStart }, end);
  fpsOutput.dataset.frames = String(stats.frames);
  if (end - lastReadout >= READOUT_INTERVAL_MS || search === 'thorough') {
    lastReadout = end;
    showReadouts();
  }
}

/** Draws and analyses video frames as they arrive, each as soon as the previous one is done, until the source changes. */
async function runVideo(mine: number): Promise<void> {
  countFrames(mine);
  let analysed = presented;
  while (mine === generation) {
    // A frame that arrived while the last one was analysed is taken at once; waiting for the next would idle.
    if (presented === analysed) await new Promise<void>((resolve) => (onPresented = resolve));
    if (mine !== generation) return;
    analysed = presented;
    const started = performance.now();
    if (view.width !== video.videoWidth || view.height !== video.videoHeight) {
      view.width = video.videoWidth;
      view.height = video.videoHeight;
    }
    ctx.drawImage(video, 0, 0);
    try {
      await analyzeView(farFaces.checked ? 'whole' : 'near', started);
    } catch (err) {
      if (mine === generation) fail(err);
      return;
    }
  }
}

async function startCamera(): Promise<void> {
  if (!engine || state === 'camera') return;
  const mine = newSource('camera');
  setState('stopped', 'Starting the camera…');
  try {
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    if (mine !== generation) {
      for (const track of media.getTracks()) track.stop();
      return;
    }
    stream = media;
    video.srcObject = media;
    await video.play();
  } catch (err) {
    const name = (err as DOMException).name;
    const why =
      name === 'NotAllowedError'
        ? 'the camera permission was refused (allow it in the address bar and try again)'
        : name === 'NotFoundError'
          ? 'no camera was found'
          : (err as Error).message;
    setState('stopped', `Cannot start the camera: ${why}.`);
    return;
  }
  setState('camera', 'Camera on. Space saves a snapshot, Esc stops.');
  view.focus();
  void runVideo(mine);
}

function stop(): void {
  if (state !== 'camera' && state !== 'video') return;
  const what = state === 'camera' ? 'Camera' : 'Video';
  stopSource();
  setState('stopped', `${what} stopped.`);
}

async function openFile(file: File): Promise<void> {
  if (!engine) return;
  if (file.type.startsWith('video/')) {
    const mine = newSource(file.name);
    video.src = URL.createObjectURL(file);
    video.loop = false;
    video.onended = () => {
      if (mine === generation) setState('stopped', `${file.name}: the video ended.`);
    };
    try {
      await video.play();
    } catch {
      setState('stopped', `${file.name}: this browser cannot play it.`);
      return;
    }
    setState('video', `Playing ${file.name}. Space saves a snapshot, Esc stops.`);
    view.focus();
    void runVideo(mine);
    return;
  }
  newSource(file.name);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    setState('stopped', `${file.name}: not a picture this browser can read.`);
    return;
  }
  const started = performance.now();
  view.width = bitmap.width;
  view.height = bitmap.height;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  setState('photo', `Looking for faces in ${file.name}…`);
  try {
    await analyzeView('thorough', started);
  } catch (err) {
    fail(err);
    return;
  }
  const found = faces.length === 0 ? 'no face found' : `${faces.length} face${faces.length === 1 ? '' : 's'}`;
  setState('photo', `${file.name}: ${found}. Space saves a snapshot.`);
}

function showReadouts(): void {
  const fps = stats.fps;
  const t = stats.meanTimes;
  fpsOutput.textContent = fps === undefined ? '–' : fps.toFixed(1);
  const ms = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(1)} ms`);
  output('t-detect').textContent = ms(t?.detect);
  output('t-classify').textContent = ms(t?.classify);
  output('t-draw').textContent = ms(t?.draw);
  output('t-capture').textContent = ms(t?.capture);

  faceList.replaceChildren(
    ...faces.map((face, i) => {
      const ranked = EXPRESSIONS.map((e, c) => ({ e, p: face.probabilities[c]! })).sort((a, b) => b.p - a.p);
      const percent = (p: number) => `${Math.round(100 * p)}%`;
      const item = document.createElement('li');
      item.dataset.expression = face.expression;
      item.dataset.trackId = String(face.trackId);
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = EXPRESSION_COLOURS[face.expression];
      swatch.setAttribute('aria-hidden', 'true');
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = `Face ${i + 1}: ${face.expression} ${percent(ranked[0]!.p)}`;
      const meter = document.createElement('meter');
      meter.min = 0;
      meter.max = 1;
      meter.value = ranked[0]!.p;
      meter.setAttribute('aria-label', `face ${i + 1}, ${face.expression}: ${percent(ranked[0]!.p)}`);
      const runnerUp = document.createElement('span');
      runnerUp.className = 'muted';
      runnerUp.textContent = `then ${ranked[1]!.e} ${percent(ranked[1]!.p)}`;
      item.append(swatch, label, meter, runnerUp);
      return item;
    }),
  );
  noFaces.hidden = faces.length > 0;
}

function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  // The download has started once the click returns; the URL can go a little later.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Saves what the view shows: the annotated picture as PNG and its faces as JSON (the `mien video --json` faces). */
async function snapshot(): Promise<void> {
  if (frameIndex < 0 || !engine) {
    statusLine.textContent = 'Nothing to save yet: start the camera or open a file first.';
    return;
  }
  const time = new Date();
  const base = `mien-${time.toISOString().replace(/[:.]/g, '-')}`;
  const record = {
    source: sourceName,
    time: time.toISOString(),
    frame: frameIndex,
    width: view.width,
    height: view.height,
    model: engine.model.name,
    backend: engine.backend,
    faces: faces.map(faceRecord),
  };
  const png = await new Promise<Blob | null>((resolve) => view.toBlob(resolve, 'image/png'));
  if (!png) {
    statusLine.textContent = 'The snapshot could not be encoded.';
    return;
  }
  download(png, `${base}.png`);
  download(new Blob([`${JSON.stringify(record, null, 2)}\n`], { type: 'application/json' }), `${base}.json`);
  statusLine.textContent = `Saved ${base}.png and ${base}.json (${faces.length} face${faces.length === 1 ? '' : 's'}).`;
}

function fail(err: unknown): void {
  stopSource();
  const explained = err instanceof MienError;
  setState('error', explained ? err.message : `Something went wrong: ${(err as Error).message ?? String(err)}`);
  if (!explained) console.error(err);
}

/** Space would press a focused button or tick a box; shortcuts leave those keys to the control. */
const isControl = (target: EventTarget | null): boolean =>
  target instanceof HTMLElement && target.matches('button, input, select, textarea, a[href], summary');

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === 'Escape') {
    stop();
  } else if (event.key === ' ' && !isControl(event.target)) {
    event.preventDefault();
    if (!event.repeat) void snapshot();
  } else if ((event.key === 'c' || event.key === 'C') && !isControl(event.target)) {
    void startCamera();
  } else if ((event.key === 'o' || event.key === 'O') && !isControl(event.target) && !fileInput.disabled) {
    fileInput.click();
  }
});

cameraButton.addEventListener('click', () => void startCamera());
// Another model is another engine: the page loads again with it.
modelChoice.addEventListener('change', () => {
  const next = new URLSearchParams(location.search);
  next.set('model', modelChoice.value);
  location.search = next.toString();
});
stopButton.addEventListener('click', stop);
snapshotButton.addEventListener('click', () => void snapshot());
fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) void openFile(file);
  fileInput.value = '';
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('dragging');
});
drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('dragging');
  const file = event.dataTransfer?.files[0];
  if (file) void openFile(file);
});

const query = new URLSearchParams(location.search);
const threads = query.get('threads');
try {
  engine = await createEngine({
    backend: query.get('backend'),
    threads: threads === null ? null : Number(threads),
    model: query.get('model'),
  });
  modelChoice.replaceChildren(...engine.models.map((name) => new Option(name, name, false, name === engine!.model.name)));
  modelChoice.disabled = engine.models.length < 2;
  output('backend').textContent = engine.backend;
  const architecture = engine.model.metadata['mien.architecture'];
  output('model').textContent = architecture ? `${engine.model.name} (${architecture})` : engine.model.name;
  setState('ready', 'Ready: start the camera, or open a photo or video.');
} catch (err) {
  fail(err);
}
