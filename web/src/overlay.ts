/**
 * Draws the faces on the view canvas as `mien predict --annotate` draws them: a box in the expression's colour with a
 * label "happy 87%" and a probability bar under it, and a panel beside the box with a bar per expression.
 */
import { EXPRESSION_COLOURS, EXPRESSIONS } from '../../src/core/labels.js';
import type { TrackedFace } from '../../src/video/tracker.js';

const FONT = 'system-ui, "DejaVu Sans", sans-serif';

export function drawFaces(ctx: CanvasRenderingContext2D, faces: readonly TrackedFace[]): void {
  const width = ctx.canvas.width;
  ctx.save();
  ctx.textBaseline = 'top';
  // Panels first, boxes and labels on top: a label wider than a small face stays readable.
  for (const face of faces) drawPanel(ctx, face, width);
  for (const face of faces) drawLabel(ctx, face);
  ctx.restore();
}

function drawLabel(ctx: CanvasRenderingContext2D, face: TrackedFace): void {
  const { x, y, width: w, height: h } = face.box;
  const colour = EXPRESSION_COLOURS[face.expression];
  const probability = face.probabilities[EXPRESSIONS.indexOf(face.expression)]!;
  const stroke = Math.max(2, Math.round(Math.min(w, h) / 40));
  const font = Math.round(Math.min(32, Math.max(14, w / 6)));
  ctx.strokeStyle = colour;
  ctx.lineWidth = stroke;
  ctx.strokeRect(x, y, w, h);

  const label = `${face.expression} ${Math.round(100 * probability)}%`;
  ctx.font = `bold ${font}px ${FONT}`;
  const labelWidth = Math.max(ctx.measureText(label).width + 8, Math.min(w, 4 * font));
  const barHeight = Math.max(4, Math.round(font / 4));
  const tagHeight = font + 6 + barHeight;
  // Above the box when it fits, else inside its top edge.
  const tagY = y - tagHeight - stroke >= 0 ? y - tagHeight - stroke : y;
  ctx.fillStyle = colour;
  ctx.fillRect(x, tagY, labelWidth, tagHeight);
  ctx.fillStyle = '#000';
  ctx.fillText(label, x + 4, tagY + 3);
  // The probability bar: dark track, filled to the probability.
  ctx.fillStyle = 'rgba(0, 0, 0, 0.55)';
  ctx.fillRect(x, tagY + font + 6, labelWidth, barHeight);
  ctx.fillStyle = '#fff';
  ctx.fillRect(x, tagY + font + 6, labelWidth * probability, barHeight);
}

function drawPanel(ctx: CanvasRenderingContext2D, face: TrackedFace, canvasWidth: number): void {
  const { x, y, width: w, height: h } = face.box;
  const font = Math.round(Math.min(14, Math.max(10, h / 12)));
  const row = font + 4;
  const nameWidth = font * 5;
  const barMax = font * 5;
  const panelWidth = nameWidth + barMax + 8;
  // Right of the box when there is room, else left of it.
  const px = x + w + panelWidth + 4 <= canvasWidth ? x + w + 4 : Math.max(0, x - panelWidth - 4);
  ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
  ctx.fillRect(px, y, panelWidth, row * EXPRESSIONS.length + 4);
  ctx.font = `${font}px ${FONT}`;
  EXPRESSIONS.forEach((e, i) => {
    const ry = y + 2 + i * row;
    ctx.fillStyle = '#fff';
    ctx.fillText(e, px + 4, ry + 1);
    ctx.fillStyle = EXPRESSION_COLOURS[e];
    ctx.fillRect(px + nameWidth, ry + 2, Math.max(1, face.probabilities[i]! * barMax), font - 2);
  });
}
