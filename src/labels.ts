/** The 7 FER2013 expressions, indexed by their FER2013 label id (0–6). */
export const EXPRESSIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type Expression = (typeof EXPRESSIONS)[number];
export const NUM_CLASSES = EXPRESSIONS.length;

/** Side of the square gray face crop every mien expression model takes. */
export const FACE_SIZE = 48;
export const FACE_PIXELS = FACE_SIZE * FACE_SIZE;
