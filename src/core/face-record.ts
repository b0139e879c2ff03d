import type { Box, Point } from './geometry.js';
import { byExpression, EXPRESSIONS, type Expression } from './labels.js';

/** The DNN detector's six keypoints, the subject's right/left: `rightEye` is on the left of an unmirrored photo. */
export interface FaceLandmarks {
  rightEye: Point;
  leftEye: Point;
  nose: Point;
  mouth: Point;
  rightEar: Point;
  leftEar: Point;
}

/**
 * A face as every mien output writes it — `mien predict --json`, `mien video --json`, the HTTP API and the web page's
 * snapshot JSON: an integer pixel box, the detector's score and landmarks when it gave them, the track id in videos,
 * the expression and its probabilities keyed by name, rounded to 4 digits.
 */
export interface FaceRecord {
  /** Videos and the live page: which face this is over time (1, 2, … in order of first appearance). */
  trackId?: number;
  box: Box;
  score?: number;
  landmarks?: FaceLandmarks;
  expression: Expression;
  probabilities: Record<Expression, number>;
}

/** What a face record is made from: probabilities by name or in label order. */
export interface FaceLike {
  trackId?: number;
  box: Box;
  score?: number;
  landmarks?: FaceLandmarks;
  expression: Expression;
  probabilities: Record<Expression, number> | ArrayLike<number>;
}

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));
const point = (p: Point): Point => ({ x: Math.round(p.x), y: Math.round(p.y) });

/**
 * A face as mien writes it to JSON (see FaceRecord): the box and landmarks in whole pixels, probabilities by name, 4 digits.
 *
 * @example
 * ```ts
 * const [face] = await recognizer.recognize('photo.jpg');
 * console.log(JSON.stringify(faceRecord(face)));
 * // {"box":{"x":247,"y":95,"width":105,"height":148},"score":0.9221,"landmarks":{"rightEye":{"x":274,"y":152},…},
 * //  "expression":"happy","probabilities":{"angry":0.014,"disgust":0.0117,"fear":0.0122,"happy":0.8484,…}}
 * ```
 */
export function faceRecord(face: FaceLike): FaceRecord {
  const p = byExpression(face.probabilities);
  return {
    ...(face.trackId !== undefined && { trackId: face.trackId }),
    box: { x: Math.round(face.box.x), y: Math.round(face.box.y), width: Math.round(face.box.width), height: Math.round(face.box.height) },
    ...(face.score !== undefined && { score: round(face.score) }),
    ...(face.landmarks && {
      landmarks: Object.fromEntries(Object.entries(face.landmarks).map(([k, v]) => [k, point(v as Point)])) as unknown as FaceLandmarks,
    }),
    expression: face.expression,
    probabilities: Object.fromEntries(EXPRESSIONS.map((e) => [e, round(p[e])])) as Record<Expression, number>,
  };
}
