import type { Box, Point } from '../core/geometry.js';
import { EXPRESSIONS, type Expression } from '../core/labels.js';
import type { RecognizedFace } from './recognizer.js';

/** A recognized face as `mien predict --json` and the HTTP API write it. */
export interface FaceJson {
  box: Box;
  score: number;
  landmarks?: Record<string, Point>;
  expression: Expression;
  probabilities: Record<Expression, number>;
}

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

/** The JSON of one face: integer box, rounded scores, probabilities in label order. */
export function faceJson(face: RecognizedFace): FaceJson {
  return {
    box: { x: Math.round(face.box.x), y: Math.round(face.box.y), width: Math.round(face.box.width), height: Math.round(face.box.height) },
    score: round(face.score),
    ...(face.landmarks && {
      landmarks: Object.fromEntries(Object.entries(face.landmarks).map(([k, p]) => [k, { x: Math.round(p.x), y: Math.round(p.y) }])),
    }),
    expression: face.expression,
    probabilities: Object.fromEntries(EXPRESSIONS.map((e) => [e, round(face.probabilities[e])])) as Record<Expression, number>,
  };
}
