/**
 * OpenCV's Haar cascade files (the XML that `opencv_traincascade` writes and Debian's opencv-data ships): parsed with
 * a small element scanner instead of an XML library, because the format is regular — elements, numbers as text, no
 * attributes that matter, no entities — and the scanner is the faster of the two: the whole 930 KB default cascade,
 * checked and turned into stages, takes 74 ms here, where fast-xml-parser 5.3 needs 129 ms for its element tree alone
 * and 220 ms with the validator that would catch a truncated file (medians of 9, one process, 2026-12-02).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MienError } from '../core/errors.js';

/**
 * The Haar detector cannot run as asked (no cascade, an unreadable or foreign one, bad options or pixels): one line says
 * why. In the server it is the server's set-up that is wrong (no cascade installed), not the request: 500.
 */
export class HaarDetectorError extends MienError {
  override name = 'HaarDetectorError';
  override readonly status = 500;
  override readonly code = 'detector_unavailable';
}

export interface HaarRect {
  x: number;
  y: number;
  width: number;
  height: number;
  weight: number;
}

export interface HaarFeature {
  /** One to three weighted rectangles in window coordinates. */
  rects: HaarRect[];
  /** Rectangles rotated by 45° (they need the tilted integral image). */
  tilted: boolean;
}

/**
 * A node of a weak classifier's decision tree. `left` (taken when the feature value is below `threshold`) and `right`
 * are, as in OpenCV, a node index within the tree when > 0, else minus a leaf index.
 */
export interface HaarNode {
  feature: number;
  threshold: number;
  left: number;
  right: number;
}

export interface HaarTree {
  nodes: HaarNode[];
  leaves: number[];
}

export interface HaarStage {
  /** A window passes the stage when the sum of its trees' leaf values is at least this. */
  threshold: number;
  trees: HaarTree[];
}

export interface HaarCascade {
  windowWidth: number;
  windowHeight: number;
  stages: HaarStage[];
  features: HaarFeature[];
}

/** The cascades shipped by opencv-data that mien names. */
export const HAAR_CASCADES = {
  default: 'haarcascade_frontalface_default.xml',
  alt2: 'haarcascade_frontalface_alt2.xml',
} as const;
export type HaarCascadeName = keyof typeof HAAR_CASCADES;

/** Where Debian's opencv-data puts the cascades (OpenCV 4, then OpenCV 3 packages). */
const OPENCV_DATA_DIRS = ['/usr/share/opencv4/haarcascades', '/usr/share/opencv/haarcascades'];

export const MISSING_OPENCV_DATA = "the Haar cascade needs Debian's opencv-data: sudo apt-get install -y opencv-data";

/** The file of a named cascade, or undefined when opencv-data is not installed. */
export function findShippedCascade(name: HaarCascadeName, searchDirs: readonly string[] = OPENCV_DATA_DIRS): string | undefined {
  return searchDirs.map((dir) => join(dir, HAAR_CASCADES[name])).find((file) => existsSync(file));
}

/** Reads a cascade by name (`default`, `alt2`, looked up in `searchDirs`) or by path. */
export async function loadHaarCascade(nameOrPath: string, searchDirs: readonly string[] = OPENCV_DATA_DIRS): Promise<HaarCascade> {
  let file: string;
  if (Object.hasOwn(HAAR_CASCADES, nameOrPath)) {
    const found = findShippedCascade(nameOrPath as HaarCascadeName, searchDirs);
    if (!found) throw new HaarDetectorError(MISSING_OPENCV_DATA);
    file = found;
  } else {
    file = nameOrPath;
  }
  let xml: string;
  try {
    xml = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HaarDetectorError(
      `${file}: ${code === 'ENOENT' ? 'no such cascade file' : `cannot read the cascade (${code ?? (err as Error).message})`}`,
    );
  }
  try {
    return parseHaarCascade(xml);
  } catch (err) {
    if (err instanceof HaarDetectorError) throw new HaarDetectorError(`${file}: ${err.message}`);
    throw err;
  }
}

interface Element {
  name: string;
  children: Element[];
  text: string;
}

/**
 * Elements and their text; comments, the XML declaration and attributes are skipped. Throws on mismatched tags, which
 * is how a truncated file shows.
 */
function scanXml(xml: string): Element {
  const root: Element = { name: '', children: [], text: '' };
  const open: Element[] = [root];
  const token = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.:-]*)[^>]*?(\/?)>|([^<]+)|</g;
  for (let m = token.exec(xml); m; m = token.exec(xml)) {
    const [whole, closing, name, selfClosing, text] = m;
    const current = open[open.length - 1]!;
    if (text !== undefined) {
      current.text += text;
    } else if (name !== undefined) {
      if (closing) {
        if (current.name !== name || open.length === 1) throw new HaarDetectorError(`malformed XML: </${name}> closes <${current.name}>`);
        open.pop();
      } else {
        const element: Element = { name, children: [], text: '' };
        current.children.push(element);
        if (!selfClosing) open.push(element);
      }
    } else if (whole === '<') {
      throw new HaarDetectorError('malformed XML: stray <');
    }
  }
  if (open.length > 1) throw new HaarDetectorError(`malformed XML: <${open[open.length - 1]!.name}> is never closed (truncated file?)`);
  return root;
}

const child = (parent: Element, name: string): Element | undefined => parent.children.find((c) => c.name === name);

