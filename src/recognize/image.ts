import { stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { ImageError, PixelLimitError, rawToRgb, type RawPixels, type RgbImage } from './pixels.js';
import { DEFAULT_RECOGNIZER_CONFIG } from './config.js';

export { ImageError, PixelLimitError, type RawPixels, type RgbImage } from './pixels.js';

export type ImageInput = string | Buffer | RawPixels;

const describe = (input: ImageInput): string =>
  typeof input === 'string' ? input : Buffer.isBuffer(input) ? 'image buffer' : 'raw pixels';

/**
 * Formats of libvips' own or that are drawings rather than pictures: sharp reads them, but a folder of photos holding
 * `.v` files (Verilog, Coq) or `.svg` icons is not asking mien to look for faces in them.
 */
const NOT_PHOTOS = new Set(['vips', 'svg']);

/**
 * The file extensions (lower case, with the dot) of the picture formats this build of sharp can decode from a file,
 * read from `sharp.format`: what `mien predict` collects from a folder. A build without HEVC or ImageMagick has no
 * `.heic` or `.bmp` here, so such files are never collected only to fail.
 */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(
  Object.entries(sharp.format)
    .filter(([id, format]) => format.input.file && !NOT_PHOTOS.has(id))
    .flatMap(([, format]) => format.input.fileSuffix ?? [])
    .map((suffix) => suffix.toLowerCase()),
);

/**
 * Decodes a file, an encoded buffer or raw pixels into an upright RGB image: EXIF orientation applied, alpha
 * flattened onto black, gray/CMYK/16-bit converted to 8-bit sRGB. The pixel limit is checked from the header, before
 * any pixel is decoded. Errors name the file, or `name` where given (`stdin` for a buffer read from it).
 *
 * @example
 * ```ts
 * import { decodeImage } from 'mien-fer';
 * const image = await decodeImage('photo.jpg');
 * console.log(image.width, image.height, image.data.length); // 480 360 518400 (RGB, 3 bytes a pixel)
 * ```
 */
export async function decodeImage(
  input: ImageInput,
  maxPixels = DEFAULT_RECOGNIZER_CONFIG.maxPixels,
  name = describe(input),
): Promise<RgbImage> {
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) return rawToRgb(input, maxPixels);
  if (typeof input === 'string') {
    const info = await stat(input).catch(() => undefined);
    if (!info) throw new ImageError(`${name}: no such file`);
    if (!info.isFile()) throw new ImageError(`${name}: not a file`);
    if (info.size === 0) throw new ImageError(`${name}: file is empty`);
  } else if (input.length === 0) {
    throw new ImageError(`${name}: empty`);
  }
  let meta: Metadata;
  try {
    // Only the header is read; without lifting sharp's own limit (268 megapixels) a larger image would fail here as
    // "not an image" instead of meeting the pixel limit below.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    throw new ImageError(`${name}: not an image, or a format mien cannot read`);
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > maxPixels) {
    throw new PixelLimitError(
      `${name}: ${(pixels / 1e6).toFixed(1)} megapixels is over the ${+(maxPixels / 1e6).toFixed(1)} megapixel limit`,
    );
  }
  try {
    const { data, info } = await sharp(input, { limitInputPixels: maxPixels })
      .rotate()
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    throw new ImageError(`${name}: cannot decode (${(err as Error).message.split('\n')[0]})`);
  }
}
