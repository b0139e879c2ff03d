/**
 * `--detector haar`: the Viola–Jones Haar cascades of the original FER projects (Debian's opencv-data), evaluated by
 * mien itself with the arithmetic of OpenCV's CascadeClassifier::detectMultiScale, so that the faces found are
 * OpenCV's: the same pyramid sizes and resize, integral images, 1-pixel-inset variance normalisation, single-precision
 * feature sums, window steps and skips, and cv::groupRectangles.
 */
import type { Box } from '../core/geometry.js';
import { HaarDetectorError, loadHaarCascade, type HaarCascade } from './haar-cascade.js';
import { cvRound, groupRectangles } from './haar-group.js';
import { integralImages, resizeBilinear, tiltedIntegral, toGray, type PixelImage } from './haar-image.js';

export {
  findShippedCascade,
  HaarDetectorError,
  loadHaarCascade,
  MISSING_OPENCV_DATA,
  parseHaarCascade,
  type HaarCascade,
} from './haar-cascade.js';
export type { PixelImage } from './haar-image.js';

export interface HaarDetectorOptions {
  /** `default` (haarcascade_frontalface_default), `alt2`, or the path of a cascade XML. Default `default`. */
  cascade?: string;
  /** How much the window grows from one pyramid level to the next (> 1). Default 1.1. */
  scaleFactor?: number;
  /** A face needs more than this many overlapping raw windows; 0 returns the raw windows. Default 5. */
  minNeighbors?: number;
  /** Smallest face searched for, in pixels: scales whose window is narrower or lower are skipped. Default: the cascade's window (24 or 20 px). */
  minFaceSize?: number;
}

export interface HaarFace {
  box: Box;
  /** neighbors / (neighbors + minNeighbors): above 0.5 for every face reported, towards 1 as support grows; 1 without grouping. */
  score: number;
  /** The raw windows averaged into this face (OpenCV's numDetections). */
  neighbors: number;
}

export interface HaarDetector {
  readonly windowWidth: number;
  readonly windowHeight: number;
  /** Every face in the image, ordered left to right. */
  detect(image: PixelImage): Promise<HaarFace[]>;
}

/** OpenCV subtracts this from every stage threshold when it loads a cascade (THRESHOLD_EPS). */
const STAGE_THRESHOLD_EPS = Math.fround(1e-5);
/** cv::groupRectangles' eps as detectMultiScale uses it (GROUP_EPS). */
const GROUP_EPS = 0.2;
/** Rectangles per feature in OpenCV's evaluator (RECT_NUM); features with fewer have zero-weight rectangles. */
const RECTS = 3;

/**
 * The cascade as flat typed arrays, one entry per tree node with its feature's weights copied in: what the window loop
 * reads in order without allocating or chasing objects.
 */
interface CompiledCascade {
  windowWidth: number;
  windowHeight: number;
  stageThreshold: Float32Array;
  /** Trees of stage s are stageTreeStart[s] … stageTreeStart[s+1]−1. */
  stageTreeStart: Int32Array;
  /** Nodes of tree t start at treeNodeStart[t], its leaves at treeLeafStart[t]. */
  treeNodeStart: Int32Array;
  treeLeafStart: Int32Array;
  /** The feature each node tests (the offsets into the integral image are made per image size). */
  nodeFeature: Int32Array;
  /** RECTS weights per node. */
  nodeWeight: Float32Array;
  nodeThreshold: Float32Array;
  nodeLeft: Int32Array;
  nodeRight: Int32Array;
  leaves: Float32Array;
  features: HaarCascade['features'];
  tilted: boolean;
}

