import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { EXPRESSIONS, type Expression } from '../core/labels.js';
import { drawFaces } from '../recognize/annotate.js';
import { createRecognizer } from '../recognize/recognizer.js';
import { DEFAULT_TRACKER_OPTIONS, processVideo, type TrackedFace } from '../video/index.js';
import { UsageError } from './errors.js';
import { float, positiveInt } from './parse.js';
import { addRecognizerOptions, recognizerOptions, type RecognizerFlags } from './recognizer-options.js';

interface VideoFlags extends RecognizerFlags {
  out?: string;
  json?: string;
  every: number;
  smoothing: number;
}

const asRecord = (p: readonly number[]) => Object.fromEntries(EXPRESSIONS.map((e, i) => [e, p[i]!])) as Record<Expression, number>;

export const videoCommand = addRecognizerOptions(
  new Command('video')
    .description('find and track every face in a video file and label its expression; writes an annotated video and/or JSON lines')
    .argument('<video>', 'input video (anything ffmpeg reads)')
    .option('--out <file.mp4>', "annotated video (H.264, the input's audio kept)")
    .option('--json <frames.jsonl>', 'one JSON line per analysed frame: {frame, time, faces: [{trackId, box, expression, probabilities}]}')
    .option('--every <n>', 'analyse every nth frame; the frames between reuse the last faces', positiveInt, 1)
    .option(
      '--smoothing <alpha>',
      "weight of the newest frame in each face's moving average of probabilities (1 = no smoothing)",
      float,
      DEFAULT_TRACKER_OPTIONS.alpha,
    ),
).action(async (input: string, flags: VideoFlags) => {
  if (!flags.out && !flags.json) throw new UsageError('video needs --out <file.mp4> and/or --json <frames.jsonl>');
  if (!(flags.smoothing > 0 && flags.smoothing <= 1)) throw new UsageError('--smoothing must be in (0, 1]');
  const recognizer = await createRecognizer(recognizerOptions(flags));
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          format: 'frames {bar} {value}/{total}  {fps} fps  ETA {eta_formatted}',
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let started = false;
  const summary = await processVideo(input, {
    out: flags.out,
    jsonl: flags.json,
    every: flags.every,
    smoothing: { ...DEFAULT_TRACKER_OPTIONS, alpha: flags.smoothing },
    analyze: async (frame) =>
      (await recognizer.recognizeImage(frame)).map((f) => ({ box: f.box, probabilities: EXPRESSIONS.map((e) => f.probabilities[e]) })),
    annotate: (frame, faces: readonly TrackedFace[]) =>
      drawFaces(
        frame,
        faces.map((f) => ({ box: f.box, expression: f.expression, probabilities: asRecord(f.probabilities) })),
      ),
    onProgress: (done, total, fps) => {
      if (!bar) return;
      if (!started) bar.start(Math.max(total, done), 0, { fps: '-' });
      started = true;
      bar.setTotal(Math.max(total, done));
      bar.update(done, { fps: fps.toFixed(1) });
    },
  });
  bar?.stop();
  console.log(
    `${input}: ${summary.frames} frames (${summary.analyzedFrames} analysed), ${summary.faces} face detections in ${summary.tracks} tracks, ` +
      `${summary.seconds.toFixed(1)} s, ${summary.fps.toFixed(1)} fps` +
      (flags.out ? ` → ${flags.out}` : '') +
      (flags.json ? ` → ${flags.json}` : ''),
  );
});
