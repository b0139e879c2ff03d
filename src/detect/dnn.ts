/**
 * `--detector dnn`, the default: MediaPipe's BlazeFace face detectors, converted to ONNX by
 * scripts/convert-detector.ts and run on onnxruntime, two models as an ensemble. The short-range (selfie) model finds
 * a face surely once it is 32 px or more of its 128-px view, and it is fully convolutional, so it runs over a pyramid of
 * the whole photo: each level half the scale of the previous one, the first where the smallest face asked for is 32 px,
 * the last where the photo is 128 px. The full-range model
 * (192×192 input, which it needs: run over larger inputs it loses faces) sees the whole photo and, because a 192-px
 * view of a 1000-px group photo shrinks a 48-px face to 9 px, levels of overlapping tiles. The detections of all views
 * are merged with BlazeFace's weighted non-maximum suppression. A face that fills the photo (a close-up, a face crop)
 * is too large for every one of these views; one more, the photo shrunk into the middle of the short-range model's
 * view, finds it (zoomedOutView).
 */
import { MienError } from '../core/errors.js';
import { iou, type Box } from '../core/geometry.js';
import type { InferenceSession, OnnxRuntime } from '../core/onnx-runtime.js';
import { sampleRegion, sampleWindows, shrinkImage, summedAreaTable, type Region, type SummedAreaTable, type Window } from './dnn-input.js';
import type { DetectedFace, FaceDetector, FaceLandmarks } from './face-detector.js';
import type { PixelImage } from './haar-image.js';

/** A DNN face: its six keypoints are always there. */
export interface DnnFace extends DetectedFace {
  landmarks: FaceLandmarks;
}

/** How the detector searches, on any onnxruntime. */
export interface DetectionOptions {
  /** Smallest face searched for, in photo pixels (its box's larger side); the larger it is, the fewer views. Default 48. */
  minFaceSize?: number;
  /**
   * Faces scoring below this are dropped (0–1), for both models. Default: each model's own threshold
   * (DEFAULT_SCORE_THRESHOLDS), measured on the WIDER FACE dev photos.
   */
  scoreThreshold?: number;
  /** Detections overlapping more than this (IoU) are merged into one face. Default 0.3. */
  iouThreshold?: number;
  /**
   * Run the full-range model and the short-range pyramid (default true). Without them only the short-range model
   * looks, at the whole photo shrunk to 128 px: it finds the near, large faces of a webcam or a
   * selfie for a fraction of the cost, and misses small ones.
   */
  fullRange?: boolean;
}

export interface DnnFaceDetector extends FaceDetector {
  /** Every face in the photo, highest score first. */
  detect(image: PixelImage): Promise<DnnFace[]>;
  dispose(): Promise<void>;
}

/** One of the converted MediaPipe models: its file under models/, the square view it was trained on, its anchor layout. */
interface DetectorModel {
  file: string;
  inputSize: number;
  /** Per feature map: its stride in input pixels and the anchors at each of its cells (a fixed size each). */
  layers: { stride: number; perCell: number }[];
  /**
   * BlazeFace boxes are square and reach below the chin; WIDER FACE boxes are tight and taller than wide. Each box is
   * scaled by these factors about its centre, the centre moved by `shiftY` × the model box's height: the medians of
   * the ratios between matched WIDER and model boxes on the WIDER FACE dev photos (over 250 faces per model), so
   * that both models' boxes have one framing before they are merged.
   */
  framing: { scaleX: number; scaleY: number; shiftY: number };
}

/** The anchors of a model's output for one input size. */
interface AnchorGrid {
  /** x, y of each anchor in input pixels, in the order of the model's output rows. */
  centres: Float32Array;
}

/**
 * SSD anchors as MediaPipe lays them out: for each feature-map stride, `perCell` anchors at the centre of every cell,
 * row by row (the models' fixed anchor size means the box regressors are plain pixel offsets and sizes).
 */
