/**
 * Draws the faces on the view canvas exactly as `mien predict --annotate` draws them: the shapes come from
 * src/core/overlay.ts, shared with the SVG renderer of annotated photos and videos.
 */
import { EXPRESSIONS, type Expression } from '../../src/core/labels.js';
import { OVERLAY_FONT, overlayShapes } from '../../src/core/overlay.js';
import type { TrackedFace } from '../../src/video/tracker.js';

export function drawFaces(ctx: CanvasRenderingContext2D, faces: readonly TrackedFace[]): void {
  const drawable = faces.map((f) => ({
    box: f.box,
    expression: f.expression,
    probabilities: Object.fromEntries(EXPRESSIONS.map((e, i) => [e, f.probabilities[i]!])) as Record<Expression, number>,
  }));
  ctx.save();
  ctx.textBaseline = 'top';
  for (const s of overlayShapes(ctx.canvas.width, drawable)) {
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
