/**
 * A grid of faces composed with sharp: one row per label, the label on the left, an optional caption under each
 * face (e.g. "sad 93%"). The text is an SVG overlay in DejaVu Sans, the font the charts use.
 */
import sharp, { type OverlayOptions } from 'sharp';
import { FACE_PIXELS, FACE_SIZE } from '../core/labels.js';
import { CHART_FONT } from './render.js';
import { textWidth } from '../core/text-width.js';

export interface FaceGridRow {
  label: string;
  /** 48×48 gray faces (2304 bytes each), drawn left to right. */
  faces: Uint8Array[];
  /** One line under each face; shorter than `faces` leaves the rest uncaptioned. */
  captions?: string[];
}

export interface FaceGridOptions {
  /** Side of each drawn face in pixels (default 96, twice the 48 px crop). */
  faceSize?: number;
  /** Width of the label column in pixels (default: fits the longest label). */
  labelWidth?: number;
  /** A heading above the grid. */
  title?: string;
}

const MARGIN = 12;
const GAP = 6;
const LABEL_FONT_SIZE = 15;
const CAPTION_FONT_SIZE = 12;
const CAPTION_HEIGHT = 18;
const TITLE_FONT_SIZE = 17;
const TITLE_HEIGHT = 30;
/** Space between a label and the first face. */
const LABEL_GAP = 12;

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The grid as a PNG. Layout, in pixels: a margin of 12 all round; the title (if any) 30 high; then one row per
 * entry, each `faceSize` high plus 18 for captions when any row has captions, rows 6 apart; the label column is
 * `labelWidth` wide, followed by 12 and then the face columns, each `faceSize` wide (wider if a caption needs it),
 * 6 apart.
 */
export async function faceGrid(rows: FaceGridRow[], options: FaceGridOptions = {}): Promise<Buffer> {
  const faceSize = options.faceSize ?? 2 * FACE_SIZE;
  if (!Number.isInteger(faceSize) || faceSize < 1) throw new RangeError(`faceSize must be a positive whole number, got ${faceSize}`);
  for (const row of rows) {
    for (const face of row.faces) {
      if (face.length !== FACE_PIXELS)
        throw new RangeError(`a face is ${FACE_PIXELS} bytes (48×48 gray), got ${face.length} in row "${row.label}"`);
    }
  }
  const captions = rows.flatMap((r) => r.captions ?? []);
  const captionHeight = captions.length > 0 ? CAPTION_HEIGHT : 0;
  const columns = Math.max(1, ...rows.map((r) => r.faces.length));
  const columnWidth = Math.max(faceSize, ...captions.map((c) => Math.ceil(textWidth(c, CAPTION_FONT_SIZE)) + 4));
  const labelWidth = options.labelWidth ?? Math.ceil(Math.max(0, ...rows.map((r) => textWidth(r.label, LABEL_FONT_SIZE, true))));
  const titleHeight = options.title ? TITLE_HEIGHT : 0;
  const rowHeight = faceSize + captionHeight;
  const gridLeft = MARGIN + labelWidth + LABEL_GAP;
  const width = gridLeft + columns * columnWidth + (columns - 1) * GAP + MARGIN;
  const height = 2 * MARGIN + titleHeight + rows.length * rowHeight + Math.max(0, rows.length - 1) * GAP;

  const faces: OverlayOptions[] = [];
  const text: string[] = [];
  if (options.title) {
    text.push(
      `<text x="${MARGIN}" y="${MARGIN + TITLE_FONT_SIZE}" font-size="${TITLE_FONT_SIZE}" font-weight="bold">${escapeXml(options.title)}</text>`,
    );
  }
  for (const [r, row] of rows.entries()) {
    const top = MARGIN + titleHeight + r * (rowHeight + GAP);
    text.push(
      `<text x="${MARGIN + labelWidth}" y="${top + faceSize / 2}" text-anchor="end" dominant-baseline="central" ` +
        `font-size="${LABEL_FONT_SIZE}" font-weight="bold">${escapeXml(row.label)}</text>`,
    );
    for (const [c, face] of row.faces.entries()) {
      const left = gridLeft + c * (columnWidth + GAP);
      const input = await sharp(face, { raw: { width: FACE_SIZE, height: FACE_SIZE, channels: 1 } })
        .resize(faceSize, faceSize, { kernel: 'cubic' })
        .png()
        .toBuffer();
      faces.push({ input, left: left + Math.floor((columnWidth - faceSize) / 2), top });
      const caption = row.captions?.[c];
      if (caption) {
        text.push(
          `<text x="${left + columnWidth / 2}" y="${top + faceSize + CAPTION_FONT_SIZE + 2}" text-anchor="middle" ` +
            `font-size="${CAPTION_FONT_SIZE}" fill="#333333">${escapeXml(caption)}</text>`,
        );
      }
    }
  }
  const overlay =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${CHART_FONT}">` + `${text.join('')}</svg>`;
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([...faces, { input: Buffer.from(overlay), left: 0, top: 0 }])
    .png()
    .toBuffer();
}
