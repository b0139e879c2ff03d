import { once } from 'node:events';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { byExpression, EXPRESSIONS } from '../core/labels.js';
import { drawFaces } from '../recognize/annotate.js';
import { recognizerConfig } from '../recognize/config.js';
import { createRecognizer } from '../recognize/recognizer.js';
import { DEFAULT_FOLLOW_OPTIONS, DEFAULT_TRACKER_OPTIONS, loadFaceFollower, processVideo, type TrackedFace } from '../video/index.js';
import { UsageError } from './errors.js';
import { STDIO } from './output.js';
import { float, positiveInt } from './parse.js';
import { addRecognizerOptions, recognizerOptions, type RecognizerFlags } from './recognizer-options.js';

interface VideoFlags extends RecognizerFlags {
  out?: string;
  json?: string;
  every: number;
  detectEvery: number;
  smoothing: number;
  panels: boolean;
}

export const videoCommand = addRecognizerOptions(
  new Command('video')
    .description('find and track every face in a video file and label its expression; writes an annotated video and/or JSON lines')
    .argument('<video>', 'input video file (anything ffmpeg reads; not stdin)')
    .option('--out <file.mp4>', "annotated video (H.264, the input's audio kept)")
    .option(
      '--json <frames.jsonl>',
      'one JSON line per analysed frame: {frame, time, faces: [{trackId, box, expression, probabilities}]}; - = stdout, each line as its frame is done (the summary then goes to stderr)',
    )
    .option('--no-panels', '--out: leave out the panel of probability bars beside each face')
    .option('--every <n>', 'analyse every nth frame; the frames between reuse the last faces', positiveInt, 1)
    .option(
      '--detect-every <n>',
      'dnn detector: search the whole frame every nth frame (and whenever a face is lost); in between, follow each face with a near search around it (1 = whole frame every time)',
      positiveInt,
      DEFAULT_FOLLOW_OPTIONS.fullEvery,
    )
    .option(
      '--smoothing <alpha>',
      "weight of the newest frame in each face's moving average of probabilities (1 = no smoothing)",
      float,
      DEFAULT_TRACKER_OPTIONS.alpha,
    ),
).action(async (input: string, flags: VideoFlags) => {
  if (!flags.out && !flags.json) throw new UsageError('video needs --out <file.mp4> and/or --json <frames.jsonl>');
  if (!(flags.smoothing > 0 && flags.smoothing <= 1)) throw new UsageError('--smoothing must be in (0, 1]');
  // ffprobe and ffmpeg each read the input, and an MP4 is finished by seeking back: neither works on a pipe
  if (input === STDIO) throw new UsageError('video reads a file, not stdin (-): save the video first');
  if (flags.out === STDIO) throw new UsageError('--out needs a file: an MP4 cannot be written to stdout (-)');
  const options = recognizerOptions(flags);
  const config = recognizerConfig({ ...options, model: undefined, detector: flags.detector });
  // following needs the DNN detector's near-face mode; haar and none search every analysed frame whole
  const follower =
    config.detector === 'dnn' && flags.detectEvery > 1 ? await loadFaceFollower(config, { fullEvery: flags.detectEvery }) : undefined;
  const recognizer = await createRecognizer({ ...options, ...(follower && { detector: follower }) });
  try {
    await run(input, flags, recognizer);
  } finally {
    await recognizer.dispose();
    await follower?.dispose();
  }
});

/** Writes one JSON line to stdout, waiting while the reader lags so a slow pipe does not pile the video up in memory. */
async function writeLine(record: unknown): Promise<void> {
  if (!process.stdout.write(`${JSON.stringify(record)}\n`)) await once(process.stdout, 'drain');
}

/** Below this share of the frames the container announces, the decoded video is reported as cut short. */
const COMPLETE_SHARE = 0.9;

async function run(input: string, flags: VideoFlags, recognizer: Awaited<ReturnType<typeof createRecognizer>>): Promise<void> {
  const toStdout = flags.json === STDIO;
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
    jsonl: toStdout ? undefined : flags.json,
    onFrame: toStdout ? writeLine : undefined,
    every: flags.every,
    smoothing: { ...DEFAULT_TRACKER_OPTIONS, alpha: flags.smoothing },
    analyze: async (frame) =>
      (await recognizer.recognizeImage(frame)).map((f) => ({ box: f.box, probabilities: EXPRESSIONS.map((e) => f.probabilities[e]) })),
    annotate: (frame, faces: readonly TrackedFace[]) =>
      drawFaces(
        frame,
        faces.map((f) => ({ box: f.box, expression: f.expression, probabilities: byExpression(f.probabilities) })),
        { panels: flags.panels },
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
  if (summary.frames < COMPLETE_SHARE * summary.expectedFrames)
    process.stderr.write(
      `warning: ${input}: only ${summary.frames} of the ~${summary.expectedFrames} frames its header announces could be decoded; the file looks cut short or damaged\n`,
    );
  // with the frames on stdout the summary is a note, on stderr
  (toStdout ? process.stderr : process.stdout).write(
    `${input}: ${summary.frames} frames (${summary.analyzedFrames} analysed), ${summary.faces} face detections in ${summary.tracks} tracks, ` +
      `${summary.seconds.toFixed(1)} s, ${summary.fps.toFixed(1)} fps` +
      (flags.out ? ` → ${flags.out}` : '') +
      (flags.json ? ` → ${flags.json === STDIO ? 'stdout' : flags.json}` : '') +
      '\n',
  );
}
