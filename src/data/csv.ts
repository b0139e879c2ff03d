/**
 * Streaming reader for the FER2013 CSV family: Kaggle's fer2013.csv (`emotion,pixels,Usage`), the challenge's
 * train.csv (`emotion,pixels`) and test.csv (`pixels`, maybe `id`). The real file is ~290 MB, so it is read line by
 * line and each pixels field is parsed straight into bytes, never split into 2304 strings.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { FACE_PIXELS, NUM_CLASSES } from '../core/labels.js';
import type { FaceDataset } from './dataset.js';
import { parseSplitName } from './names.js';
import { DataError, type ProblemLog } from './problems.js';

export type CsvFormat = 'fer2013-csv' | 'kaggle-train-csv' | 'kaggle-test-csv';

export interface CsvFaces {
  format: CsvFormat;
  splits: Record<string, FaceDataset>;
}

/** Where each known column sits in a row; extra columns (pandas' `Unnamed: 0`, …) are ignored. */
interface Columns {
  count: number;
  pixels: number;
  emotion?: number;
  usage?: number;
  id?: number;
}

const COLUMN_NAMES: Record<string, keyof Omit<Columns, 'count'>> = {
  pixels: 'pixels',
  pixel: 'pixels',
  emotion: 'emotion',
  label: 'emotion',
  usage: 'usage',
  id: 'id',
};

/** Rows between progress reports: often enough for a smooth bar, rare enough to cost nothing. */
const PROGRESS_EVERY = 256;

/**
 * Reads the CSV at `path` (of `size` bytes). Bad rows go to `log`; a file that is empty, has no `pixels` column or
 * no rows at all is a DataError. Faces without a label (test.csv) get label -1; ids are the `id` column, or else the
 * 0-based data row number (pandas' index, what Kaggle submissions use), so ids stay stable when rows are skipped.
 * `onProgress` counts bytes.
 */
export async function loadCsv(
  path: string,
  size: number,
  log: ProblemLog,
  onProgress?: (done: number, total: number) => void,
): Promise<CsvFaces> {
  if (size === 0) throw new DataError(`${path} is empty`);
  const input = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const builders = new Map<string, SplitBuilder>();
  const pixels = new Uint8Array(FACE_PIXELS);
  let columns: Columns | undefined;
  let format: CsvFormat = 'kaggle-test-csv';
  let lineNumber = 0;
  let rowNumber = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber++;
      if (line.trim() === '') continue;
      if (!columns) {
        columns = parseHeader(line.replace(/^\uFEFF/, ''), path);
        format = columns.emotion === undefined ? 'kaggle-test-csv' : columns.usage === undefined ? 'kaggle-train-csv' : 'fer2013-csv';
        continue;
      }
      const rowId = String(rowNumber++);
      if (rowNumber % PROGRESS_EVERY === 0) onProgress?.(input.bytesRead, size);
      const where = `${path}:${lineNumber}`;
      const fields = splitCsvLine(line);
      if (!fields) {
        log.report(where, 'unterminated quoted field');
        continue;
      }
      if (fields.length !== columns.count) {
        log.report(where, `${fields.length} fields, expected ${columns.count}`);
        continue;
      }
      let label = -1;
      if (columns.emotion !== undefined) {
        const text = fields[columns.emotion]!.trim();
        label = /^\d+$/.test(text) ? Number(text) : NaN;
        if (!(label < NUM_CLASSES)) {
          log.report(where, `label ${JSON.stringify(text)} outside 0–${NUM_CLASSES - 1}`);
          continue;
        }
      }
      let split = 'all';
      if (format === 'fer2013-csv') {
        const usage = fields[columns.usage!]!.trim();
        const name = parseSplitName(usage);
        if (!name) {
          log.report(where, `unknown Usage ${JSON.stringify(usage)} (expected Training, PublicTest or PrivateTest)`);
          continue;
        }
        split = name;
      }
      const pixelError = parsePixels(fields[columns.pixels]!, pixels);
      if (pixelError) {
        log.report(where, pixelError);
        continue;
      }
      const id = columns.id === undefined ? rowId : fields[columns.id]!.trim() || rowId;
      let builder = builders.get(split);
      if (!builder) builders.set(split, (builder = new SplitBuilder()));
      builder.add(pixels, label, id);
    }
  } finally {
    input.destroy();
  }
  if (!columns) throw new DataError(`${path} is empty`);
  if (rowNumber === 0) throw new DataError(`${path} has a header but no rows`);
  onProgress?.(size, size);
  return { format, splits: Object.fromEntries([...builders].map(([name, b]) => [name, b.build()])) };
}

