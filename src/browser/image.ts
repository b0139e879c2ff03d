/** What the browser recognizer reads: any image the page has, turned into the RGB pixels the pipeline takes. */
import { ImageError, rawToRgb, type RgbImage } from '../recognize/pixels.js';

/** An image, a playing video's current frame, a canvas, a decoded bitmap or raw ImageData. */
export type BrowserImage = HTMLImageElement | HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | ImageData;

/** The element's size in pixels, as drawn at its natural resolution. */
function naturalSize(input: Exclude<BrowserImage, ImageData>): { width: number; height: number } {
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    return { width: input.naturalWidth, height: input.naturalHeight };
  }
  if (typeof HTMLVideoElement !== 'undefined' && input instanceof HTMLVideoElement) {
    return { width: input.videoWidth, height: input.videoHeight };
  }
  return { width: input.width, height: input.height };
}

/** The image's pixels as RGB; an image not loaded yet (or a video with no frame) is an ImageError. */
export function browserImageToRgb(input: BrowserImage, maxPixels: number): RgbImage {
  // ImageData is the one kind that is pixels already (and the only one with `data`).
  if ('data' in input) {
    return rawToRgb({ data: input.data, width: input.width, height: input.height, channels: 4 }, maxPixels);
  }
  const { width, height } = naturalSize(input);
  if (!(width > 0 && height > 0)) throw new ImageError('the image has no pixels yet: wait for it to load (or the video to play)');
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new ImageError('this browser gives no 2D canvas to read the image with');
  ctx.drawImage(input, 0, 0, width, height);
  return rawToRgb({ data: ctx.getImageData(0, 0, width, height).data, width, height, channels: 4 }, maxPixels);
}
