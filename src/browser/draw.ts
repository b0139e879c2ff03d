/**
 * Draws recognised faces on a canvas exactly as `mien predict --annotate` draws them on photos: the shapes come from
 * src/core/overlay.ts, shared with the SVG renderer of annotated photos and videos.
 */
import { byExpression, type Expression } from '../core/labels.js';
import { OVERLAY_FONT, overlayShapes, type DrawableFace, type OverlayOptions } from '../core/overlay.js';

/** A face to draw: probabilities by expression, or in EXPRESSIONS order (a tracked face's moving average). */
export interface CanvasFace extends Omit<DrawableFace, 'probabilities'> {
  probabilities: Record<Expression, number> | readonly number[];
}

/**
 * Draws each face's box, tag and (unless `panels: false`) probability panel, in the canvas's own pixels.
 *
 * @example
 * ```ts
 * const faces = await recognizer.recognize(video);
 * drawFaces(canvas.getContext('2d')!, faces);
 * ```
 */
export function drawFaces(
  ctx: CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D,
  faces: readonly CanvasFace[],
  options: OverlayOptions = {},
): void {
  const drawable = faces.map((f) => ({ box: f.box, expression: f.expression, probabilities: byExpression(f.probabilities) }));
  ctx.save();
  ctx.textBaseline = 'top';
  for (const s of overlayShapes(ctx.canvas, drawable, options)) {
    if (s.kind === 'frame') {
      ctx.strokeStyle = s.stroke;
      ctx.lineWidth = s.lineWidth;
      ctx.strokeRect(s.x, s.y, s.width, s.height);
    } else if (s.kind === 'rect') {
      ctx.globalAlpha = s.opacity ?? 1;
      ctx.fillStyle = s.fill;
      ctx.fillRect(s.x, s.y, s.width, s.height);
      ctx.globalAlpha = 1;
    } else {
      ctx.font = `${s.bold ? 'bold ' : ''}${s.size}px ${OVERLAY_FONT}`;
      ctx.fillStyle = s.fill;
      ctx.fillText(s.text, s.x, s.y);
    }
  }
  ctx.restore();
}