function parseHeader(line: string, path: string): Columns {
  const names = splitCsvLine(line) ?? line.split(',');
  const columns: Partial<Columns> = { count: names.length };
  names.forEach((name, index) => {
    const column = COLUMN_NAMES[name.trim().toLowerCase()];
    if (column && columns[column] === undefined) columns[column] = index;
  });
  if (columns.pixels === undefined) {
    const start = line.length > 60 ? `${line.slice(0, 60)}…` : line;
    throw new DataError(`${path} is not a FER2013 CSV: no "pixels" column in its header ${JSON.stringify(start)}`);
  }
  return columns as Columns;
}

/**
 * Splits one CSV line into fields (RFC 4180 quoting, `""` inside quotes, spaces allowed before an opening quote).
 * Undefined for an unterminated quote: FER2013 fields never span lines, so that is a damaged row.
 */
function splitCsvLine(line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(',');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    let start = i;
    while (line[start] === ' ') start++;
    if (line[start] === '"') {
      i = start + 1;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote < 0) return undefined;
        field += line.slice(i, quote);
        i = quote + 1;
        if (line[i] !== '"') break;
        field += '"';
        i++;
      }
    }
    const comma = line.indexOf(',', i);
    field += line.slice(i, comma < 0 ? undefined : comma);
    fields.push(field);
    if (comma < 0) return fields;
    i = comma + 1;
  }
}

/**
 * Parses 2304 whitespace-separated integers 0–255 into `out`. Returns undefined on success, or the reason the field
 * is bad. Works on char codes: this loop sees every byte of the file.
 */
function parsePixels(text: string, out: Uint8Array): string | undefined {
  let count = 0;
  let value = -1; // -1: between numbers
  for (let i = 0, n = text.length; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32;
    if (c >= 48 && c <= 57) {
      value = value < 0 ? c - 48 : value * 10 + (c - 48);
    } else if (c === 32 || c === 9) {
      if (value < 0) continue;
      if (value > 255) return `pixel ${count + 1} is ${value}, outside 0–255`;
      if (count < FACE_PIXELS) out[count] = value;
      count++;
      value = -1;
    } else {
      return badPixel(text, i, count + 1);
    }
  }
  return count === FACE_PIXELS ? undefined : `${count} pixels, expected ${FACE_PIXELS}`;
}

/** The message for the token around text[i], pixel number `position`, which is not a plain integer. */
function badPixel(text: string, i: number, position: number): string {
  const isSpace = (k: number) => text[k] === ' ' || text[k] === '\t';
  let start = i;
  while (start > 0 && !isSpace(start - 1)) start--;
  let end = i;
  while (end < text.length && !isSpace(end)) end++;
  const token = text.slice(start, end);
  const value = Number(token);
  if (!Number.isFinite(value)) return `pixel ${position} is ${JSON.stringify(token)}, not a number`;
  if (Number.isInteger(value) && (value < 0 || value > 255)) return `pixel ${position} is ${token}, outside 0–255`;
  return `pixel ${position} is ${token}, not an integer 0–255`;
}

/** One split's faces as they stream in; the image buffer doubles as needed (the row count is unknown up front). */
class SplitBuilder {
  private images = new Uint8Array(1024 * FACE_PIXELS);
  private readonly labels: number[] = [];
  private readonly ids: string[] = [];

  add(face: Uint8Array, label: number, id: string): void {
    const offset = this.labels.length * FACE_PIXELS;
    if (offset + FACE_PIXELS > this.images.length) {
      const grown = new Uint8Array(this.images.length * 2);
      grown.set(this.images);
      this.images = grown;
    }
    this.images.set(face, offset);
    this.labels.push(label);
    this.ids.push(id);
  }

  build(): FaceDataset {
    return { images: this.images.slice(0, this.labels.length * FACE_PIXELS), labels: Int8Array.from(this.labels), ids: this.ids };
  }
}
