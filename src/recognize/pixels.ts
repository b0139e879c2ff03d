/**
 * Images as pixels, with no decoder: what the detectors and the face crop read, and the conversion of raw pixels (a
 * canvas, a video frame) into it. It uses no Node module, so the web app shares it.
 */
import { MienError } from '../core/errors.js';

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

/** An input that is not a usable image: the message names it and says what is wrong, in one line. */
export class ImageError extends MienError {
  override name = 'ImageError';
  override readonly code: string = 'bad_image';
}

/** An image over the pixel limit, found from its header (or raw size) before any pixel is decoded. */
export class PixelLimitError extends ImageError {
  override name = 'PixelLimitError';
  override readonly status = 413;
  override readonly code = 'too_many_pixels';
}

/** Gray, RGB or RGBA pixels as an RGB image, after checking that the sizes add up and are within `maxPixels`. */
export function rawToRgb(raw: RawPixels, maxPixels: number): RgbImage {
  const { width, height } = raw;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageError(`raw pixels: width and height must be positive integers, got ${width}×${height}`);
  }
  if (width * height > maxPixels) throw new PixelLimitError(`raw pixels: ${width}×${height} is over the pixel limit`);
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
