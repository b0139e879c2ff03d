/**
 * `--detector dnn`, the default: MediaPipe's BlazeFace face detectors, converted to ONNX by
 * scripts/convert-detector.ts and run on onnxruntime. The full-range model (192×192 input) sees the whole photo and,
 * because a 192-px view of a 1000-px group photo shrinks a 48-px face to 9 px, overlapping tiles: each level of tiles
 * twice the size of the previous one, the finest sized so the smallest face asked for is as large in the model's input
 * as the faces it finds reliably. It scores faces that fill much of its view low, so the short-range (selfie) model
 * also sees the whole photo. The detections of all views are merged with BlazeFace's weighted non-maximum suppression.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Box, Point } from '../recognize/crop.js';
import { packageRoot } from '../util/package-root.js';
import { sampleWindow, summedAreaTable, type SummedAreaTable, type Window } from './dnn-input.js';
import type { PixelImage } from './haar-image.js';

export interface FaceLandmarks {
  rightEye: Point;
  leftEye: Point;
  nose: Point;
  mouth: Point;
  rightEar: Point;
  leftEar: Point;
}

export interface DnnFace {
  /** The face box in photo pixels, framed like WIDER FACE's boxes (brows to chin, ear to ear). */
  box: Box;
  /** The model's face probability, 0–1. */
  score: number;
  /** The subject's right/left: `rightEye` is on the left of an unmirrored photo. */
  landmarks: FaceLandmarks;
}

export interface FaceDetectorOptions {
  /** Smallest face searched for, in photo pixels (box width); smaller photos' faces need fewer tiles. Default 48. */
  minFaceSize?: number;
  /** Faces scoring below this are dropped (0–1). Default 0.6. */
  scoreThreshold?: number;
  /** Detections overlapping more than this (IoU) are merged into one face. Default 0.3. */
  iouThreshold?: number;
  /** onnxruntime threads. Default: all cores. */
  threads?: number;
}

export interface DnnFaceDetector {
  /** Every face in the photo, highest score first. */
  detect(image: PixelImage): Promise<DnnFace[]>;
}

/** One of the converted MediaPipe models: its file under models/, square input side and anchor centres. */
interface DetectorModel {
  file: string;
  inputSize: number;
  /** x, y of each anchor in input pixels, in the order of the model's output rows. */
  anchors: Float32Array;
}

/**
 * SSD anchor centres as MediaPipe lays them out: for each feature-map stride, `perCell` anchors at the centre of every
 * cell, row by row (the models' fixed anchor size means the box regressors are plain pixel offsets and sizes).
 */
function anchorCentres(inputSize: number, layers: { stride: number; perCell: number }[]): Float32Array {
  const centres: number[] = [];
  for (const { stride, perCell } of layers) {
    const cells = Math.ceil(inputSize / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) for (let k = 0; k < perCell; k++) centres.push((x + 0.5) * stride, (y + 0.5) * stride);
    }
  }
  return Float32Array.from(centres);
}

/** Full range (faces within ~5 m): one 48×48 grid of anchors. Sees the tiles. */
const FULL_RANGE: DetectorModel = { file: 'face-detector.onnx', inputSize: 192, anchors: anchorCentres(192, [{ stride: 4, perCell: 1 }]) };
/** Short range (faces within ~2 m, the selfie model): 16×16 and 8×8 grids. Sees the whole photo, for its large faces. */
const SHORT_RANGE: DetectorModel = {
  file: 'face-detector-short.onnx',
  inputSize: 128,
  anchors: anchorCentres(128, [
    { stride: 8, perCell: 2 },
    { stride: 16, perCell: 6 },
  ]),
};
/** Per anchor: logit, box centre dx, dy, width, height, then six keypoints' dx, dy — all in input pixels. */
const FIELDS = 17;
const KEYPOINTS = ['rightEye', 'leftEye', 'nose', 'mouth', 'rightEar', 'leftEar'] as const;

/**
 * Face width, in model-input pixels, above which the full-range model finds faces reliably: tiles are sized so that
 * the smallest face asked for is this wide. Measured on the WIDER FACE dev photos (bench/detect.ts).
 */