function anchorGrid(model: DetectorModel, width: number, height: number): AnchorGrid {
  const key = `${model.file}:${width}×${height}`;
  const known = anchorGrids.get(key);
  if (known) return known;
  const centres: number[] = [];
  for (const { stride, perCell } of model.layers) {
    const cols = Math.ceil(width / stride);
    const rows = Math.ceil(height / stride);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        for (let k = 0; k < perCell; k++) centres.push((x + 0.5) * stride, (y + 0.5) * stride);
      }
    }
  }
  const grid = { centres: Float32Array.from(centres) };
  // Video frames and photo batches repeat a few sizes; the oldest grid goes when more are kept.
  if (anchorGrids.size >= 16) anchorGrids.delete(anchorGrids.keys().next().value!);
  anchorGrids.set(key, grid);
  return grid;
}
const anchorGrids = new Map<string, AnchorGrid>();

/** Full range (faces within ~5 m): one 48×48 grid of anchors. Sees the whole photo and its own tiles. */
const FULL_RANGE: DetectorModel = {
  file: 'face-detector.onnx',
  inputSize: 192,
  layers: [{ stride: 4, perCell: 1 }],
  framing: { scaleX: 0.86, scaleY: 1.2, shiftY: -0.05 },
};
/** Short range (faces within ~2 m, the selfie model): 16×16 and 8×8 grids in its 128-px view. Sees the pyramid. */
const SHORT_RANGE: DetectorModel = {
  file: 'face-detector-short.onnx',
  inputSize: 128,
  layers: [
    { stride: 8, perCell: 2 },
    { stride: 16, perCell: 6 },
  ],
  framing: { scaleX: 0.87, scaleY: 1.23, shiftY: -0.09 },
};
/** The short-range model's coarsest stride: its inputs are padded to whole multiples of it. */
const SHORT_RANGE_STRIDE = 16;
/**
 * Side, in input pixels, of the parts a large short-range level (the finest of a big photo) is cut into, overlapping
 * by PART_OVERLAP, so memory stays bounded and each face, up to twice the level's surest size, lies whole in some
 * part. 512 rather than 1024: on a 12-megapixel photo the whole detection peaks at 0.73 GB instead of 1.20 GB and takes
 * 0.82× the time (farm-bench, 5 pairs, 2026-12-02): onnxruntime's arena keeps the largest run's memory.
 */
const MAX_PART = 512;
const PART_OVERLAP = 128;
/**
 * A level of at most this many input pixels runs whole, uncut: the finest level of a 1024×768 photo (688×512) is then
 * one run instead of two overlapping 512×512 ones, and the whole detection takes 0.80× the time at the same recall and
 * precision on the WIDER FACE dev photos.
 */
const MAX_WHOLE_LEVEL = 1.5 * MAX_PART * MAX_PART;
/**
 * Full-range tiles run in batches of at most this many: one batch of every tile of a 12-megapixel photo took the
 * model 1.6 GB; eight keep it near 0.1 GB and onnxruntime still has a batch to spread over its threads.
 */
const TILE_BATCH = 8;
/**
 * Photos larger than this are shrunk (area averaging) before the detector looks at them, and the smallest face with
 * them: the summed-area table costs 24 bytes a pixel, 1.2 GB for a 50-megapixel photo, and a face the detector can
 * find at 4000 × 3000 it finds shrunk to it.
 */
export const DETECTION_MAX_PIXELS = 12_000_000;
/**
 * Most model-input pixels (full-range tiles and pyramid parts) one photo may cost, at about 0.2 s a million on 2
 * cores: a 12-megapixel photo at the default 48 px costs 19 M, a 50-megapixel one (the default pixel limit) 79 M, so
 * every photo the defaults admit fits and a search for smaller faces is bounded near 30 s; more is refused before
 * any run.
 */
