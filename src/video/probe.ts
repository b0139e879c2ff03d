import { stat } from 'node:fs/promises';
import { runFfmpeg, VideoError } from './ffmpeg.js';

export interface VideoInfo {
  path: string;
  /** Size of the upright frames, after the rotation below: what readFrames yields. */
  width: number;
  height: number;
  /** Frames per second (the stream's r_frame_rate), as ffmpeg's rational string ("30000/1001") and as a number. */
  frameRate: string;
  fps: number;
  /** Seconds of video (the stream's duration, else the container's). */
  duration: number;
  /** Frames in the stream as the container states it, else duration × fps; readFrames may differ by a frame or so. */
  frameCount: number;
  /** Degrees (0, 90, 180, 270) the stored picture is turned for display (display matrix or `rotate` tag). */
  rotation: number;
  hasAudio: boolean;
}

interface ProbeStream {
  codec_type?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  duration?: string;
  nb_frames?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: Array<{ rotation?: number }>;
}

interface ProbeOutput {
  streams?: ProbeStream[];
  format?: { duration?: string };
}

/**
 * r_frame_rate above this is a timestamp clock, not a frame rate (variable-frame-rate files can report 90000/1);
 * such files are read at their average rate instead.
 */
const MAX_PLAUSIBLE_FPS = 240;

const parseRate = (rate: string | undefined): number => {
  const [num, den = '1'] = (rate ?? '').split('/');
  const value = Number(num) / Number(den);
  return Number.isFinite(value) && value > 0 ? value : NaN;
};

const positive = (value: string | undefined): number | undefined => {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
};

/**
 * Width, height, frame rate, length, rotation and audio of a video file, from ffprobe. A missing file, a file ffmpeg
 * cannot read, a file without a video stream (a cover picture in an audio file does not count) and a missing ffmpeg
 * are VideoErrors naming the file.
 */
export async function probeVideo(path: string): Promise<VideoInfo> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new VideoError(`${path}: no such file`);
  if (info.isDirectory()) throw new VideoError(`${path}: is a folder, not a video`);
  const { code, stdout, lastError } = await runFfmpeg('ffprobe', [
    '-v',
    'error',
    '-print_format',
    'json',
    '-show_streams',
    '-show_format',
    path,
  ]);
  // ffprobe prefixes its message with the path; the error names the file once.
  if (code !== 0) throw new VideoError(`${path}: not a video ffmpeg can read (${lastError.replace(`${path}: `, '')})`);
  const probe = JSON.parse(stdout) as ProbeOutput;
  const streams = probe.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic && s.width && s.height);
  if (!video) throw new VideoError(`${path}: has no video stream`);

  const frameRate = parseRate(video.r_frame_rate) <= MAX_PLAUSIBLE_FPS ? video.r_frame_rate! : (video.avg_frame_rate ?? '');
  const fps = parseRate(frameRate);
  if (Number.isNaN(fps)) throw new VideoError(`${path}: the video stream has no frame rate`);
  const duration = positive(video.duration) ?? positive(probe.format?.duration) ?? 0;
  const frameCount = positive(video.nb_frames) ?? Math.round(duration * fps);

  // The display matrix turns counter-clockwise, the older `rotate` tag clockwise; either way a quarter turn swaps sides.
  const matrixRotation = video.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  const turn = matrixRotation ?? -Number(video.tags?.rotate ?? 0);
  const rotation = (((Math.round(turn / 90) * 90) % 360) + 360) % 360;
  const quarterTurn = rotation % 180 === 90;
  return {
    path,
    width: quarterTurn ? video.height! : video.width!,
    height: quarterTurn ? video.width! : video.height!,
    frameRate,
    fps,
    duration,
    frameCount,
    rotation,
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
  };
}
