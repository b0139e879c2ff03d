export { VideoError, NEEDS_FFMPEG } from './ffmpeg.js';
export { probeVideo, type VideoInfo } from './probe.js';
export { readFrames, decodeFrames, type VideoFrame, type ReadFramesOptions } from './frames.js';
export { createVideoWriter, type VideoWriter, type VideoWriterOptions } from './writer.js';
export { FaceTracker, DEFAULT_TRACKER_OPTIONS, type Detection, type TrackedFace, type TrackerOptions } from './tracker.js';
export { processVideo, type ProcessVideoOptions, type VideoSummary, type FrameRecord } from './process.js';
export { DEFAULT_FOLLOW_OPTIONS, followFaces, loadFaceFollower, type FaceFollower, type FollowOptions } from './face-follower.js';
