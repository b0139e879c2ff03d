import { extname } from 'node:path';
import { MienError } from './errors.js';

/** An output picture whose extension is neither .svg nor .png (architecture diagrams, charts). */
export class PictureFormatError extends MienError {}

/** The picture format an output path asks for by its extension; any other extension is a PictureFormatError. */
export function pictureFormat(path: string): 'svg' | 'png' {
  const format = extname(path).toLowerCase();
  if (format === '.svg') return 'svg';
  if (format === '.png') return 'png';
  throw new PictureFormatError(`cannot draw ${path}: the picture must be a .svg or .png file`);
}
