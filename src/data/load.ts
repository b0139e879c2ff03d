import { stat } from 'node:fs/promises';
import { cacheFile, cacheKey, readCache, writeCache } from './cache.js';
import { loadCsv, type CsvFormat } from './csv.js';
import type { FaceDataset } from './dataset.js';
import { decodeFolder, scanFolder } from './folder.js';
import { DataError, ProblemLog, type DataProblem } from './problems.js';

export type SourceFormat = CsvFormat | 'folder';

export interface LoadedFaces {
  format: SourceFormat;
  /**
   * The source's splits: `train`/`val`/`test` from a Usage column or split folders, else one split `all`.
   * A split exists only if the source names it (a CSV split appears only once it has a good row).
   */
  splits: Record<string, FaceDataset>;
  /**
   * Everything skipped, in source order, and warnings (`warning: true`: empty class folders) that skip nothing. A
   * strict load throws at what it would skip, so it returns only warnings.
   */
  problems: DataProblem[];
  fromCache: boolean;
}

export interface LoadOptions {
  /** Throw a DataError at the first bad row or file instead of skipping it. */
  strict?: boolean;
  /** Use and fill the binary cache in $MIEN_CACHE_DIR (default ~/.cache/mien). Default true. */
  cache?: boolean;
  /** Called as loading advances: bytes for a CSV, files for an image folder. Not called on a cache hit. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Loads faces from a FER2013-style CSV or an image folder (see csv.ts and folder.ts for the accepted layouts).
 * A missing source, an empty CSV, a CSV without pixels or a folder without class folders is a DataError; bad rows
 * and images are skipped and listed in `problems` (or thrown with `strict`).
 *
 * @example
 * ```ts
 * import { loadFaces } from 'mien-fer';
 * const { format, splits, problems } = await loadFaces('../shared/data/fer2013'); // train/ and val/ class folders
 * console.log(format, splits.train.labels.length, splits.val.labels.length, problems.length); // folder 28709 3589 0
 * ```
 */
export async function loadFaces(source: string, options: LoadOptions = {}): Promise<LoadedFaces> {
  const { strict = false, cache = true, onProgress } = options;
  const info = await stat(source).catch((err: NodeJS.ErrnoException) => {
    throw new DataError(
      err.code === 'ENOENT' ? `${source}: no such file or folder` : `${source}: cannot read (${err.code ?? err.message})`,
    );
  });
  const log = new ProblemLog(strict);
  let signature: string[];
  let load: () => Promise<{ format: SourceFormat; splits: Record<string, FaceDataset> }>;
  if (info.isDirectory()) {
    const scan = await scanFolder(source);
    signature = ['folder', ...scan.signature];
    load = async () => ({ format: 'folder', splits: await decodeFolder(scan, log, onProgress) });
  } else {
    signature = ['csv', `${info.size}\t${info.mtimeMs}`];
    load = () => loadCsv(source, info.size, log, onProgress);
  }

  const file = cache ? cacheFile(source) : undefined;
  const key = cacheKey(signature);
  const cached = file && (await readCache(file, key));
  if (cached) {
    log.replay(cached.problems);
    return { format: cached.format as SourceFormat, splits: cached.splits, problems: log.problems, fromCache: true };
  }
  const { format, splits } = await load();
  if (file) await writeCache(file, key, { format, splits, problems: log.problems });
  return { format, splits, problems: log.problems, fromCache: false };
}
