/**
 * Face detectors on WIDER FACE photos: recall at IoU ≥ 0.5 for faces ≥ 48 px (larger box side, the side mien's face
 * crop is cut from) and for all faces, precision, and milliseconds per photo (detection only, after decoding), as one
 * markdown table row per detector.
 *
 *   npm run bench:detect -- [../shared/data/faces-detect-dev]
 *
 * The folder holds images/ and boxes.json ({ images: [{ file, boxes: [[x, y, w, h], …] }] }). A detection is a true
 * positive when it overlaps a not-yet-matched annotated face (any size) by IoU ≥ 0.5, best scores matched first.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFaceDetector } from '../src/detect/dnn.js';
import { createHaarDetector } from '../src/detect/haar.js';
import { iou, type Box } from '../src/recognize/crop.js';
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


const folder = process.argv[2] ?? '../shared/data/faces-detect-dev';
const { images } = JSON.parse(await readFile(join(folder, 'boxes.json'), 'utf8')) as { images: Annotated[] };
const photos = await Promise.all(images.map(async (a) => ({ image: await decodeImage(join(folder, a.file)), truth: a.boxes.map(([x, y, width, height]) => ({ x, y, width, height })) })));

const named = (name: string, detector: Pick<Detector, 'detect'>): Detector => ({ name, detect: (image) => detector.detect(image) });
const detectors: Detector[] = [
  named(`dnn (default, minFaceSize ${MIN_FACE})`, await createFaceDetector({ minFaceSize: MIN_FACE })),
  named('dnn, whole photo only (no tiles)', await createFaceDetector({ minFaceSize: 1e9 })),
  named(`haar (frontalface_default, minFaceSize ${MIN_FACE})`, await createHaarDetector({ minFaceSize: MIN_FACE })),
  named(`haar (alt2, minFaceSize ${MIN_FACE})`, await createHaarDetector({ cascade: 'alt2', minFaceSize: MIN_FACE })),
];

console.log(`${photos.length} photos, ${photos.reduce((n, p) => n + p.truth.length, 0)} faces (${photos.reduce((n, p) => n + p.truth.filter((b) => Math.max(b.width, b.height) >= MIN_FACE).length, 0)} ≥ ${MIN_FACE} px)\n`);
console.log(`| detector | recall (faces ≥ ${MIN_FACE} px) | recall (all faces) | precision | mean IoU of matches | ms / photo |`);
console.log('|---|---|---|---|---|---|');
for (const detector of detectors) {
  let detections = 0;
  let truePositives = 0;
  let found = 0;
  let foundLarge = 0;
  let large = 0;
  let faces = 0;
  let iouSum = 0;
  let ms = 0;
  for (const { image, truth } of photos) {
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
    detections += result.length;
    truePositives += matched.size;
    faces += truth.length;
    found += matched.size;
    truth.forEach((t, i) => {
      if (Math.max(t.width, t.height) < MIN_FACE) return;
      large++;
      if (matched.has(i)) foundLarge++;
    });
  }
  const pct = (a: number, b: number): string => `${((100 * a) / Math.max(1, b)).toFixed(1)} %`;
  console.log(
    `| ${detector.name} | ${pct(foundLarge, large)} | ${pct(found, faces)} | ${pct(truePositives, detections)} | ${(iouSum / Math.max(1, truePositives)).toFixed(3)} | ${(ms / photos.length).toFixed(1)} |`,
  );
}
