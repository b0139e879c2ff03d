/** Boxes and points in image pixels: what detectors return, the face crop reads and the tracker matches. */

/** An axis-aligned box: top-left corner and size, in pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

/** Intersection over union of two boxes: 0 when apart (or only touching), 1 when identical. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const intersection = w * h;
  return intersection / (a.width * a.height + b.width * b.height - intersection);
}