export const MAX_DETECTION_WORK = 150_000_000;
/**
 * How much smaller than the pyramid's last level the zoomed-out view shows the photo: its longer side is then 85 px of
 * the 128-px view, with black around it. Chosen on 374 val faces (up to 60 a class) enlarged to fill 224×224 photos,
 * through the whole pipeline with `fast`: faces found in 230 photos without the view; with it at 1.25, 1.5, 1.75, 2
 * and 3 in 327, 350, 354, 345 and 311, and 56.2, 59.6, 59.1, 58.0 and 51.6 % of the photos right (40.1 % without).
 */
const ZOOM_OUT = 1.5;
/** Per anchor: logit, box centre dx, dy, width, height, then six keypoints' dx, dy — all in input pixels. */
const FIELDS = 17;
const KEYPOINTS = ['rightEye', 'leftEye', 'nose', 'mouth', 'rightEar', 'leftEar'] as const;

/**
 * Face width, in model-input pixels, above which the full-range model finds faces reliably: tiles are sized so that
 * the smallest face asked for is this wide. Measured on the WIDER FACE dev photos (bench/detect.ts).
 */
const RELIABLE_FACE = 20;
/**
 * Face size (larger box side), in input pixels, from which the short-range model finds faces surely: on the WIDER FACE
 * dev photos ≥ 90 % of the faces 32–96 px tall in its 128-px view score ≥ 0.6, against ≤ 61 % below 24 px. The
 * pyramid's first level shows the smallest face asked for at this size.
 */
const SHORT_RANGE_SURE_FACE = 32;
/**
 * Score thresholds, measured on the WIDER FACE dev photos (bench/detect.ts) as the point where both halves of the set
 * keep recall of faces ≥ 48 px near 90 % at a precision above 90 %. (Averaging each short-range view with its mirror
 * image, as the detector once did, bought nothing at its best threshold: 90.4 % recall at 93 % precision, against
 * 90.4 % at 95.9 % without it at 0.72, for twice the short-range runs.)
 */
export const DEFAULT_SCORE_THRESHOLDS = { fullRange: 0.7, shortRange: 0.72 } as const;

/** A detection before merging: box corners and keypoints in photo pixels. */
export interface Candidate {
  score: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** x, y of each keypoint in KEYPOINTS order. */
  points: Float64Array;
}

/**
 * BlazeFace's weighted non-maximum suppression: the best remaining detection and every other one overlapping it by
 * more than `threshold` become one face whose box and keypoints are their score-weighted mean, with the best score.
 * Averaging the overlapping anchors' (and windows') estimates steadies the box more than keeping the single best.
 */
export function weightedNms(candidates: Candidate[], threshold: number): Candidate[] {
  const remaining = [...candidates].sort((a, b) => b.score - a.score);
  const boxes = new Map(remaining.map((c) => [c, candidateBox(c)]));
  const faces: Candidate[] = [];
  while (remaining.length > 0) {
    const best = remaining[0]!;
    const overlap = (c: Candidate) => iou(boxes.get(best)!, boxes.get(c)!);
    const cluster = remaining.filter((c) => overlap(c) > threshold);
    const rest = remaining.filter((c) => overlap(c) <= threshold && c !== best);
    let total = 0;
    const merged: Candidate = { score: best.score, x0: 0, y0: 0, x1: 0, y1: 0, points: new Float64Array(best.points.length) };
    for (const c of cluster) {
      total += c.score;
      merged.x0 += c.x0 * c.score;
      merged.y0 += c.y0 * c.score;
      merged.x1 += c.x1 * c.score;
      merged.y1 += c.y1 * c.score;
      for (let k = 0; k < c.points.length; k++) merged.points[k]! += c.points[k]! * c.score;
    }
    merged.x0 /= total;
    merged.y0 /= total;
    merged.x1 /= total;
    merged.y1 /= total;
    for (let k = 0; k < merged.points.length; k++) merged.points[k]! /= total;
    faces.push(merged);
    remaining.splice(0, remaining.length, ...rest);
  }
  return faces;
}

const candidateBox = (c: Candidate): Box => ({ x: c.x0, y: c.y0, width: c.x1 - c.x0, height: c.y1 - c.y0 });

