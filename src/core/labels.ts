/** The 7 FER2013 expressions, indexed by their FER2013 label id (0–6). */
export const EXPRESSIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type Expression = (typeof EXPRESSIONS)[number];
export const NUM_CLASSES = EXPRESSIONS.length;

/** Probabilities keyed by expression, from a record (returned as it is) or values in EXPRESSIONS order. */
export function byExpression(p: Readonly<Record<Expression, number>> | ArrayLike<number>): Record<Expression, number> {
  if (!('length' in p)) return p as Record<Expression, number>;
  return Object.fromEntries(EXPRESSIONS.map((e, i) => [e, (p as ArrayLike<number>)[i]!])) as Record<Expression, number>;
}

/** One colour per expression, so a glance at a crowded photo groups the faces (annotated images, the web app). */
export const EXPRESSION_COLOURS: Record<Expression, string> = {
  angry: '#e53935',
  disgust: '#7cb342',
  fear: '#8e24aa',
  happy: '#fdd835',
  sad: '#1e88e5',
  surprise: '#fb8c00',
  neutral: '#90a4ae',
};

/** Side of the square gray face crop every mien expression model takes. */
export const FACE_SIZE = 48;
export const FACE_PIXELS = FACE_SIZE * FACE_SIZE;