function compileCascade(cascade: HaarCascade): CompiledCascade {
  const trees = cascade.stages.flatMap((s) => s.trees);
  const nodes = trees.flatMap((t) => t.nodes);
  const stageTreeStart = new Int32Array(cascade.stages.length + 1);
  cascade.stages.forEach((s, i) => (stageTreeStart[i + 1] = stageTreeStart[i]! + s.trees.length));
  const treeNodeStart = new Int32Array(trees.length + 1);
  const treeLeafStart = new Int32Array(trees.length + 1);
  trees.forEach((t, i) => {
    treeNodeStart[i + 1] = treeNodeStart[i]! + t.nodes.length;
    treeLeafStart[i + 1] = treeLeafStart[i]! + t.leaves.length;
  });
  const nodeWeight = new Float32Array(nodes.length * RECTS);
  nodes.forEach((n, i) => cascade.features[n.feature]!.rects.forEach((r, k) => (nodeWeight[i * RECTS + k] = r.weight)));
  return {
    windowWidth: cascade.windowWidth,
    windowHeight: cascade.windowHeight,
    // Single precision throughout, as OpenCV stores thresholds, leaves and weights as float.
    stageThreshold: Float32Array.from(cascade.stages, (s) => Math.fround(s.threshold) - STAGE_THRESHOLD_EPS),
    stageTreeStart,
    treeNodeStart,
    treeLeafStart,
    nodeFeature: Int32Array.from(nodes, (n) => n.feature),
    nodeWeight,
    nodeThreshold: Float32Array.from(nodes, (n) => n.threshold),
    nodeLeft: Int32Array.from(nodes, (n) => n.left),
    nodeRight: Int32Array.from(nodes, (n) => n.right),
    leaves: Float32Array.from(trees.flatMap((t) => t.leaves)),
    features: cascade.features,
    tilted: cascade.features.some((f) => f.tilted),
  };
}

/**
 * For each node, the RECTS × 4 integral-image offsets (relative to the window's top-left entry) whose a − b − c + d
 * are its feature's rectangle sums: corners of an upright rectangle, or of a 45° one in the tilted integral at
 * `tiltedBase`. Rectangles a feature does not have stay at offset 0 (sum 0, weight 0).
 */
function nodeOffsets(cascade: CompiledCascade, stride: number, tiltedBase: number): Int32Array {
  const offsets = new Int32Array(cascade.nodeFeature.length * RECTS * 4);
  cascade.nodeFeature.forEach((featureIndex, node) => {
    const feature = cascade.features[featureIndex]!;
    feature.rects.forEach(({ x, y, width: w, height: h }, k) => {
      const o = (node * RECTS + k) * 4;
      if (feature.tilted) {
        offsets[o] = tiltedBase + x + stride * y;
        offsets[o + 1] = tiltedBase + x - h + stride * (y + h);
        offsets[o + 2] = tiltedBase + x + w + stride * (y + w);
        offsets[o + 3] = tiltedBase + x + w - h + stride * (y + w + h);
      } else {
        offsets[o] = x + stride * y;
        offsets[o + 1] = x + w + stride * y;
        offsets[o + 2] = x + stride * (y + h);
        offsets[o + 3] = x + w + stride * (y + h);
      }
    });
  });
  return offsets;
}

/**
 * The pyramid's scales as detectMultiScale picks them: factors 1, f, f², … (kept in single precision) while the
 * scaled window fits the image, less those whose window is under the minimum size.
 */
function pyramidScales(cascade: CompiledCascade, width: number, height: number, scaleFactor: number, minSize: number): number[] {
  const scales: number[] = [];
  for (let factor = 1; ; factor *= scaleFactor) {
    if (cvRound(cascade.windowWidth * factor) > width || cvRound(cascade.windowHeight * factor) > height) break;
    const scale = Math.fround(factor);
    // Checked again in single precision, as OpenCV does with its float copy of the factor.
    if (cvRound(Math.fround(cascade.windowWidth * scale)) > width || cvRound(Math.fround(cascade.windowHeight * scale)) > height) break;
    if (cvRound(Math.fround(cascade.windowWidth * scale)) >= minSize && cvRound(Math.fround(cascade.windowHeight * scale)) >= minSize) {
      scales.push(scale);
    }
  }
  return scales;
}

/** Working memory for one image size, kept between calls (video frames repeat the size). */
interface Buffers {
  width: number;
  height: number;
  stride: number;
  gray: Uint8Array;
  level: Uint8Array;
  row0: Int32Array;
  row1: Int32Array;
  /** The sum integral, then (for cascades with tilted features) the tilted one at `tiltedBase`. */
  integral: Int32Array;
  tiltedBase: number;
  squares: Float64Array;
  tiltedScratch: Float64Array;
  offsets: Int32Array;
}

