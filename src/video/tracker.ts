import { iou, type Box } from '../core/geometry.js';
import { EXPRESSIONS, NUM_CLASSES, type Expression } from '../core/labels.js';

/** One face found in one frame: its box in pixels and its 7 expression probabilities (EXPRESSIONS order). */
export interface Detection {
  box: Box;
  probabilities: ArrayLike<number>;
}

/** A detection as the tracker reports it: which face it is over time, with smoothed box and probabilities. */
export interface TrackedFace {
  /** 1, 2, 3, … in order of first appearance; a face keeps its id while the tracker keeps matching it. */
  trackId: number;
  box: Box;
  probabilities: number[];
  /** The most probable expression after smoothing. */
  expression: Expression;
}

export interface TrackerOptions {
  /**
   * Weight of the newest probabilities in the exponential moving average: smoothed = alpha × new + (1 − alpha) ×
   * smoothed. 1 turns smoothing off; lower values steady the label but make it follow a change later. Default 0.5.
   */
  alpha?: number;
  /** The same for the box's position and size: light, so boxes steady without lagging behind a moving face. Default 0.7. */
  boxAlpha?: number;
  /** Least overlap (intersection over union) between a track's last box and a detection to call them the same face. Default 0.3. */
  iouThreshold?: number;
  /** Updates a track may go unmatched (a face turned away, a missed detection) before it is forgotten. Default 5. */
  maxMissed?: number;
}

export const DEFAULT_TRACKER_OPTIONS: Required<TrackerOptions> = { alpha: 0.5, boxAlpha: 0.7, iouThreshold: 0.3, maxMissed: 5 };

interface Track {
  id: number;
  /** The last detected box, unsmoothed: what the next frame's detections are matched against. */
  lastBox: Box;
  box: Box;
  probabilities: number[];
  missed: number;
}

const ema = (alpha: number, next: number, previous: number): number => alpha * next + (1 - alpha) * previous;

const argmax = (values: readonly number[]): number => values.reduce((best, v, i) => (v > values[best]! ? i : best), 0);

const checkFraction = (name: string, value: number, allowZero: boolean): void => {
  if (!(value <= 1 && (allowZero ? value >= 0 : value > 0)))
    throw new RangeError(`${name} must be in ${allowZero ? '[0, 1]' : '(0, 1]'}, got ${value}`);
};

/**
 * Follows faces from frame to frame so that each keeps an id and its label does not flicker: detections are matched
 * to tracks greedily by IoU (the best-overlapping pair first, which for the few faces of a video frame gives the same
 * pairs as an optimal assignment in all but contrived cases), and each track keeps an exponential moving average of
 * its probabilities and box.
 */
export class FaceTracker {
  private readonly options: Required<TrackerOptions>;
  private tracks: Track[] = [];
  private nextId = 1;

  constructor(options: TrackerOptions = {}) {
    this.options = { ...DEFAULT_TRACKER_OPTIONS, ...options };
    const { alpha, boxAlpha, iouThreshold, maxMissed } = this.options;
    checkFraction('alpha', alpha, false);
    checkFraction('boxAlpha', boxAlpha, false);
    checkFraction('iouThreshold', iouThreshold, true);
    if (!(Number.isInteger(maxMissed) && maxMissed >= 0)) throw new RangeError(`maxMissed must be a whole number ≥ 0, got ${maxMissed}`);
  }

  /** The faces of the next analysed frame, in the order of `detections`; tracks not seen here count one more miss. */
  update(detections: readonly Detection[]): TrackedFace[] {
    for (const d of detections) {
      if (d.probabilities.length !== NUM_CLASSES)
        throw new RangeError(`a detection has ${d.probabilities.length} probabilities, expected ${NUM_CLASSES}`);
    }
    const { alpha, boxAlpha, iouThreshold, maxMissed } = this.options;

    const pairs: Array<{ track: Track; detection: number; overlap: number }> = [];
    for (const track of this.tracks) {
      detections.forEach((d, detection) => {
        const overlap = iou(track.lastBox, d.box);
        if (overlap > 0 && overlap >= iouThreshold) pairs.push({ track, detection, overlap });
      });
    }
    pairs.sort((a, b) => b.overlap - a.overlap);
    const trackOf = new Map<number, Track>();
    const matched = new Set<Track>();
    for (const { track, detection } of pairs) {
      if (matched.has(track) || trackOf.has(detection)) continue;
      matched.add(track);
      trackOf.set(detection, track);
    }

    const faces = detections.map((d, i): TrackedFace => {
      const probabilities = Array.from(d.probabilities);
      let track = trackOf.get(i);
      if (track) {
        track.probabilities = track.probabilities.map((p, c) => ema(alpha, probabilities[c]!, p));
        const { box } = track;
        track.box = {
          x: ema(boxAlpha, d.box.x, box.x),
          y: ema(boxAlpha, d.box.y, box.y),
          width: ema(boxAlpha, d.box.width, box.width),
          height: ema(boxAlpha, d.box.height, box.height),
        };
        track.lastBox = { ...d.box };
        track.missed = 0;
      } else {
        track = { id: this.nextId++, lastBox: { ...d.box }, box: { ...d.box }, probabilities, missed: 0 };
        this.tracks.push(track);
      }
      matched.add(track);
      return {
        trackId: track.id,
        box: { ...track.box },
        probabilities: [...track.probabilities],
        expression: EXPRESSIONS[argmax(track.probabilities)]!,
      };
    });

    for (const track of this.tracks) if (!matched.has(track)) track.missed++;
    this.tracks = this.tracks.filter((t) => t.missed <= maxMissed);
    return faces;
  }

  /** Ids of the faces the tracker still remembers, seen in this update or missed for at most maxMissed updates. */
  get trackIds(): number[] {
    return this.tracks.map((t) => t.id);
  }
}
