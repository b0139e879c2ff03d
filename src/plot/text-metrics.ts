/**
 * vega measuring text in DejaVu Sans, the font the charts are drawn with (widths: core/text-width.ts). Without a canvas, vega guesses every character to
 * be 0.8 em wide — half again as wide as DejaVu's — and lays charts out around that guess: axis titles drift away
 * from their labels and legends get wide empty margins. With the font's real advance widths, layouts fit the text.
 */
import * as vega from 'vega';
import { textWidth } from '../core/text-width.js';

interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

/** vega's text measurement hook; documented in vega-scenegraph, missing from vega's type declarations. */
interface TextMetrics {
  width: (item: TextItem, text: unknown) => number;
}

/** Makes vega lay out text with DejaVu Sans's widths (vega keeps one measurer per process). */
export function useDejaVuMetrics(): void {
  (vega as unknown as { textMetrics: TextMetrics }).textMetrics.width = (item, text) => {
    const fontSize = item.fontSize === undefined ? 11 : Number(item.fontSize) || 0;
    const weight = item.fontWeight;
    const bold = weight === 'bold' || weight === 'bolder' || Number(weight) >= 600;
    const width = textWidth(text == null ? '' : String(text).trim(), fontSize, bold);
    // vega truncates text longer than its limit with an ellipsis when it draws it.
    return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
  };
}
