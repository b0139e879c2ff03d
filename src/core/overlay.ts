/**
 * The one drawing of recognised faces, as shapes: `mien predict --annotate` and `mien video --out` render them to SVG
 * (recognize/annotate.ts), the webcam page to its canvas (web/src/overlay.ts), so the two always look alike. Per face:
 * a box in the expression's colour, a tag "happy 87%" with a probability bar above it, and beside the box a panel
 * with a bar per expression (left out with `panels: false`, `--no-panels`). Sizes follow the face, within readable limits.
 */
import type { Box } from './geometry.js';
import { EXPRESSION_COLOURS, EXPRESSIONS, type Expression } from './labels.js';
import { textWidth } from './text-width.js';

export type OverlayShape =
  | { kind: 'rect'; x: number; y: number; width: number; height: number; fill: string; opacity?: number }
  | { kind: 'frame'; x: number; y: number; width: number; height: number; stroke: string; lineWidth: number }
  | { kind: 'text'; x: number; y: number; text: string; size: number; bold: boolean; fill: string };

/** What drawing needs of a face: where it is and what it shows (probabilities by name). */
export interface DrawableFace {
  box: Box;
  expression: Expression;
  probabilities: Record<Expression, number>;
}

/** Font families for both renderers; DejaVu Sans is what sharp's SVG renderer finds on Debian. */
export const OVERLAY_FONT = 'DejaVu Sans, system-ui, sans-serif';
/** What to draw besides each face's box and tag. */
export interface OverlayOptions {
  /** The panel of per-expression probability bars beside each face (default true). */
  panels?: boolean;
}

/** Whether two boxes share any area. */
const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

const clamp = (value: number, low: number, high: number): number => Math.max(low, Math.min(high, value));

/**
 * The shapes for `faces` on a picture of `size`, in drawing order: panels below, boxes and tags on top. Text is laid
 * out by DejaVu Sans's widths (the font it is drawn in), and every tag and panel stays inside the picture. A panel
 * goes right of its face, else left of it, wherever it covers no other face; where neither side is free it is left out.
 */
export function overlayShapes(
  size: { width: number; height: number },
  faces: readonly DrawableFace[],
  { panels: withPanels = true }: OverlayOptions = {},
): OverlayShape[] {
  const panels: OverlayShape[] = [];
  const tags: OverlayShape[] = [];
  for (const face of faces) {
    const { x, y, width: w, height: h } = face.box;
    const colour = EXPRESSION_COLOURS[face.expression];
    const probability = face.probabilities[face.expression];
    const stroke = Math.max(2, Math.round(Math.min(w, h) / 40));
    const font = Math.round(Math.min(32, Math.max(12, w / 6)));
    const label = `${face.expression} ${Math.round(100 * probability)}%`;
    const tagWidth = Math.min(size.width, Math.max(Math.ceil(textWidth(label, font, true)) + 8, Math.min(w, 4 * font)));
    const barHeight = Math.max(4, Math.round(font / 4));
    const tagHeight = font + 6 + barHeight;
    // Above the box when it fits, else inside its top edge; moved left where the picture ends before the tag does.
    const tagX = clamp(x, 0, size.width - tagWidth);
    const tagY = clamp(y - tagHeight - stroke >= 0 ? y - tagHeight - stroke : y, 0, Math.max(0, size.height - tagHeight));
    tags.push(
      { kind: 'frame', x, y, width: w, height: h, stroke: colour, lineWidth: stroke },
      { kind: 'rect', x: tagX, y: tagY, width: tagWidth, height: tagHeight, fill: colour },
      { kind: 'text', x: tagX + 4, y: tagY + 3, text: label, size: font, bold: true, fill: '#000' },
      { kind: 'rect', x: tagX, y: tagY + font + 6, width: tagWidth, height: barHeight, fill: '#000', opacity: 0.55 },
      { kind: 'rect', x: tagX, y: tagY + font + 6, width: tagWidth * probability, height: barHeight, fill: '#fff' },
    );
    if (!withPanels) continue;

    const barFont = Math.round(Math.min(14, Math.max(9, h / 12)));
    const row = barFont + 3;
    const nameWidth = Math.ceil(Math.max(...EXPRESSIONS.map((e) => textWidth(e, barFont)))) + 8;
    const barMax = barFont * 5;
    const panelWidth = nameWidth + barMax + 4;
    const panelHeight = row * EXPRESSIONS.length + 4;
    const py = clamp(y, 0, Math.max(0, size.height - panelHeight));
    const free = (px: number): boolean =>
      px >= 0 &&
      px + panelWidth <= size.width &&
      faces.every((other) => !overlaps({ x: px, y: py, width: panelWidth, height: panelHeight }, other.box));
    const px = [x + w + stroke + 2, x - panelWidth - stroke - 2].find(free);
    if (px === undefined) continue;
    panels.push({ kind: 'rect', x: px, y: py, width: panelWidth, height: panelHeight, fill: '#000', opacity: 0.55 });
    EXPRESSIONS.forEach((e, i) => {
      const ry = py + 2 + i * row;
      panels.push(
        { kind: 'text', x: px + 4, y: ry, text: e, size: barFont, bold: false, fill: '#fff' },
        {
          kind: 'rect',
          x: px + nameWidth,
          y: ry + 2,
          width: Math.max(1, face.probabilities[e] * barMax),
          height: barFont - 2,
          fill: EXPRESSION_COLOURS[e],
        },
      );
    });
  }
  return [...panels, ...tags];
}