const RELIABLE_FACE = 20;
/**
 * BlazeFace boxes are square and reach below the chin; WIDER FACE boxes are tight and taller than wide. The box
 * reported is the model's box scaled by these factors about its centre, the centre moved up by 5 % of the model box's
 * height: the medians of the ratios between matched WIDER and model boxes on the WIDER FACE dev photos (285 faces).
 */
const BOX_SCALE_X = 0.86;
const BOX_SCALE_Y = 1.2;
const BOX_SHIFT_Y = -0.05;

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

const iou = (a: Candidate, b: Candidate): number => {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter);
};

/**
 * BlazeFace's weighted non-maximum suppression: the best remaining detection and every other one overlapping it by
 * more than `threshold` become one face whose box and keypoints are their score-weighted mean, with the best score.
 * Averaging the overlapping anchors' (and windows') estimates steadies the box more than keeping the single best.
 */
export function weightedNms(candidates: Candidate[], threshold: number): Candidate[] {
  const remaining = [...candidates].sort((a, b) => b.score - a.score);
  const faces: Candidate[] = [];
  while (remaining.length > 0) {
    const best = remaining[0]!;
    const cluster = remaining.filter((c) => iou(best, c) > threshold);
    const rest = remaining.filter((c) => iou(best, c) <= threshold && c !== best);
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

/** A window and the part of it whose detections it keeps: faces centred nearer a neighbouring tile belong to that tile. */
export interface Tile extends Window {
  keep: { x0: number; y0: number; x1: number; y1: number };
}

/**
 * The windows the photo is seen through: the whole photo (letterboxed to a square), and, when that view would make
 * faces of `minFaceSize` smaller than RELIABLE_FACE, levels of overlapping tiles whose side doubles from the finest,
 * where a `minFaceSize` face is RELIABLE_FACE wide, up to the photo's size. Tiles of a level overlap by the largest face
 * that level is responsible for (twice its smallest; larger faces are found whole by the next level), and each keeps
 * only the detections centred in its share of the overlap, so a face cut by a tile's edge is reported by the tile
 * that holds it whole.
 */
export function detectionWindows(width: number, height: number, minFaceSize: number): Tile[] {
  const full = Math.max(width, height);
  const everywhere = { x0: -Infinity, y0: -Infinity, x1: Infinity, y1: Infinity };
  const windows: Tile[] = [{ x: (width - full) / 2, y: (height - full) / 2, side: full, keep: everywhere }];
  const finest = (minFaceSize * FULL_RANGE.inputSize) / RELIABLE_FACE;
  for (let side = finest; side < full; side *= 2) {
    const overlap = 2 * minFaceSize * (side / finest);
    const starts = (extent: number): number[] => {
      if (side >= extent) return [(extent - side) / 2];
      const count = Math.ceil((extent - overlap) / (side - overlap));
      const step = (extent - side) / (count - 1);
      return Array.from({ length: count }, (_, i) => i * step);
    };
    const xs = starts(width);
    const ys = starts(height);
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

/** The detections of one window above `scoreThreshold`, in photo pixels, before the box calibration. */
function decodeWindow(model: DetectorModel, output: Float32Array, tile: Tile, scoreThreshold: number): Candidate[] {
  // sigmoid(logit) ≥ threshold ⇔ logit ≥ logit(threshold): the exp is only taken for the few anchors that pass.
  const minLogit = Math.log(scoreThreshold / (1 - scoreThreshold));
  const scale = tile.side / model.inputSize;
  const found: Candidate[] = [];
  for (let a = 0; a < model.anchors.length / 2; a++) {
    const p = a * FIELDS;
    if (output[p]! < minLogit) continue;
    const anchorX = model.anchors[2 * a]!;
    const anchorY = model.anchors[2 * a + 1]!;
    const cx = tile.x + (anchorX + output[p + 1]!) * scale;
    const cy = tile.y + (anchorY + output[p + 2]!) * scale;
    if (cx < tile.keep.x0 || cx >= tile.keep.x1 || cy < tile.keep.y0 || cy >= tile.keep.y1) continue;
    const halfW = (output[p + 3]! * scale) / 2;
    const halfH = (output[p + 4]! * scale) / 2;
    if (crossesInnerEdge(tile, cx - halfW, cy - halfH, cx + halfW, cy + halfH)) continue;
    const points = new Float64Array(KEYPOINTS.length * 2);
    for (let k = 0; k < KEYPOINTS.length; k++) {
      points[2 * k] = tile.x + (anchorX + output[p + 5 + 2 * k]!) * scale;
      points[2 * k + 1] = tile.y + (anchorY + output[p + 6 + 2 * k]!) * scale;
    }
    found.push({ score: sigmoid(output[p]!), x0: cx - halfW, y0: cy - halfH, x1: cx + halfW, y1: cy + halfH, points });
  }
  return found;
}

/** The .onnx file of a shipped detector model. */
function modelPath(model: DetectorModel): string {
  return join(packageRoot(), 'models', model.file);
}

/** A model ready to run: it sees windows of a photo and returns their detections in photo pixels. */
type WindowRunner = (table: SummedAreaTable, windows: Tile[], scoreThreshold: number) => Promise<Candidate[]>;

async function loadModel(model: DetectorModel, threads: number): Promise<WindowRunner> {
  // One graph at a time: the parallelism is inside each convolution.
  const session = await ort.InferenceSession.create(modelPath(model), { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const size = model.inputSize;
  const windowValues = size * size * 3;
  const windowOutputs = (model.anchors.length / 2) * FIELDS;
  return async (table, windows, scoreThreshold) => {
    // All windows go through in one batch: one call, and onnxruntime spreads the work of the batch over its threads.
    const input = new Float32Array(windows.length * windowValues);
    windows.forEach((w, i) => sampleWindow(table, w, size, input, i * windowValues));
    const tensor = new ort.Tensor('float32', input, [windows.length, size, size, 3]);
    const output = (await session.run({ input: tensor })).detections!.data as Float32Array;
    return windows.flatMap((w, i) => decodeWindow(model, output.subarray(i * windowOutputs, (i + 1) * windowOutputs), w, scoreThreshold));
  };
}

/** Loads the default DNN face detector. */
export async function createFaceDetector(options: FaceDetectorOptions = {}): Promise<DnnFaceDetector> {
  const minFaceSize = options.minFaceSize ?? 48;
  const scoreThreshold = options.scoreThreshold ?? 0.6;
  const iouThreshold = options.iouThreshold ?? 0.3;
  if (!(minFaceSize > 0)) throw new RangeError(`minFaceSize must be positive, got ${minFaceSize}`);
  if (!(scoreThreshold > 0 && scoreThreshold < 1)) throw new RangeError(`scoreThreshold must be between 0 and 1, got ${scoreThreshold}`);
  if (!(iouThreshold >= 0 && iouThreshold <= 1)) throw new RangeError(`iouThreshold must be between 0 and 1, got ${iouThreshold}`);
  const threads = options.threads ?? availableParallelism();
  const [fullRange, shortRange] = await Promise.all([loadModel(FULL_RANGE, threads), loadModel(SHORT_RANGE, threads)]);

  return {
    async detect(image) {
      const table = summedAreaTable(image);
      const windows = detectionWindows(image.width, image.height, minFaceSize);
      const candidates = [...(await fullRange(table, windows, scoreThreshold)), ...(await shortRange(table, windows.slice(0, 1), scoreThreshold))];
      return weightedNms(candidates, iouThreshold).map(toFace);
    },
  };
}

function toFace(c: Candidate): DnnFace {
  const w = (c.x1 - c.x0) * BOX_SCALE_X;
  const h = (c.y1 - c.y0) * BOX_SCALE_Y;
  const cx = (c.x0 + c.x1) / 2;
  const cy = (c.y0 + c.y1) / 2 + BOX_SHIFT_Y * (c.y1 - c.y0);
  const landmarks = Object.fromEntries(KEYPOINTS.map((name, k) => [name, { x: c.points[2 * k]!, y: c.points[2 * k + 1]! }])) as unknown as FaceLandmarks;
  return { box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, score: c.score, landmarks };
}
