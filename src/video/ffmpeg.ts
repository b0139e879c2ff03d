/** Running ffmpeg and ffprobe (the Debian `ffmpeg` package) and turning their failures into one-line errors. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { MienError } from '../core/errors.js';

/** A video mien cannot read or write, or ffmpeg missing; the message is one line that names the file. */
export class VideoError extends MienError {
  override name = 'VideoError';
}

export const NEEDS_FFMPEG = 'needs ffmpeg: sudo apt-get install -y ffmpeg';

/** How much of ffmpeg's stderr is kept for error messages: its last lines are the ones that say what went wrong. */
const STDERR_TAIL_BYTES = 8192;

export interface FfmpegProcess {
  child: ChildProcess;
  /** Settles when the process has exited: its exit code (null when killed by a signal). Rejects with NEEDS_FFMPEG. */
  exited: Promise<number | null>;
  /** The last non-empty line ffmpeg wrote on stderr (its error, with `-v error`). */
  lastError(): string;
}

/** Starts `tool` with stderr collected; a missing binary rejects `exited` with a VideoError saying how to install it. */
export function startFfmpeg(tool: 'ffmpeg' | 'ffprobe', args: string[], stdio: SpawnOptions['stdio']): FfmpegProcess {
  const child = spawn(tool, args, { stdio });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL_BYTES);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new VideoError(NEEDS_FFMPEG) : err));
    child.once('close', (code) => resolve(code));
  });
  const lastError = (): string =>
    stderr
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .at(-1) ?? 'no message';
  return { child, exited, lastError };
}

/** Runs `tool` to completion and returns its stdout; the caller decides what a non-zero exit code means. */
export async function runFfmpeg(
  tool: 'ffmpeg' | 'ffprobe',
  args: string[],
): Promise<{ code: number | null; stdout: string; lastError: string }> {
  const proc = startFfmpeg(tool, args, ['ignore', 'pipe', 'pipe']);
  let stdout = '';
  proc.child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const code = await proc.exited;
  return { code, stdout, lastError: proc.lastError() };
}

let h264Available: Promise<boolean> | undefined;

/** Whether this ffmpeg was built with libx264 (Debian's is; minimal builds are not). Asked once per process. */
export function hasLibx264(): Promise<boolean> {
  h264Available ??= runFfmpeg('ffmpeg', ['-hide_banner', '-encoders']).then(({ stdout }) => /^\s*V\S*\s+libx264\s/m.test(stdout));
  return h264Available;
}
