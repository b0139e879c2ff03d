/**
 * Text widths in DejaVu Sans, the font mien draws with (charts, and the labels on annotated photos, whose SVG librsvg
 * renders with it): the advance widths of the font files, so text is laid out by the width it will have when drawn.
 *
 * A table rather than a font library: opentype.js 1.3 needs 1.3 s to load the two TTF files, throws measuring any
 * string in them ("substitutionType 62 … not yet supported", from DejaVu's GSUB table), and would make the font file
 * a run-time requirement; its per-glyph advance widths equal these for all 190 characters (checked 2026-12-02).
 */

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
