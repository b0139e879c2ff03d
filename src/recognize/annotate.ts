import sharp from 'sharp';
import { EXPRESSION_COLOURS, EXPRESSIONS } from '../core/labels.js';
import type { RgbImage } from './image.js';
import type { RecognizedFace } from './recognizer.js';

export { EXPRESSION_COLOURS } from '../core/labels.js';

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * An SVG layer for the faces: a box in the expression's colour, a label "happy 87%" above it, and beside it a small
 * bar per expression, so the runner-up is visible too. Sizes follow the face, within readable limits.
 */
/** What annotation needs of a face: where it is and what it shows. */
export type DrawableFace = Pick<RecognizedFace, 'box' | 'expression' | 'probabilities'>;

export function facesOverlay(width: number, height: number, faces: readonly DrawableFace[]): string {
  // Probability panels go underneath, boxes and labels on top: a label wider than a small face stays readable.
  const panels: string[] = [];
  const parts: string[] = [];
  for (const face of faces) {
    const { x, y, width: w, height: h } = face.box;
    const colour = EXPRESSION_COLOURS[face.expression];
    const stroke = Math.max(2, Math.round(Math.min(w, h) / 40));
    const font = Math.round(Math.min(32, Math.max(12, w / 6)));
    const label = `${face.expression} ${Math.round(100 * face.probabilities[face.expression])}%`;
    const labelWidth = label.length * font * 0.62 + 8;
    const labelY = y - font - 6 >= 0 ? y - font - 6 : y + h;
    parts.push(
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`,
      `<rect x="${x}" y="${labelY}" width="${labelWidth}" height="${font + 6}" fill="${colour}"/>`,
      `<text x="${x + 4}" y="${labelY + font}" font-family="DejaVu Sans" font-size="${font}" font-weight="bold" fill="#000">${escapeXml(label)}</text>`,
    );
    // probability bars beside the box (left of it when there is no room on the right)
    const barFont = Math.round(Math.min(14, Math.max(9, h / 12)));
    const rowHeight = barFont + 3;
    const barMax = barFont * 5;
    const panelWidth = barFont * 5 + barMax + 8;
    const px = x + w + panelWidth + stroke <= width ? x + w + stroke + 2 : Math.max(0, x - panelWidth - stroke - 2);
    panels.push(
      `<rect x="${px}" y="${y}" width="${panelWidth}" height="${rowHeight * EXPRESSIONS.length + 4}" fill="#000" fill-opacity="0.55"/>`,
    );
    EXPRESSIONS.forEach((e, i) => {
      const ry = y + 2 + i * rowHeight;
      panels.push(
        `<text x="${px + 4}" y="${ry + barFont}" font-family="DejaVu Sans" font-size="${barFont}" fill="#fff">${e}</text>`,
        `<rect x="${px + barFont * 5}" y="${ry + 2}" width="${Math.max(1, face.probabilities[e] * barMax)}" height="${barFont - 2}" fill="${EXPRESSION_COLOURS[e]}"/>`,
      );
    });
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${panels.join('')}${parts.join('')}</svg>`;
}

const drawOn = (image: RgbImage, faces: readonly DrawableFace[]) =>
  sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  }).composite([{ input: Buffer.from(facesOverlay(image.width, image.height, faces)), top: 0, left: 0 }]);

/** The image with its faces drawn on it, encoded by the output file's extension (JPEG, PNG or WebP). */
export async function annotateImage(image: RgbImage, faces: readonly DrawableFace[], outPath: string): Promise<void> {
  await drawOn(image, faces).toFile(outPath);
}

/** The image with its faces drawn on it, as RGB pixels of the same size (video frames). */
export async function drawFaces(image: RgbImage, faces: readonly DrawableFace[]): Promise<Uint8Array> {
  const data = await drawOn(image, faces).removeAlpha().raw().toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
