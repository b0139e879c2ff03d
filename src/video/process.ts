import { writeFileAtomic } from '../core/atomic-write.js';
import { decodeFrames, type VideoFrame } from './frames.js';
import { probeVideo } from './probe.js';
import { faceRecord, type FaceRecord } from '../core/face-record.js';
import { FaceTracker, type Detection, type TrackedFace, type TrackerOptions } from './tracker.js';
import { createVideoWriter, type VideoWriter } from './writer.js';

export interface ProcessVideoOptions {
  /** Annotated video to write (H.264 MP4 with the input's audio). */
  out?: string;
  /** JSON Lines file: one `{frame, time, faces: [{trackId, box, expression, probabilities}]}` per analysed frame. */
  jsonl?: string;
  /**
   * Called with each analysed frame's record as soon as it is made (what `jsonl` gets, one line each), for a live
   * consumer such as `mien video --json -`; the video waits while the promise it returns is pending.
   */
  onFrame?: (record: FrameRecord) => void | Promise<void>;
  /** Analyse frames 0, N, 2N, …; the frames between are encoded with the last analysed faces. Default 1. */
  every?: number;
  /** Tracking and smoothing (see FaceTracker). */
  smoothing?: TrackerOptions;
  /** Finds the faces in a frame and classifies them: the detector plus the expression model. */
  analyze: (frame: VideoFrame) => Promise<readonly Detection[]>;
  /** Draws the faces on a frame and returns the RGB24 pixels to encode (may be frame.data, modified). Default: the frame as is. */
  annotate?: (frame: VideoFrame, faces: readonly TrackedFace[]) => Promise<Uint8Array>;
  /** Called after each frame: frames done, the expected total (from the container, so approximate), frames per second. */
  onProgress?: (done: number, total: number, fps: number) => void;
}

export interface VideoSummary {
  /** Frames decoded (and encoded, with `out`). */
  frames: number;
  /** Frames the container says it has (approximate: from its duration and frame rate when it does not count them). */
  expectedFrames: number;
  analyzedFrames: number;
  /** Face detections over all analysed frames. */
  faces: number;
  /** Distinct faces, i.e. track ids handed out. */
  tracks: number;
  seconds: number;
  fps: number;
}

export interface FrameRecord {
  frame: number;
  time: number;
  faces: FaceRecord[];
}

/** What goes into the JSON Lines file for one analysed frame, rounded. */
const jsonRecord = (index: number, time: number, faces: readonly TrackedFace[]): FrameRecord => ({
  frame: index,
  time: Math.round(time * 1000) / 1000,
  faces: faces.map(faceRecord),
});

/**
 * Decodes a video, analyses every Nth frame, tracks the faces and smooths their probabilities, and writes the
 * annotated video and/or the JSON Lines file. Both outputs appear only complete (written to a temporary file and
 * renamed); on any error neither is left behind.
 */
export async function processVideo(input: string, options: ProcessVideoOptions): Promise<VideoSummary> {
  const { out, jsonl, every = 1, analyze, annotate, onFrame, onProgress } = options;
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`every must be a whole number ≥ 1, got ${every}`);
  const video = await probeVideo(input);
  const tracker = new FaceTracker(options.smoothing);
  const writer: VideoWriter | undefined = out
    ? await createVideoWriter(out, {
        width: video.width,
        height: video.height,
        fps: video.fps,
        audioFrom: video.hasAudio ? input : undefined,
      })
    : undefined;
  const lines: string[] = [];
  const trackIds = new Set<number>();
  const started = performance.now();
  let frames = 0;
  let analyzedFrames = 0;
  let faceCount = 0;
  let faces: TrackedFace[] = [];
  try {
    for await (const frame of decodeFrames(video)) {
      if (frame.index % every === 0) {
        faces = tracker.update(await analyze(frame));
        analyzedFrames++;
        faceCount += faces.length;
        for (const face of faces) trackIds.add(face.trackId);
        if (jsonl || onFrame) {
          const record = jsonRecord(frame.index, frame.timeSeconds, faces);
          if (jsonl) lines.push(`${JSON.stringify(record)}\n`);
          await onFrame?.(record);
        }
      }
      if (writer) await writer.write(annotate ? await annotate(frame, faces) : frame.data);
      frames++;
      onProgress?.(frames, Math.max(video.frameCount, frames), frames / ((performance.now() - started) / 1000));
    }
    await writer?.close();
  } catch (err) {
    await writer?.abort();
    throw err;
  }
  if (jsonl) await writeFileAtomic(jsonl, lines.join(''));
  const seconds = (performance.now() - started) / 1000;
  return {
    frames,
    expectedFrames: video.frameCount,
    analyzedFrames,
    faces: faceCount,
    tracks: trackIds.size,
    seconds,
    fps: frames / seconds,
  };
}