function allocate(cascade: CompiledCascade, width: number, height: number): Buffers {
  // Level 0 is the image itself: every level fits in its integral's (width+1)×(height+1) rows.
  const stride = width + 1;
  const plane = stride * (height + 1);
  const tiltedBase = cascade.tilted ? plane : 0;
  return {
    width,
    height,
    stride,
    gray: new Uint8Array(width * height),
    level: new Uint8Array(width * height),
    row0: new Int32Array(width),
    row1: new Int32Array(width),
    integral: new Int32Array(cascade.tilted ? 2 * plane : plane),
    tiltedBase,
    squares: new Float64Array(plane),
    tiltedScratch: new Float64Array(cascade.tilted ? 3 * (width + 2 * height + 3) : 0),
    offsets: nodeOffsets(cascade, stride, tiltedBase),
  };
}

function checkImage(image: PixelImage): void {
  const { width, height, data } = image;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new HaarDetectorError(`image size must be positive integers, got ${width}×${height}`);
  }
  const channels = image.channels ?? data.length / (width * height);
  if (![1, 3, 4].includes(channels) || data.length !== width * height * channels) {
    throw new HaarDetectorError(`${data.length} bytes do not make a ${width}×${height} image of 1, 3 or 4 channels`);
  }
}

/**
 * The feature of `node` in the window at integral entry `p`: its rectangle sums times their weights. OpenCV adds these
 * in float; the sums are exact integers below 2²⁴ and the cascades' weights small integers (−1, 2, 3), so the double
 * result here is the same number, without three roundings per feature in the detector's hottest line.
 */
function weightedSum(ii: Int32Array, offsets: Int32Array, weights: Float32Array, node: number, p: number): number {
  const o = node * RECTS * 4;
  const w = node * RECTS;
  let value =
    weights[w]! * ((ii[p + offsets[o]!]! - ii[p + offsets[o + 1]!]! - ii[p + offsets[o + 2]!]! + ii[p + offsets[o + 3]!]!) | 0) +
    weights[w + 1]! * ((ii[p + offsets[o + 4]!]! - ii[p + offsets[o + 5]!]! - ii[p + offsets[o + 6]!]! + ii[p + offsets[o + 7]!]!) | 0);
  const third = weights[w + 2]!;
  if (third !== 0)
    value += third * ((ii[p + offsets[o + 8]!]! - ii[p + offsets[o + 9]!]! - ii[p + offsets[o + 10]!]! + ii[p + offsets[o + 11]!]!) | 0);
  return value;
}

/**
 * Runs the cascade on every window of the level held in `b.integral`/`b.squares`, pushing OpenCV's raw candidate
 * rectangles (in image pixels) onto `found`. One function with everything in locals: this loop is the detector's cost.
 */
function scanLevel(c: CompiledCascade, b: Buffers, levelWidth: number, levelHeight: number, scale: number, found: Box[]): void {
  const { integral: ii, squares, offsets, stride } = b;
  const { nodeWeight, nodeThreshold, nodeLeft, nodeRight, leaves, stageThreshold, stageTreeStart, treeNodeStart, treeLeafStart } = c;
  const stageCount = stageThreshold.length;
  const stumps = c.nodeFeature.length === treeNodeStart.length - 1;
  // Variance is measured inside a 1-pixel inset of the window, as OpenCV's normrect.
  const n0 = 1 + stride;
  const n1 = c.windowWidth - 1 + stride;
  const n2 = 1 + stride * (c.windowHeight - 1);
  const n3 = c.windowWidth - 1 + stride * (c.windowHeight - 1);
  const normArea = (c.windowWidth - 2) * (c.windowHeight - 2);
  // Windows 2 pixels apart on levels below scale 2 and 1 pixel apart above, in level pixels.
  const step = scale >= 2 ? 1 : 2;
  const endX = levelWidth + 1 - c.windowWidth;
  const endY = levelHeight + 1 - c.windowHeight;
  const boxWidth = cvRound(Math.fround(c.windowWidth * scale));
  const boxHeight = cvRound(Math.fround(c.windowHeight * scale));

  for (let y = 0; y < endY; y += step) {
    for (let x = 0; x < endX; x += step) {
      const p = y * stride + x;
      const sum = (ii[p + n0]! - ii[p + n1]! - ii[p + n2]! + ii[p + n3]!) | 0;
      const spread = normArea * (squares[p + n0]! - squares[p + n1]! - squares[p + n2]! + squares[p + n3]!) - sum * sum;
      if (spread <= 0) continue;
      const varianceFactor = Math.fround(1 / Math.sqrt(spread));
      // A window whose standard deviation is 10 gray levels or less is no face for OpenCV.
      if (!(normArea * varianceFactor < 0.1)) continue;

      // OpenCV's runAt: every stage passes, or the first to reject.
      let rejectedAt = -1;
      let tree = 0;
      for (let s = 0; s < stageCount && rejectedAt < 0; s++) {
        const stageEnd = stageTreeStart[s + 1]!;
        let total = 0;
        if (stumps) {
          // One node per tree: node t is tree t, its leaves 2t and 2t + 1.
          for (; tree < stageEnd; tree++) {
            total +=
              leaves[
                2 * tree + (Math.fround(weightedSum(ii, offsets, nodeWeight, tree, p) * varianceFactor) < nodeThreshold[tree]! ? 0 : 1)
              ]!;
          }
        } else {
          for (; tree < stageEnd; tree++) {
            const root = treeNodeStart[tree]!;
            let node = root;
            for (;;) {
              const next =
                Math.fround(weightedSum(ii, offsets, nodeWeight, node, p) * varianceFactor) < nodeThreshold[node]!
                  ? nodeLeft[node]!
                  : nodeRight[node]!;
              if (next <= 0) {
                total += leaves[treeLeafStart[tree]! - next]!;
                break;
              }
              node = root + next;
            }
          }
        }
        if (total < stageThreshold[s]!) rejectedAt = s;
      }

      if (rejectedAt < 0) {
        found.push({ x: cvRound(Math.fround(x * scale)), y: cvRound(Math.fround(y * scale)), width: boxWidth, height: boxHeight });
      } else if (rejectedAt === 0) {
        // Rejected by the very first stage: OpenCV skips the next window along the row too.
        x += step;
      }
    }
  }
}

