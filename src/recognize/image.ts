import { stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';

/** An upright RGB image, 3 bytes per pixel, row-major: what the detectors and the face crop read. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Raw pixels handed in directly (a canvas, a video frame): gray, RGB or RGBA. */
export interface RawPixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels?: 1 | 3 | 4;
}

export type ImageInput = string | Buffer | RawPixels;

/** An input that is not a usable image: the message names it and says what is wrong, in one line. */
export class ImageError extends Error {
  override name = 'ImageError';
}

/** Default cap on decoded size: a 50-megapixel photo is ~150 MB of RGB, beyond that we refuse before decoding. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

const describe = (input: ImageInput): string => (typeof input === 'string' ? input : Buffer.isBuffer(input) ? 'image buffer' : 'raw pixels');

/**
 * Decodes a file, an encoded buffer or raw pixels into an upright RGB image: EXIF orientation applied, alpha
 * flattened onto black, gray/CMYK/16-bit converted to 8-bit sRGB. The pixel limit is checked from the header, before
 * any pixel is decoded.
 */
export async function decodeImage(input: ImageInput, maxPixels = DEFAULT_MAX_PIXELS): Promise<RgbImage> {
  const name = describe(input);
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
    meta = await sharp(input).metadata();
  } catch {
    throw new ImageError(`${name}: not an image, or a format mien cannot read`);
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > maxPixels) {
    throw new ImageError(`${name}: ${(pixels / 1e6).toFixed(1)} megapixels is over the ${(maxPixels / 1e6).toFixed(0)} megapixel limit`);
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

function rawToRgb(raw: RawPixels, maxPixels: number): RgbImage {
  const { width, height } = raw;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageError(`raw pixels: width and height must be positive integers, got ${width}×${height}`);
  }
  if (width * height > maxPixels) throw new ImageError(`raw pixels: ${width}×${height} is over the pixel limit`);
  const channels = raw.channels ?? raw.data.length / (width * height);
  if (![1, 3, 4].includes(channels) || raw.data.length !== width * height * channels) {
    throw new ImageError(`raw pixels: ${raw.data.length} bytes do not make a ${width}×${height} image of 1, 3 or 4 channels`);
  }
  if (channels === 3) return { data: new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength), width, height };
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    if (channels === 1) {
      data[j] = data[j + 1] = data[j + 2] = raw.data[i]!;
    } else {
      // RGBA over black, as decodeImage flattens encoded images
      const a = raw.data[i * 4 + 3]! / 255;
      data[j] = raw.data[i * 4]! * a;
      data[j + 1] = raw.data[i * 4 + 1]! * a;
      data[j + 2] = raw.data[i * 4 + 2]! * a;
    }
  }
  return { data, width, height };
}
