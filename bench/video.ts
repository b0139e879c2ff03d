/**
 * `mien video`'s speed with and without following faces between full searches, side by side in one process, on the
 * webcam clip at 1280×720 and scaled to 640×360: frames analysed per second (decoding, detection, crops and
 * classification; no encoding), and how many of the faces the every-frame search finds the follower finds too (the
 * same face: IoU ≥ 0.5). Pause a training run while it measures (kill -STOP, then -CONT).
 *
 *   npm run bench:video -- [--clip ../shared/data/video/face-webcam-4s.mp4] [--detect-every N (default: mien video's)]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { iou, type Box } from '../src/core/geometry.js';
import { EXPRESSIONS } from '../src/core/labels.js';
import { createRecognizer, type Recognizer } from '../src/recognize/recognizer.js';
import { DEFAULT_FOLLOW_OPTIONS, loadFaceFollower, processVideo } from '../src/video/index.js';

const { values: args } = parseArgs({
  options: {
    clip: { type: 'string', default: '../shared/data/video/face-webcam-4s.mp4' },
    'detect-every': { type: 'string', default: String(DEFAULT_FOLLOW_OPTIONS.fullEvery) },
  },
});
const scratch = mkdtempSync(join(tmpdir(), 'mien-bench-video-'));
const small = join(scratch, '640x360.mp4');
execFileSync('ffmpeg', ['-v', 'error', '-i', args.clip, '-vf', 'scale=640:360', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', small]);

/** Analyses every frame of `clip`; the boxes found in each frame and the frames per second. */
async function analyse(clip: string, recognizer: Recognizer): Promise<{ boxes: Box[][]; fps: number }> {
  const boxes: Box[][] = [];
  const summary = await processVideo(clip, {
    analyze: async (frame) => {
      const faces = await recognizer.recognizeImage(frame);
      boxes.push(faces.map((f) => f.box));
      return faces.map((f) => ({ box: f.box, probabilities: EXPRESSIONS.map((e) => f.probabilities[e]) }));
    },
  });
  return { boxes, fps: summary.fps };
}

const every = await createRecognizer();
const follower = await loadFaceFollower({ minFaceSize: 48 }, { fullEvery: Number(args['detect-every']) });
const following = await createRecognizer({ detector: follower });
console.log(`${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)}; --detect-every ${args['detect-every']}`);
console.log('');
console.log('| clip | fps, whole frame every time | fps, following | × | faces of the every-frame search also found |');
console.log('|---|---|---|---|---|');
try {
  for (const [name, clip] of [
    ['1280×720', args.clip],
    ['640×360', small],
  ] as const) {
    // a warm-up pass each, so neither pays for onnxruntime's first runs
    await analyse(clip, every);
    follower.reset();
    await analyse(clip, following);
    follower.reset();
    const reference = await analyse(clip, every);
    const followed = await analyse(clip, following);
    const total = reference.boxes.flat().length;
    const kept = reference.boxes.reduce(
      (n, frame, i) => n + frame.filter((b) => followed.boxes[i]!.some((f) => iou(b, f) >= 0.5)).length,
      0,
    );
    console.log(
      `| ${name} | ${reference.fps.toFixed(1)} | ${followed.fps.toFixed(1)} | ${(followed.fps / reference.fps).toFixed(2)} | ${kept} of ${total} (${((100 * kept) / total).toFixed(1)} %) |`,
    );
  }
} finally {
  await Promise.all([every.dispose(), following.dispose(), follower.dispose()]);
  rmSync(scratch, { recursive: true, force: true });
}
