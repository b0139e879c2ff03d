import sharp from 'sharp';
import { FACE_SIZE } from '../core/labels.js';
import { resizeArea } from './resize.js';

/**
 * Decodes any image sharp reads (JPEG, PNG, WebP, GIF, TIFF, AVIF/HEIF, SVG, …) into a 48×48 gray face, 0–255,
 * row-major: EXIF orientation applied, transparency flattened onto black, then an area-averaging resize (a
 * non-square image is stretched, as `cv2.resize(img, (48, 48))` does in the usual FER pipelines).
 *
 * Black, because OpenCV's grayscale read (what most FER training code uses) drops alpha and keeps the colour
 * underneath, and fully transparent pixels are almost always stored as black: flattening onto black makes a
 * transparent PNG look the same to mien as it does to those models.
 *
 * Throws sharp's error for an unreadable, corrupt or non-image input.
 */
export async function decodeFaceImage(input: string | Buffer): Promise<Uint8Array> {
  const { data, info } = await sharp(input)
    .rotate()
    .flatten({ background: '#000000' })
    .grayscale()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  // flatten + grayscale always leave one 8-bit channel, whatever the input's channels, depth or colour space.
  return resizeArea(data, info.width, info.height, FACE_SIZE, FACE_SIZE);
}
