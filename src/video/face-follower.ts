/**
 * Face detection for consecutive video frames. A face moves little from one frame to the next, so searching the
 * whole frame every time (the photo detector's pyramid and tiles, ~80 ms for 640×480 on 2 cores) is mostly wasted:
 * the follower runs that full search every `fullEvery` frames and, in between, looks for each face it follows only in
 * a square around where it was, with a cheap near-face detector (the short-range model on that square shrunk to its
 * 128-px view, a few ms). When a followed face is not found again — it turned away, left, or the scene cut — the full
 * search runs on that very frame, so no face is lost by following; a face that enters the picture is found by the
 * next full search at the latest.
 */
import { iou, type Box } from '../core/geometry.js';
import { loadFaceDetector } from '../detect/dnn-node.js';
import { placeFace, type DetectedFace, type FaceDetector } from '../detect/face-detector.js';
import type { PixelImage } from '../detect/haar-image.js';
import type { DetectorSettings } from '../detect/registry.js';

export interface FollowOptions {
  /**
   * A full search every this many frames (1 = every frame, no following). Default 15: half a second at 30 fps, a margin
   * above 30 fps on a 1280×720 clip where 10 only just reaches it (`npm run bench:video`).
   */
  fullEvery?: number;
  /**
   * Side of the square searched around a followed face, in multiples of its box's larger side. Default 2: the face
   * is then half the square, 64 px of the near detector's 128-px view, where it finds faces surely, and a face may
   * move half its size between frames and still be inside.
   */
  searchScale?: number;
  /** Least overlap (IoU) between a face's last box and what the near search finds for it to count as the same face. Default 0.3. */
  minOverlap?: number;
}

export const DEFAULT_FOLLOW_OPTIONS: Required<FollowOptions> = { fullEvery: 15, searchScale: 2, minOverlap: 0.3 };

/** The part of `image` inside `region` (whole pixels, clipped to the image), as an image of its own. */
function cropImage(image: PixelImage, region: Box): PixelImage {
  const channels = image.channels ?? image.data.length / (image.width * image.height);
  const x0 = Math.max(0, Math.floor(region.x));
  const y0 = Math.max(0, Math.floor(region.y));
  const x1 = Math.min(image.width, Math.ceil(region.x + region.width));
  const y1 = Math.min(image.height, Math.ceil(region.y + region.height));
  const width = Math.max(1, x1 - x0);
  const height = Math.max(1, y1 - y0);
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * image.width + x0) * channels;
    data.set(image.data.subarray(from, from + width * channels), y * width * channels);
  }
  return { data, width, height, channels: channels as 1 | 3 | 4 };
}

export interface FaceFollower extends FaceDetector {
  /** Forgets the faces followed, so that the next frame gets a full search (a new video, a seek). */
  reset(): void;
}

/**
 * A detector for the frames of one video, in order: `full` (the photo detector) every `fullEvery` frames and when a
 * followed face is lost, `near` (a detector for a face that fills much of its image) around each followed face in
 * between. It disposes of neither.
 */
export function followFaces(full: FaceDetector, near: FaceDetector, options: FollowOptions = {}): FaceFollower {
  const { fullEvery, searchScale, minOverlap } = { ...DEFAULT_FOLLOW_OPTIONS, ...options };
  if (!(Number.isInteger(fullEvery) && fullEvery >= 1)) throw new RangeError(`fullEvery must be a whole number ≥ 1, got ${fullEvery}`);
  if (!(searchScale >= 1)) throw new RangeError(`searchScale must be at least 1, got ${searchScale}`);
  let followed: DetectedFace[] = [];
  let sinceFull = 0;

  const fullSearch = async (image: PixelImage) => {
    sinceFull = 0;
    followed = await full.detect(image);
    return followed;
  };

  /** The followed face found again near its last box, or undefined when the near search does not see it there. */
  const findNear = async (image: PixelImage, face: DetectedFace): Promise<DetectedFace | undefined> => {
    const side = searchScale * Math.max(face.box.width, face.box.height);
    const region = {
      x: face.box.x + face.box.width / 2 - side / 2,
      y: face.box.y + face.box.height / 2 - side / 2,
      width: side,
      height: side,
    };
    const crop = cropImage(image, region);
    const dx = Math.max(0, Math.floor(region.x));
    const dy = Math.max(0, Math.floor(region.y));
    const candidates = (await near.detect(crop)).map((f) => placeFace(f, { dx, dy }));
    const best = candidates.reduce<{ face?: DetectedFace; overlap: number }>(
      (top, f) => {
        const overlap = iou(f.box, face.box);
        return overlap > top.overlap ? { face: f, overlap } : top;
      },
      { overlap: minOverlap },
    );
    return best.face;
  };

  return {
    async detect(image) {
      sinceFull++;
      if (followed.length === 0 || sinceFull >= fullEvery) return fullSearch(image);
      const found: DetectedFace[] = [];
      for (const face of followed) {
        const again = await findNear(image, face);
        // one face lost is reason enough to look at the whole frame now
        if (!again) return fullSearch(image);
        found.push(again);
      }
      followed = found;
      return found;
    },
    reset() {
      followed = [];
      sinceFull = 0;
    },
  };
}

/**
 * The follower over mien's DNN detector in Node: the configured photo detector for full searches, the short-range
 * model alone (whole view, no pyramid) for near ones. `dispose` frees both.
 */
export async function loadFaceFollower(
  settings: DetectorSettings,
  options: FollowOptions = {},
): Promise<FaceFollower & { dispose(): Promise<void> }> {
  const full = await loadFaceDetector({
    minFaceSize: settings.minFaceSize,
    scoreThreshold: settings.minConfidence,
    threads: settings.threads,
  });
  const near = await loadFaceDetector({ fullRange: false, scoreThreshold: settings.minConfidence, threads: settings.threads });
  const follower = followFaces(full, near, options);
  return { ...follower, dispose: async () => void (await Promise.all([full.dispose(), near.dispose()])) };
}
