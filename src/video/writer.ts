import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { hasLibx264, startFfmpeg, VideoError } from './ffmpeg.js';

export interface VideoWriterOptions {
  width: number;
  height: number;
  fps: number;
  /** A file whose first audio stream is muxed into the output (re-encoded to AAC); a file without audio is fine. */
  audioFrom?: string;
}

export interface VideoWriter {
  /** Appends one RGB24 frame (width × height × 3 bytes); waits while ffmpeg's input pipe is full. */
  write(frame: Uint8Array): Promise<void>;
  /** Finishes the file: waits for ffmpeg, then moves it into place. A failed encode is a VideoError. */
  close(): Promise<void>;
  /** Stops ffmpeg and removes the unfinished file; the output path is left as it was. */
  abort(): Promise<void>;
}

/**
 * Encodes RGB24 frames into a video with ffmpeg: H.264 (libx264, yuv420p, the format every player takes; MPEG-4 part 2
 * when ffmpeg lacks libx264), `+faststart` so it plays while downloading, and the audio of `audioFrom` so annotating
 * a video keeps its sound. ffmpeg writes a temporary file beside `outPath` that `close()` renames over it, so a crash
 * never leaves a torn video under the real name.
 */
export async function createVideoWriter(outPath: string, options: VideoWriterOptions): Promise<VideoWriter> {
  const { width, height, fps, audioFrom } = options;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`video size must be whole positive numbers, got ${width}×${height}`);
  }
  if (!(fps > 0)) throw new RangeError(`fps must be positive, got ${fps}`);
  // The temporary name keeps the extension: ffmpeg picks the container from it.
  const tmpPath = join(dirname(outPath), `.${basename(outPath, extname(outPath))}.${process.pid}.tmp${extname(outPath)}`);
  const video = (await hasLibx264()) ? ['-c:v', 'libx264', '-preset', 'veryfast'] : ['-c:v', 'mpeg4', '-q:v', '4'];
  const args = ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0'];
  if (audioFrom) args.push('-i', audioFrom, '-map', '0:v', '-map', '1:a:0?', '-c:a', 'aac');
  // yuv420p halves the chroma resolution, so both sides must be even: pad odd sizes by one black pixel.
  if (width % 2 || height % 2) args.push('-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2');
  args.push(...video, '-pix_fmt', 'yuv420p', '-movflags', '+faststart', tmpPath);

  const proc = startFfmpeg('ffmpeg', args, ['pipe', 'ignore', 'pipe']);
  const stdin = proc.child.stdin!;
  // Writing after ffmpeg died raises EPIPE on stdin; the exit code and stderr below say why, so that error is not news.
  stdin.on('error', () => undefined);
  let exitCode: number | null | undefined;
  let spawnError: unknown;
  const exited = proc.exited.then(
    (code) => void (exitCode = code),
    (err: unknown) => void (spawnError = err),
  );
  const failure = (): Error =>
    spawnError instanceof Error ? spawnError : new VideoError(`${outPath}: ffmpeg could not write it (${proc.lastError()})`);
  const frameBytes = width * height * 3;

  return {
    async write(frame) {
      if (frame.length !== frameBytes)
        throw new RangeError(`frame has ${frame.length} bytes, expected ${width}×${height}×3 = ${frameBytes}`);
      if (exitCode !== undefined || spawnError) throw failure();
      // A pipe error (EPIPE) means ffmpeg is gone: wait for its exit code and message instead.
      if (!stdin.write(frame)) await Promise.race([once(stdin, 'drain'), exited]).catch(() => exited);
      if (exitCode !== undefined || spawnError) throw failure();
    },
    async close() {
      stdin.end();
      await exited;
      if (spawnError || exitCode !== 0) {
        await rm(tmpPath, { force: true });
        throw failure();
      }
      await rename(tmpPath, outPath);
    },
    async abort() {
      // SIGTERM would make ffmpeg finish the file gracefully, which waits for input that never comes; it is discarded anyway.
      if (exitCode === undefined && !spawnError) proc.child.kill('SIGKILL');
      await exited;
      await rm(tmpPath, { force: true });
    },
  };
}