/** A window and the part of it whose detections it keeps: faces centred nearer a neighbouring tile belong to that tile. */
export interface Tile extends Window {
  keep: { x0: number; y0: number; x1: number; y1: number };
}

const EVERYWHERE = { x0: -Infinity, y0: -Infinity, x1: Infinity, y1: Infinity };

/**
 * The full-range model's windows: the whole photo (letterboxed to a square), and, when that view would make
 * faces of `minFaceSize` smaller than RELIABLE_FACE, levels of overlapping tiles whose side doubles from the finest,
 * where a `minFaceSize` face is RELIABLE_FACE wide, up to the photo's size. Tiles of a level overlap by the largest face
 * that level is responsible for (twice its smallest; larger faces are found whole by the next level), and each keeps
 * only the detections centred in its share of the overlap, so a face cut by a tile's edge is reported by the tile
 * that holds it whole.
 */
export function detectionWindows(width: number, height: number, minFaceSize: number): Tile[] {
  const full = Math.max(width, height);
  const windows: Tile[] = [{ x: onGrid((width - full) / 2, full), y: onGrid((height - full) / 2, full), side: full, keep: EVERYWHERE }];
  const finest = (minFaceSize * FULL_RANGE.inputSize) / RELIABLE_FACE;
  for (let side = finest; side < full; side *= 2) {
    const overlap = 2 * minFaceSize * (side / finest);
    const xs = tileStarts(width, side, overlap);
    const ys = tileStarts(height, side, overlap);
    // Tile i keeps centres from the middle of its overlap with tile i − 1 to the middle of its overlap with tile i + 1.
    const bounds = (list: number[], i: number): [number, number] => [
      i === 0 ? -Infinity : (list[i]! + list[i - 1]! + side) / 2,
      i === list.length - 1 ? Infinity : (list[i + 1]! + list[i]! + side) / 2,
    ];
    xs.forEach((x, i) =>
      ys.forEach((y, j) => {
        const [x0, x1] = bounds(xs, i);
        const [y0, y1] = bounds(ys, j);
        windows.push({ x, y, side, keep: { x0, y0, x1, y1 } });
      }),
    );
  }
  return windows;
}

/**
 * Tile origins are put on the grid of the tile's own input pixels (multiples of side / 192, less than one input pixel
 * from where the layout wants them), so that the tiles of a level share one resampling of the photo.
 */
const onGrid = (at: number, side: number, round = Math.round): number =>
  round((at * FULL_RANGE.inputSize) / side) * (side / FULL_RANGE.inputSize);

/** Where tiles of `side` start along an extent so that neighbours overlap by at least `overlap`, spread evenly. */
function tileStarts(extent: number, side: number, overlap: number): number[] {
  if (side >= extent) return [onGrid((extent - side) / 2, side)];
  const count = Math.ceil((extent - overlap) / (side - overlap));
  const step = (extent - side) / (count - 1);
  // The last tile is rounded up so that it still reaches the photo's far edge.
  return Array.from({ length: count }, (_, i) => onGrid(i * step, side, i === count - 1 ? (v) => Math.ceil(v - 1e-9) : Math.round));
}

/**
 * The short-range model's pyramid: the whole photo at scales halving from the one where a `minFaceSize` face is
 * SHORT_RANGE_SURE_FACE px (faces from there to twice that are this level's to find surely) down to the one where the
 * photo's longer side is the model's 128 px. Each level is padded with black to whole multiples of the model's
 * coarsest stride, and, when larger than MAX_WHOLE_LEVEL, cut into overlapping parts of MAX_PART px. `wholeOnly` keeps
 * the last level alone.
 */
