/** Frames per second and mean time per stage over the most recent frames, for the page's readout. */
import type { StageTimes } from './engine.js';

export interface FrameTimes extends StageTimes {
  draw: number;
}

/** Frames the means are taken over: about a second of live video, steady enough to read. */
const WINDOW = 30;

export class FrameStats {
  /** Frames analysed since the source started. */
  frames = 0;
  private readonly ends: number[] = [];
  private readonly times: FrameTimes[] = [];

  reset(): void {
    this.frames = 0;
    this.ends.length = 0;
    this.times.length = 0;
  }

  record(times: FrameTimes, end = performance.now()): void {
    this.frames++;
    this.ends.push(end);
    this.times.push(times);
    if (this.ends.length > WINDOW) this.ends.shift();
    if (this.times.length > WINDOW) this.times.shift();
  }

  /** Frames per second over the window; undefined until two frames are done. */
  get fps(): number | undefined {
    const n = this.ends.length;
    return n < 2 ? undefined : ((n - 1) * 1000) / (this.ends[n - 1]! - this.ends[0]!);
  }

  /** Mean milliseconds per stage over the window. */
  get meanTimes(): FrameTimes | undefined {
    if (this.times.length === 0) return undefined;
    const mean = (key: keyof FrameTimes) => this.times.reduce((sum, t) => sum + t[key], 0) / this.times.length;
    return { capture: mean('capture'), detect: mean('detect'), classify: mean('classify'), draw: mean('draw') };
  }
}
