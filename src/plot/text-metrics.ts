/**
 * Text widths in DejaVu Sans, the font the charts are drawn with. Without a canvas, vega guesses every character to
 * be 0.8 em wide — half again as wide as DejaVu's — and lays charts out around that guess: axis titles drift away
 * from their labels and legends get wide empty margins. With the font's real advance widths, layouts fit the text.
 */
import * as vega from 'vega';

/** Advance widths in thousandths of an em of the printable ASCII characters (space … ~), read from the TTF files. */
const REGULAR = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337,
  337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732,
  684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635,
  635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];
const BOLD = [
  348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696, 696, 696, 696, 400,
  400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812,
  774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716,
  716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
];
/** The few non-ASCII characters mien's charts use; anything else counts as a wide letter. */
const OTHER: Record<string, number> = { '…': 1000, '·': 318, '×': 838, '–': 500, '—': 1000, '’': 318 };
const FALLBACK = 700;

/** Width in pixels of `text` set in DejaVu Sans at `fontSize` px. */
export function textWidth(text: string, fontSize: number, bold = false): number {
  const table = bold ? BOLD : REGULAR;
  let thousandths = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    thousandths += code >= 32 && code < 127 ? table[code - 32]! : (OTHER[ch] ?? FALLBACK);
  }
  return (thousandths * fontSize) / 1000;
}

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
