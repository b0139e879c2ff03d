import type { Box } from '../core/geometry.js';

/** Round half to even, as OpenCV's cvRound (and saturate_cast<int>) rounds. */
export function cvRound(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** OpenCV's SimilarRects: every edge within eps × the mean of the smaller width and the smaller height. */
function similar(a: Box, b: Box, eps: number): boolean {
  const delta = eps * (Math.min(a.width, b.width) + Math.min(a.height, b.height)) * 0.5;
  return (
    Math.abs(a.x - b.x) <= delta &&
    Math.abs(a.y - b.y) <= delta &&
    Math.abs(a.x + a.width - b.x - b.width) <= delta &&
    Math.abs(a.y + a.height - b.y - b.height) <= delta
  );
}

/** A grouped detection and how many raw windows it averages. */
export interface GroupedBox {
  box: Box;
  neighbors: number;
}

/**
 * cv::groupRectangles: the raw windows are split into classes of transitively similar rectangles (cv::partition), each
 * class with more than `minNeighbors` members becomes its average rectangle, and a class lying inside a larger, better
 * supported one (its edges within eps of the other's box) is dropped. With `minNeighbors` ≤ 0 nothing is grouped.
 */
export function groupRectangles(boxes: readonly Box[], minNeighbors: number, eps: number): GroupedBox[] {
  if (minNeighbors <= 0) return boxes.map((box) => ({ box: { ...box }, neighbors: 1 }));
  // Union-find; the classes, being connected components, do not depend on the order of the windows.
  const parent = boxes.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      if (similar(boxes[i]!, boxes[j]!, eps)) {
        const a = root(i);
        const b = root(j);
        if (a !== b) parent[b] = a;
      }
    }
  }
  const classOf = new Map<number, number>();
  const sums: { x: number; y: number; width: number; height: number; count: number }[] = [];
  boxes.forEach((box, i) => {
    const r = root(i);
    let cls = classOf.get(r);
    if (cls === undefined) {
      cls = sums.length;
      classOf.set(r, cls);
      sums.push({ x: 0, y: 0, width: 0, height: 0, count: 0 });
    }
    const s = sums[cls]!;
    s.x += box.x;
    s.y += box.y;
    s.width += box.width;
    s.height += box.height;
    s.count++;
  });
  // OpenCV averages in single precision: sum × (float)(1/count), rounded.
  const classes = sums.map((s): GroupedBox => {
    const inverse = Math.fround(1 / s.count);
    const mean = (total: number) => cvRound(Math.fround(total * inverse));
    return { box: { x: mean(s.x), y: mean(s.y), width: mean(s.width), height: mean(s.height) }, neighbors: s.count };
  });
  return classes.filter(({ box: r1, neighbors: n1 }, i) => {
    if (n1 <= minNeighbors) return false;
    return !classes.some(({ box: r2, neighbors: n2 }, j) => {
      if (j === i || n2 <= minNeighbors) return false;
      const dx = cvRound(r2.width * eps);
      const dy = cvRound(r2.height * eps);
      return (
        r1.x >= r2.x - dx &&
        r1.y >= r2.y - dy &&
        r1.x + r1.width <= r2.x + r2.width + dx &&
        r1.y + r1.height <= r2.y + r2.height + dy &&
        (n2 > Math.max(3, n1) || n1 < 3)
      );
    });
  });
}