export function pyramidLevels(width: number, height: number, minFaceSize: number, wholeOnly = false): Region[] {
  const steps: number[] = [];
  const last = Math.max(width, height) / SHORT_RANGE.inputSize;
  if (!wholeOnly) for (let step = minFaceSize / SHORT_RANGE_SURE_FACE; step < last; step *= 2) steps.push(step);
  steps.push(last);
  const strides = (pixels: number): number => Math.ceil(pixels / SHORT_RANGE_STRIDE - 1e-9) * SHORT_RANGE_STRIDE;
  // Starts and lengths of the parts along a level's side of `extent` input pixels, on the model's stride grid.
  const parts = (extent: number): [number, number][] => {
    if (extent <= MAX_PART) return [[0, extent]];
    // Starts are floored to the stride grid, so their spacing is kept a stride short of what the overlap allows.
    const count = 1 + Math.ceil((extent - MAX_PART) / (MAX_PART - PART_OVERLAP - SHORT_RANGE_STRIDE));
    const spacing = (extent - MAX_PART) / (count - 1);
    return Array.from({ length: count }, (_, i) => [Math.floor((i * spacing) / SHORT_RANGE_STRIDE) * SHORT_RANGE_STRIDE, MAX_PART]);
  };
  return steps.flatMap((step) => {
    const [levelWidth, levelHeight] = [strides(width / step), strides(height / step)];
    if (levelWidth * levelHeight <= MAX_WHOLE_LEVEL) return [{ x: 0, y: 0, step, width: levelWidth, height: levelHeight }];
    const [across, down] = [parts(levelWidth), parts(levelHeight)];
    return across.flatMap(([x, w]) => down.map(([y, h]) => ({ x: x * step, y: y * step, step, width: w, height: h })));
  });
}

/**
 * The zoomed-out view: the whole photo at 1 / ZOOM_OUT of the pyramid's last scale, centred in one view of the
 * short-range model's size. A face filling the photo is larger than the last level shows surely (96 px or more of its
 * 128), and misses there as it does in the full-range model's whole view.
 */
export function zoomedOutView(width: number, height: number): Region {
  const size = SHORT_RANGE.inputSize;
  const step = (ZOOM_OUT * Math.max(width, height)) / size;
  return { x: (width - size * step) / 2, y: (height - size * step) / 2, step, width: size, height: size };
}

/**
 * Whether a box pokes out of the tile on a side where another tile overlaps it: then the face is cut here and seen
 * whole by that tile (or, if larger than the overlap, by the next level), and this tile's guess at it would only pull
 * the merged box off the face.
 */