export async function loadHaarDetector(options: HaarDetectorOptions = {}): Promise<HaarDetector> {
  const scaleFactor = options.scaleFactor ?? 1.1;
  const minNeighbors = options.minNeighbors ?? 5;
  if (!(scaleFactor > 1 && Number.isFinite(scaleFactor)))
    throw new HaarDetectorError(`scaleFactor must be a number above 1, got ${scaleFactor}`);
  if (!(Number.isInteger(minNeighbors) && minNeighbors >= 0))
    throw new HaarDetectorError(`minNeighbors must be an integer ≥ 0, got ${minNeighbors}`);
  if (options.minFaceSize !== undefined && !(options.minFaceSize >= 0 && Number.isFinite(options.minFaceSize))) {
    throw new HaarDetectorError(`minFaceSize must be a number ≥ 0, got ${options.minFaceSize}`);
  }
  const cascade = compileCascade(await loadHaarCascade(options.cascade ?? 'default'));
  // OpenCV's default minimum is the cascade's own window, which every scale ≥ 1 already satisfies.
  const minSize = options.minFaceSize ?? 0;
  let buffers: Buffers | undefined;

  return {
    windowWidth: cascade.windowWidth,
    windowHeight: cascade.windowHeight,
    async detect(image) {
      checkImage(image);
      const { width, height } = image;
      if (buffers?.width !== width || buffers.height !== height) buffers = allocate(cascade, width, height);
      const b = buffers;
      toGray(image, b.gray);
      const candidates: Box[] = [];
      for (const scale of pyramidScales(cascade, width, height, scaleFactor, minSize)) {
        const levelWidth = Math.max(cvRound(Math.fround(width / scale)), 0);
        const levelHeight = Math.max(cvRound(Math.fround(height / scale)), 0);
        resizeBilinear(b.gray, width, height, b.level, levelWidth, levelHeight, b.row0, b.row1);
        integralImages(b.level, levelWidth, levelHeight, b.stride, b.integral, b.squares);
        if (cascade.tilted) tiltedIntegral(b.level, levelWidth, levelHeight, b.stride, b.integral.subarray(b.tiltedBase), b.tiltedScratch);
        scanLevel(cascade, b, levelWidth, levelHeight, scale, candidates);
      }
      return groupRectangles(candidates, minNeighbors, GROUP_EPS)
        .map(({ box, neighbors }) => ({ box, neighbors, score: minNeighbors === 0 ? 1 : neighbors / (neighbors + minNeighbors) }))
        .sort((f, g) => f.box.x - g.box.x || f.box.y - g.box.y);
    },
  };
}
