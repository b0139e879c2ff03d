/**
 * Face detectors on WIDER FACE photos: recall at IoU ≥ 0.5 for faces ≥ 48 px (larger box side, the side mien's face
 * crop is cut from) and for all faces, precision, and milliseconds per photo (detection only, after decoding), as one
 * markdown table row per detector. So that a setting chosen on these photos can be seen to hold beyond them, the recall
 * (faces ≥ 48 px) and precision are also given for each half of the set (even and odd photos in the annotation's order).
 *
 * `--min-face 48,32,24` adds a row of the default detector for each smallest face size (48, mien's default, always runs).
 *
 *   npm run bench:detect -- [../shared/data/faces-detect-dev] [--dnn-only] [--min-face 32,24]
 *
 * The folder holds images/ and boxes.json ({ images: [{ file, boxes: [[x, y, w, h], …] }] }). A detection is a true
 * positive when it overlaps a not-yet-matched annotated face (any size) by IoU ≥ 0.5, best scores matched first.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { iou, type Box } from '../src/core/geometry.js';
import { loadFaceDetector } from '../src/detect/dnn-node.js';
import { loadHaarDetector } from '../src/detect/haar.js';
import { decodeImage, type RgbImage } from '../src/recognize/image.js';

const MIN_FACE = 48;
const MIN_IOU = 0.5;

interface Annotated {
  file: string;
  boxes: [number, number, number, number][];
}

interface Detector {
  name: string;
  detect(image: RgbImage): Promise<{ box: Box; score: number }[]>;
}

const { values, positionals } = parseArgs({
  options: { 'dnn-only': { type: 'boolean', default: false }, 'min-face': { type: 'string', default: '' } },
  allowPositionals: true,
});
const minFaceSizes = values['min-face']
  .split(',')
  .filter(Boolean)
  .map(Number)
  .filter((size) => size !== MIN_FACE);
const folder = positionals[0] ?? '../shared/data/faces-detect-dev';
const { images } = JSON.parse(await readFile(join(folder, 'boxes.json'), 'utf8')) as { images: Annotated[] };
const photos = await Promise.all(
  images.map(async (a) => ({
    image: await decodeImage(join(folder, a.file)),
    truth: a.boxes.map(([x, y, width, height]) => ({ x, y, width, height })),
  })),
);

const named = (name: string, detector: Pick<Detector, 'detect'>): Detector => ({ name, detect: (image) => detector.detect(image) });
const detectors: Detector[] = [
  named(`dnn (default, minFaceSize ${MIN_FACE})`, await loadFaceDetector({ minFaceSize: MIN_FACE })),
  ...(await Promise.all(
    minFaceSizes.map(async (size) => named(`dnn, minFaceSize ${size}`, await loadFaceDetector({ minFaceSize: size }))),
  )),
  named('dnn, whole photo only (no tiles, no pyramid)', await loadFaceDetector({ minFaceSize: 1e9 })),
  named('dnn, near-face search (short-range model, whole photo)', await loadFaceDetector({ fullRange: false })),
];
if (!values['dnn-only']) {
  detectors.push(
    named(`haar (frontalface_default, minFaceSize ${MIN_FACE})`, await loadHaarDetector({ minFaceSize: MIN_FACE })),
    named(`haar (alt2, minFaceSize ${MIN_FACE})`, await loadHaarDetector({ cascade: 'alt2', minFaceSize: MIN_FACE })),
  );
}

console.log(
  `${photos.length} photos, ${photos.reduce((n, p) => n + p.truth.length, 0)} faces (${photos.reduce((n, p) => n + p.truth.filter((b) => Math.max(b.width, b.height) >= MIN_FACE).length, 0)} ≥ ${MIN_FACE} px)\n`,
);
console.log(
  `| detector | recall (faces ≥ ${MIN_FACE} px) | recall (all faces) | precision | mean IoU of matches | ms / photo | halves: recall ≥ ${MIN_FACE} px / precision |`,
);
console.log('|---|---|---|---|---|---|---|');
for (const detector of detectors) {
  // Per half of the set (even, odd photos): detections, true positives, faces found, faces ≥ MIN_FACE found and in all.
  const halves = [0, 1].map(() => ({ detections: 0, truePositives: 0, found: 0, foundLarge: 0, large: 0, faces: 0 }));
  let iouSum = 0;
  let ms = 0;
  for (const [index, { image, truth }] of photos.entries()) {
    const half = halves[index % 2]!;
    const started = performance.now();
    const result = await detector.detect(image);
    ms += performance.now() - started;
    const matched = new Set<number>();
    for (const d of [...result].sort((a, b) => b.score - a.score)) {
      let best = -1;
      let bestIou = MIN_IOU;
      truth.forEach((t, i) => {
        const overlap = iou(d.box, t);
        if (!matched.has(i) && overlap >= bestIou) [best, bestIou] = [i, overlap];
      });
      if (best >= 0) {
        matched.add(best);
        iouSum += bestIou;
      }
    }
    half.detections += result.length;
    half.truePositives += matched.size;
    half.faces += truth.length;
    half.found += matched.size;
    truth.forEach((t, i) => {
      if (Math.max(t.width, t.height) < MIN_FACE) return;
      half.large++;
      if (matched.has(i)) half.foundLarge++;
    });
  }
  const [even, odd] = halves as [(typeof halves)[0], (typeof halves)[0]];
  const total = Object.fromEntries(
    Object.keys(even).map((key) => [key, even[key as keyof typeof even] + odd[key as keyof typeof odd]]),
  ) as typeof even;
  const pct = (a: number, b: number): string => `${((100 * a) / Math.max(1, b)).toFixed(1)} %`;
  const split = halves.map((h) => `${pct(h.foundLarge, h.large)} / ${pct(h.truePositives, h.detections)}`).join(' · ');
  console.log(
    `| ${detector.name} | ${pct(total.foundLarge, total.large)} | ${pct(total.found, total.faces)} | ${pct(total.truePositives, total.detections)} | ${(iouSum / Math.max(1, total.truePositives)).toFixed(3)} | ${(ms / photos.length).toFixed(1)} | ${split} |`,
  );
}
