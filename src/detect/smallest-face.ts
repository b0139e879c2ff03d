/**
 * The smallest face each detector can be asked for (`minFaceSize`, `--min-face`, `min-face`): below it a detector
 * finds nothing it could not find at this size, and its work grows with the square of how far below it goes (a
 * 480×360 photo at 8 px costs the DNN detector 1.2 GB and 14 s, at 2 px over 7 GB), so a smaller value is refused.
 */
export const SMALLEST_FACE = {
  /**
   * Half the 32 px at which the short-range model finds faces surely: at 16 px its pyramid already magnifies the photo
   * 2×, and the full-range model's finest tiles are 154 px of photo for its 192-px view. A face this small holds less
   * than a third of the 48×48 crop the expression model reads.
   */
  dnn: 16,
  /** The 24×24 window of haarcascade_frontalface_default: the cascade never looks at anything smaller. */
  haar: 24,
} as const;