function crossesInnerEdge(tile: Tile, x0: number, y0: number, x1: number, y1: number): boolean {
  const { keep } = tile;
  return (
    (keep.x0 > -Infinity && x0 < tile.x) ||
    (keep.y0 > -Infinity && y0 < tile.y) ||
    (keep.x1 < Infinity && x1 > tile.x + tile.side) ||
    (keep.y1 < Infinity && y1 > tile.y + tile.side)
  );
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * Where a model's input lies in the photo: input pixel (u, v) covers the photo from (x + u × scale, y + v × scale).
 * A tile also says which of its detections it keeps.
 */
interface View {
  x: number;
  y: number;
  scale: number;
  tile?: Tile;
}

/** The detections of one view above `scoreThreshold`, in photo pixels, boxes framed like WIDER FACE's. */
function decodeView(model: DetectorModel, grid: AnchorGrid, output: Float32Array, view: View, scoreThreshold: number): Candidate[] {
  // sigmoid(logit) ≥ threshold ⇔ logit ≥ logit(threshold): the exp is only taken for the few anchors that pass.
  const minLogit = Math.log(scoreThreshold / (1 - scoreThreshold));
  const { scale, tile } = view;
  const { scaleX, scaleY, shiftY } = model.framing;
  const found: Candidate[] = [];
  for (let a = 0; a < grid.centres.length / 2; a++) {
    const p = a * FIELDS;
    if (output[p]! < minLogit) continue;
    const anchorX = grid.centres[2 * a]!;
    const anchorY = grid.centres[2 * a + 1]!;
    const cx = view.x + (anchorX + output[p + 1]!) * scale;
    const cy = view.y + (anchorY + output[p + 2]!) * scale;
    const halfW = (output[p + 3]! * scale) / 2;
    const halfH = (output[p + 4]! * scale) / 2;
    if (tile) {
      if (cx < tile.keep.x0 || cx >= tile.keep.x1 || cy < tile.keep.y0 || cy >= tile.keep.y1) continue;
      if (crossesInnerEdge(tile, cx - halfW, cy - halfH, cx + halfW, cy + halfH)) continue;
    }
    const points = new Float64Array(KEYPOINTS.length * 2);
    for (let k = 0; k < KEYPOINTS.length; k++) {
      points[2 * k] = view.x + (anchorX + output[p + 5 + 2 * k]!) * scale;
      points[2 * k + 1] = view.y + (anchorY + output[p + 6 + 2 * k]!) * scale;
    }
    const [w, h, y] = [halfW * scaleX, halfH * scaleY, cy + 2 * halfH * shiftY];
    found.push({ score: sigmoid(output[p]!), x0: cx - w, y0: y - h, x1: cx + w, y1: y + h, points });
  }
  return found;
}

/** The detector's model files under models/, by role: Node reads them (src/detect/dnn-node.ts), the web app fetches them. */
export const DETECTOR_MODEL_FILES = { fullRange: FULL_RANGE.file, shortRange: SHORT_RANGE.file } as const;

export type DetectorModelRole = keyof typeof DETECTOR_MODEL_FILES;

/** A converted detector's session: NHWC batches in, `detections` rows out. */
export interface DetectorSession {
  run(input: Float32Array, dims: [number, number, number, number]): Promise<Float32Array>;
  release(): Promise<void>;
}

/** What the detector runs on: onnxruntime-node or onnxruntime-web, and the bytes of each model file. */
export interface DetectorRuntime {
  ort: OnnxRuntime;
  models: Record<DetectorModelRole, Uint8Array>;
  /** Threads in Node, execution providers in the browser. */
  sessionOptions?: InferenceSession.SessionOptions;
  /**
   * Opens a model's session somewhere else than on this thread, or returns undefined to have it opened here. In Node
   * the full-range model runs in a worker thread (src/detect/dnn-node.ts), so both models run at once on two cores.
   */
  openSession?(role: DetectorModelRole, bytes: Uint8Array): Promise<DetectorSession | undefined>;
}

/** A converted detector model's session on `ort`: its NHWC `input`, its `detections` rows. */
export async function openDetectorSession(
  ort: OnnxRuntime,
  bytes: Uint8Array,
  sessionOptions?: InferenceSession.SessionOptions,
): Promise<DetectorSession> {
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  return {
    run: async (input, dims) => (await session.run({ input: new ort.Tensor('float32', input, dims) })).detections!.data as Float32Array,
    release: () => session.release(),
  };
}

/** A model's session, and whether it runs off this thread (then its runs may overlap this thread's). */
async function loadModel(runtime: DetectorRuntime, role: DetectorModelRole): Promise<{ session: DetectorSession; elsewhere: boolean }> {
  const bytes = runtime.models[role];
  const elsewhere = await runtime.openSession?.(role, bytes);
  return elsewhere
    ? { session: elsewhere, elsewhere: true }
    : { session: await openDetectorSession(runtime.ort, bytes, runtime.sessionOptions), elsewhere: false };
}

/** The full-range model over its tiles, TILE_BATCH at a time (onnxruntime spreads each batch over its threads). */
async function detectInTiles(
  session: DetectorSession,
  table: SummedAreaTable,
  tiles: Tile[],
  scoreThreshold: number,
): Promise<Candidate[]> {
  const size = FULL_RANGE.inputSize;
  const grid = anchorGrid(FULL_RANGE, size, size);
  const rows = (grid.centres.length / 2) * FIELDS;
  const found: Candidate[] = [];
  for (let start = 0; start < tiles.length; start += TILE_BATCH) {
    const batch = tiles.slice(start, start + TILE_BATCH);
    const input = new Float32Array(batch.length * size * size * 3);
    sampleWindows(table, batch, size, input);
    const output = await session.run(input, [batch.length, size, size, 3]);
    batch.forEach((tile, i) =>
      found.push(
        ...decodeView(
          FULL_RANGE,
          grid,
          output.subarray(i * rows, (i + 1) * rows),
          { x: tile.x, y: tile.y, scale: tile.side / size, tile },
          scoreThreshold,
        ),
      ),
    );
  }
  return found;
}

/** A photo and smallest face that would cost the detector more than MAX_DETECTION_WORK: CLI exit 1, HTTP 413. */
export class DetectionBudgetError extends MienError {
  override name = 'DetectionBudgetError';
  override readonly status = 413;
  override readonly code = 'detection_too_large';
}

/** Model-input pixels the detector spends on a width × height photo searched down to `minFaceSize` px. */
export function detectionWork(width: number, height: number, minFaceSize: number, fullRange = true): number {
  return viewWork(searchViews(width, height, minFaceSize, fullRange));
}

/**
 * Every view one search runs: the full-range tiles, the short-range pyramid and the zoomed-out view (a search without
 * the full-range model is the near-face one: the pyramid's last level alone).
 */
function searchViews(
  width: number,
  height: number,
  minFaceSize: number,
  fullRange: boolean,
): { tiles: Tile[]; levels: Region[]; zoomedOut: Region[] } {
  return {
    tiles: fullRange ? detectionWindows(width, height, minFaceSize) : [],
    levels: pyramidLevels(width, height, minFaceSize, !fullRange),
    zoomedOut: fullRange ? [zoomedOutView(width, height)] : [],
  };
}

/** Model-input pixels of these full-range tiles and pyramid parts. */
const viewWork = ({ tiles, levels, zoomedOut }: ReturnType<typeof searchViews>): number =>
  tiles.length * FULL_RANGE.inputSize ** 2 + [...levels, ...zoomedOut].reduce((sum, l) => sum + l.width * l.height, 0);

/** The short-range model over each pyramid level. */
async function detectInLevels(
  session: DetectorSession,
  table: SummedAreaTable,
  levels: Region[],
  scoreThreshold: number,
): Promise<Candidate[]> {
  const found: Candidate[] = [];
  for (const level of levels) {
    const grid = anchorGrid(SHORT_RANGE, level.width, level.height);
    const output = await session.run(sampleRegion(table, level), [1, level.height, level.width, 3]);
    found.push(...decodeView(SHORT_RANGE, grid, output, { x: level.x, y: level.y, scale: level.step }, scoreThreshold));
  }
  return found;
}

/** The DNN face detector on the given onnxruntime; in Node, loadFaceDetector (src/detect/dnn-node.ts) supplies it. */
export async function createFaceDetector(runtime: DetectorRuntime, options: DetectionOptions = {}): Promise<DnnFaceDetector> {
  const minFaceSize = options.minFaceSize ?? 48;
  const thresholds =
    options.scoreThreshold === undefined
      ? DEFAULT_SCORE_THRESHOLDS
      : { fullRange: options.scoreThreshold, shortRange: options.scoreThreshold };
  const iouThreshold = options.iouThreshold ?? 0.3;
  if (!(minFaceSize > 0)) throw new RangeError(`minFaceSize must be positive, got ${minFaceSize}`);
  if (!(thresholds.fullRange > 0 && thresholds.fullRange < 1))
    throw new RangeError(`scoreThreshold must be between 0 and 1, got ${options.scoreThreshold}`);
  if (!(iouThreshold >= 0 && iouThreshold <= 1)) throw new RangeError(`iouThreshold must be between 0 and 1, got ${iouThreshold}`);
  const [fullRange, shortRange] = await Promise.all([
    options.fullRange === false ? undefined : loadModel(runtime, 'fullRange'),
    loadModel(runtime, 'shortRange'),
  ]);

  // A table's memory is lent to the next photo (video frames are all one size); a call running beside it makes its own.
  let spare: SummedAreaTable | undefined;
  return {
    async detect(image) {
      const pixels = image.width * image.height;
      const view = pixels > DETECTION_MAX_PIXELS ? shrinkImage(image, Math.sqrt(pixels / DETECTION_MAX_PIXELS)) : image;
      const scaleX = image.width / view.width;
      const scaleY = image.height / view.height;
      const { width, height } = view;
      // the smallest face in the view's pixels
      const minFace = minFaceSize / Math.max(scaleX, scaleY);
      // the views are laid out once: their size is the budget checked, then they are what the models run on
      const views = searchViews(width, height, minFace, !!fullRange);
      const { tiles, levels, zoomedOut } = views;
      if (viewWork(views) > MAX_DETECTION_WORK) refuse(image, view, minFaceSize, !!fullRange);
      const table = summedAreaTable(view, spare);
      spare = undefined;
      const inTiles = () => (fullRange ? detectInTiles(fullRange.session, table, tiles, thresholds.fullRange) : Promise.resolve([]));
      const inLevels = async (): Promise<[Candidate[], Candidate[]]> => [
        await detectInLevels(shortRange.session, table, levels, thresholds.shortRange),
        await detectInLevels(shortRange.session, table, zoomedOut, thresholds.shortRange),
      ];
      // Both models at once when one runs in a worker thread; on one thread (onnxruntime-web) one run at a time.
      const [tileCandidates, [levelCandidates, zoomedOutCandidates]] = fullRange?.elsewhere
        ? await Promise.all([inTiles(), inLevels()])
        : [await inTiles(), await inLevels()];
      const found = weightedNms([...tileCandidates, ...levelCandidates], iouThreshold);
      // The zoomed-out view only adds the faces the others missed: where they found one, their box stands.
      const closeUps = weightedNms(zoomedOutCandidates, iouThreshold);
      const missed = closeUps.filter((c) => found.every((f) => iou(candidateBox(c), candidateBox(f)) <= iouThreshold));
      // a table the size of a shrunk photo is not kept: the next photo is as likely to be small
      spare = view === image ? table : undefined;
      return [...found, ...missed].sort((a, b) => b.score - a.score).map((c) => toFace(c, scaleX, scaleY));
    },
    async dispose() {
      await Promise.all([fullRange?.session.release(), shortRange.session.release()]);
    },
  };
}

/**
 * Throws the DetectionBudgetError for a photo whose search down to `minFaceSize` costs more than MAX_DETECTION_WORK,
 * naming the smallest face size that would fit.
 */
function refuse(image: PixelImage, view: PixelImage, minFaceSize: number, fullRange: boolean): never {
  const scale = Math.max(image.width / view.width, image.height / view.height);
  const work = (face: number) => detectionWork(view.width, view.height, face / scale, fullRange);
  let fits = minFaceSize;
  while (work(fits) > MAX_DETECTION_WORK) fits = Math.ceil(fits * 1.1);
  // then back down to the smallest whole size that still fits
  while (fits - 1 > minFaceSize && work(fits - 1) <= MAX_DETECTION_WORK) fits--;
  throw new DetectionBudgetError(
    `finding faces down to ${minFaceSize} px in a ${image.width}×${image.height} photo would cost the detector ` +
      `${Math.round(work(minFaceSize) / 1e6)} M pixels of work, over its limit of ${MAX_DETECTION_WORK / 1e6} M: ` +
      `ask for faces of at least ${fits} px (--min-face), or send a smaller photo`,
  );
}

/** A merged detection as a face, in the photo's pixels (the view it was found in was `scaleX`, `scaleY` smaller). */
function toFace(c: Candidate, scaleX: number, scaleY: number): DnnFace {
  const landmarks = Object.fromEntries(
    KEYPOINTS.map((name, k) => [name, { x: c.points[2 * k]! * scaleX, y: c.points[2 * k + 1]! * scaleY }]),
  ) as unknown as FaceLandmarks;
  const box = { x: c.x0 * scaleX, y: c.y0 * scaleY, width: (c.x1 - c.x0) * scaleX, height: (c.y1 - c.y0) * scaleY };
  return { box, score: c.score, landmarks };
}
