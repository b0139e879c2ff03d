import type { RgbImage } from '../recognize/image.js';
import { startFfmpeg, VideoError } from './ffmpeg.js';
import { probeVideo, type VideoInfo } from './probe.js';

/** One upright decoded frame: RGB24, row-major, its own buffer (safe to keep or modify). */
export interface VideoFrame extends RgbImage {
  /** Position in the video at its constant frame rate: 0, 1, 2, … (every Nth when reading with `every`). */
  index: number;
  timeSeconds: number;
}

export interface ReadFramesOptions {
  /** Yield only frames 0, N, 2N, … (ffmpeg skips the others before converting them to RGB). Default 1. */
  every?: number;
}

/** The frames of a video file, upright, at its frame rate. See decodeFrames. */
export async function* readFrames(path: string, options: ReadFramesOptions = {}): AsyncGenerator<VideoFrame> {
  yield* decodeFrames(await probeVideo(path), options);
}

/**
 * Streams RGB24 frames from `ffmpeg -f rawvideo` for an already probed video. ffmpeg applies the rotation (its
 * autorotate), resamples to a constant frame rate so that frame i is at time i / fps, and drops the frames `every`
 * skips. Reading pauses ffmpeg while the consumer is busy (stream backpressure); a consumer that stops early (break,
 * throw) ends ffmpeg. A decoding failure is a VideoError naming the file.
 */
export async function* decodeFrames(video: VideoInfo, { every = 1 }: ReadFramesOptions = {}): AsyncGenerator<VideoFrame> {
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`every must be a whole number ≥ 1, got ${every}`);
  const filters = [`fps=${video.frameRate}`];
  if (every > 1) filters.push(`select=not(mod(n\\,${every}))`);
  // passthrough: keep exactly the frames the filters produce (a constant-rate muxer would re-fill select's gaps).
  const args = ['-v', 'error', '-nostdin', '-i', video.path, '-map', '0:v:0', '-vf', filters.join(','), '-vsync', 'passthrough'];
  const proc = startFfmpeg('ffmpeg', [...args, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], ['ignore', 'pipe', 'pipe']);
  // A spawn failure is reported by `exited`; keep it from also surfacing as an unhandled rejection meanwhile.
  proc.exited.catch(() => undefined);

  const { width, height } = video;
  const frameBytes = width * height * 3;
  let frame = new Uint8Array(frameBytes);
  let filled = 0;
  let position = 0;
  let finished = false;
  try {
    for await (const chunk of proc.child.stdout! as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(chunk.length - offset, frameBytes - filled);
        frame.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === frameBytes) {
          const index = position * every;
          yield { index, timeSeconds: index / video.fps, data: frame, width, height };
          frame = new Uint8Array(frameBytes);
          filled = 0;
          position++;
        }
      }
    }
    const code = await proc.exited;
    if (code !== 0) throw new VideoError(`${video.path}: ffmpeg could not decode it (${proc.lastError()})`);
    if (filled !== 0) throw new VideoError(`${video.path}: ffmpeg ended in the middle of a frame (${filled} of ${frameBytes} bytes)`);
    finished = true;
  } finally {
    if (!finished && proc.child.exitCode === null && proc.child.signalCode === null) {
      // Nothing ffmpeg would still do is wanted, and SIGTERM lets it linger to shut down gracefully.
      proc.child.kill('SIGKILL');
      await proc.exited.catch(() => undefined);
    }
  }
}