function required(parent: Element, name: string, where: string): Element {
  const found = child(parent, name);
  if (!found) throw new HaarDetectorError(`${where} has no <${name}>`);
  return found;
}

function numbers(element: Element, where: string): number[] {
  const words = element.text
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  return words.map((w) => {
    const n = Number(w);
    if (!Number.isFinite(n)) throw new HaarDetectorError(`${where}: "${w}" is not a number`);
    return n;
  });
}

function integer(parent: Element, name: string, where: string): number {
  const [n, ...rest] = numbers(required(parent, name, where), `${where} <${name}>`);
  if (n === undefined || rest.length > 0 || !Number.isInteger(n)) throw new HaarDetectorError(`${where} <${name}> is not one integer`);
  return n;
}

/** Parses a cascade in OpenCV's current format (`<cascade>` with stages, weakClassifiers and features). */
export function parseHaarCascade(xml: string): HaarCascade {
  const storage = child(scanXml(xml), 'opencv_storage');
  const cascade = storage?.children.find((c) => child(c, 'stages') && child(c, 'features'));
  if (!cascade) {
    const old = storage?.children.some((c) => child(c, 'stages') && child(c, 'size'));
    throw new HaarDetectorError(
      old ? 'a cascade in the old pre-2.4 format; convert it with OpenCV to the current format' : 'not an OpenCV cascade file',
    );
  }
  const featureType = child(cascade, 'featureType')?.text.trim();
  if (featureType !== 'HAAR') throw new HaarDetectorError(`a ${featureType ?? 'untyped'} cascade; only HAAR cascades are supported`);
  const stageType = child(cascade, 'stageType')?.text.trim();
  if (stageType !== 'BOOST') throw new HaarDetectorError(`stage type ${stageType ?? '(none)'}; only BOOST is supported`);
  const windowWidth = integer(cascade, 'width', 'cascade');
  const windowHeight = integer(cascade, 'height', 'cascade');
  if (windowWidth < 3 || windowHeight < 3) throw new HaarDetectorError(`window ${windowWidth}×${windowHeight} is too small`);

  const features = required(cascade, 'features', 'cascade').children.map((f, i): HaarFeature => {
    const where = `feature ${i}`;
    const rects = required(f, 'rects', where).children.map((r, j) => {
      const values = numbers(r, `${where} rect ${j}`);
      if (values.length !== 5 || !values.slice(0, 4).every(Number.isInteger)) {
        throw new HaarDetectorError(`${where} rect ${j}: expected "x y width height weight"`);
      }
      const [x, y, width, height, weight] = values as [number, number, number, number, number];
      return { x, y, width, height, weight };
    });
    if (rects.length < 1 || rects.length > 3) throw new HaarDetectorError(`${where} has ${rects.length} rectangles; OpenCV allows 1 to 3`);
    const tiltedText = child(f, 'tilted')?.text.trim();
    return { rects, tilted: tiltedText !== undefined && Number(tiltedText) !== 0 };
  });

  const stages = required(cascade, 'stages', 'cascade').children.map((s, i): HaarStage => {
    const where = `stage ${i}`;
    const [threshold] = numbers(required(s, 'stageThreshold', where), `${where} threshold`);
    if (threshold === undefined) throw new HaarDetectorError(`${where} has an empty <stageThreshold>`);
    const trees = required(s, 'weakClassifiers', where).children.map((w, j) =>
      parseTree(w, `${where} weak classifier ${j}`, features.length),
    );
    if (trees.length === 0) throw new HaarDetectorError(`${where} has no weak classifiers`);
    return { threshold, trees };
  });
  if (stages.length === 0) throw new HaarDetectorError('the cascade has no stages');
  return { windowWidth, windowHeight, stages, features };
}

function parseTree(weak: Element, where: string, featureCount: number): HaarTree {
  const internal = numbers(required(weak, 'internalNodes', where), where);
  const leaves = numbers(required(weak, 'leafValues', where), where);
  // Haar cascades have no categorical features, so each node is exactly "left right feature threshold".
  if (internal.length === 0 || internal.length % 4 !== 0)
    throw new HaarDetectorError(`${where}: <internalNodes> is not groups of 4 numbers`);
  const nodeCount = internal.length / 4;
  // The evaluator, like OpenCV's, finds a tree's leaves by counting nodeCount + 1 per tree.
  if (leaves.length !== nodeCount + 1)
    throw new HaarDetectorError(`${where}: ${leaves.length} leaf values for ${nodeCount} nodes, expected ${nodeCount + 1}`);
  const nodes: HaarNode[] = [];
  for (let k = 0; k < nodeCount; k++) {
    const [left, right, feature, threshold] = internal.slice(4 * k, 4 * k + 4) as [number, number, number, number];
    for (const next of [left, right]) {
      const valid = Number.isInteger(next) && (next > 0 ? next < nodeCount && next > k : -next < leaves.length);
      if (!valid) throw new HaarDetectorError(`${where}: node ${k} points to ${next}, outside the tree`);
    }
    if (!Number.isInteger(feature) || feature < 0 || feature >= featureCount) {
      throw new HaarDetectorError(`${where}: feature ${feature} is not one of the ${featureCount} features`);
    }
    nodes.push({ feature, threshold, left, right });
  }
  return { nodes, leaves };
}
