import sharp from 'sharp';
import { OVERLAY_FONT, overlayShapes, type DrawableFace, type OverlayOptions } from '../core/overlay.js';
import type { RgbImage } from './image.js';

export { EXPRESSION_COLOURS } from '../core/labels.js';
export type { DrawableFace, OverlayOptions } from '../core/overlay.js';

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The faces as an SVG layer of the picture's size (the shapes of core/overlay.ts). */
export function facesOverlay(width: number, height: number, faces: readonly DrawableFace[], options: OverlayOptions = {}): string {
  const svg = overlayShapes({ width, height }, faces, options).map((s) => {
    switch (s.kind) {
      case 'rect':
        return `<rect x="${s.x}" y="${s.y}" width="${s.width}" height="${s.height}" fill="${s.fill}"${s.opacity === undefined ? '' : ` fill-opacity="${s.opacity}"`}/>`;
      case 'frame':
        return `<rect x="${s.x}" y="${s.y}" width="${s.width}" height="${s.height}" fill="none" stroke="${s.stroke}" stroke-width="${s.lineWidth}"/>`;
      case 'text':
        // SVG places text by its baseline; the shapes give the top of the line.
        return `<text x="${s.x}" y="${s.y + s.size * 0.9}" font-family="${OVERLAY_FONT}" font-size="${s.size}"${s.bold ? ' font-weight="bold"' : ''} fill="${s.fill}">${escapeXml(s.text)}</text>`;
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${svg.join('')}</svg>`;
}

const drawOn = (image: RgbImage, faces: readonly DrawableFace[], options: OverlayOptions) =>
  sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  }).composite([{ input: Buffer.from(facesOverlay(image.width, image.height, faces, options)), top: 0, left: 0 }]);

/**
 * The image with its faces drawn on it, encoded by the output file's extension (JPEG, PNG or WebP).
 *
 * @example
 * ```ts
 * import { annotateImage, createRecognizer, decodeImage } from 'mien-fer';
 * const image = await decodeImage('photo.jpg');
 * const faces = await (await createRecognizer()).recognize(image);
 * await annotateImage(image, faces, 'annotated.jpg'); // box, "happy 87%" tag, a panel of the 7 probabilities
 * ```
 */
export async function annotateImage(
  image: RgbImage,
  faces: readonly DrawableFace[],
  outPath: string,
  options: OverlayOptions = {},
): Promise<void> {
  await drawOn(image, faces, options).toFile(outPath);
}

/** The image with its faces drawn on it, as RGB pixels of the same size (video frames). */
export async function drawFaces(image: RgbImage, faces: readonly DrawableFace[], options: OverlayOptions = {}): Promise<Uint8Array> {
  const data = await drawOn(image, faces, options).removeAlpha().raw().toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
