/**
 * Image-folder datasets: `<root>/<class>/*.jpg`, or `<root>/<split>/<class>/*.jpg` with split folders such as
 * train/ and val/. Loading is two steps so the cache can sit between them: `scanFolder` lists the tree (cheap, and
 * its listing keys the cache) and `decodeFolder` decodes every image (the slow part a cache hit skips).
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EXPRESSIONS, FACE_PIXELS } from '../core/labels.js';
import type { FaceDataset } from './dataset.js';
import { decodeFaceImage } from './image.js';
import { CLASS_NAME_HINT, parseClassName, parseSplitName } from './names.js';
import { fsErrorText } from '../core/fs-error-text.js';
import { DataError, type DataProblem, type ProblemLog } from './problems.js';

interface ImageFile {
  path: string;
  label: number;
  size: number;
}

export interface FolderScan {
  /** Candidate image files per split, in a stable order (class id, then path). */
  splits: Map<string, ImageFile[]>;
  /**
   * Folders and files the layout itself rules out (unknown class names, loose files, unreadable folders, broken
   * links), and warnings about empty class folders, in listing order.
   */
  problems: DataProblem[];
  /** One line per file with its size and mtime, plus the problems: whatever changes the load changes this. */
  signature: string[];
}

/**
 * Files no one means as data: hidden files (.DS_Store, macOS `._*` forks, .gitkeep) and Windows' thumbnail and
 * folder-settings files. Reporting them as bad images would only be noise.
 */
const isSystemFile = (name: string): boolean => name.startsWith('.') || /^(thumbs\.db|desktop\.ini)$/i.test(name);

/** Lists the tree under `root`; a root without class folders (at the top or in each split folder) is a DataError. */
export async function scanFolder(root: string): Promise<FolderScan> {
  const scan: FolderScan = { splits: new Map(), problems: [], signature: [] };
  const top = await listFolder(root);
  top.problems.forEach((p) => skip(scan, p.where, p.message));
  if (!top.dirs.some((name) => parseSplitName(name))) {
    await scanClassFolders(root, 'all', top, scan, ' or split folders named train, val, test');
  } else {
    for (const name of top.dirs) {
      const split = parseSplitName(name);
      if (split) {
        const listing = await listFolder(join(root, name));
        listing.problems.forEach((p) => skip(scan, p.where, p.message));
        await scanClassFolders(join(root, name), split, listing, scan, '');
      } else if (parseClassName(name) !== undefined) skip(scan, join(root, name), 'class folder beside split folders, skipped');
      else skip(scan, join(root, name), `unknown folder ${JSON.stringify(name)} (expected split folders train, val, test), skipped`);
    }
    for (const name of top.files) skip(scan, join(root, name), 'not inside a class folder, skipped');
  }
  for (const files of scan.splits.values()) files.sort((a, b) => a.label - b.label || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return scan;
}

async function scanClassFolders(dir: string, split: string, listing: Listing, scan: FolderScan, otherwise: string): Promise<void> {
  if (!listing.dirs.some((name) => parseClassName(name) !== undefined)) {
    throw new DataError(`${dir} has no class folders (expected sub-folders named ${CLASS_NAME_HINT}${otherwise})`);
  }
  const files = scan.splits.get(split) ?? [];
  scan.splits.set(split, files);
  // Shared by the split's class folders: two class folders linking to one folder would label its images twice.
  const seen = new Map<string, string>();
  const empty: Array<{ path: string; label: number }> = [];
  for (const name of listing.dirs) {
    const label = parseClassName(name);
    if (label === undefined) {
      skip(scan, join(dir, name), `unknown class folder ${JSON.stringify(name)} (expected ${CLASS_NAME_HINT}), skipped`);
      continue;
    }
    const [filesBefore, problemsBefore] = [files.length, scan.problems.length];
    await collectImages(join(dir, name), label, files, scan, seen);
    // a folder whose only entries were skipped is reported already, not as empty
    if (files.length === filesBefore && scan.problems.length === problemsBefore) empty.push({ path: join(dir, name), label });
  }
  // Not an error: a class can be missing from a split. But a user who thinks it is there should hear otherwise.
  for (const { path, label } of empty) {
    const missing = !files.some((f) => f.label === label);
    warn(scan, path, `empty class folder${missing ? `, so ${splitPhrase(split)} has no ${EXPRESSIONS[label]} faces` : ''}`);
  }
  for (const name of listing.files) skip(scan, join(dir, name), 'not inside a class folder, skipped');
}

const splitPhrase = (split: string): string => (split === 'all' ? 'the data' : `the ${split} split`);

/** Every file under a class folder, nested folders included (some datasets group a class by subject or source). */
async function collectImages(dir: string, label: number, into: ImageFile[], scan: FolderScan, seen: Map<string, string>): Promise<void> {
  const walk = await walkFiles(dir, seen);
  walk.problems.forEach((p) => skip(scan, p.where, p.message));
  const stats = await Promise.all(walk.files.map((path) => stat(path).catch((err: NodeJS.ErrnoException) => err)));
  walk.files.forEach((path, i) => {
    const info = stats[i]!;
    if (info instanceof Error) return skip(scan, path, `cannot read (${fsErrorText(info)}), skipped`);
    into.push({ path, label, size: info.size });
    scan.signature.push(`${path}\t${info.size}\t${info.mtimeMs}`);
  });
}

function skip(scan: FolderScan, where: string, message: string): void {
  scan.problems.push({ where, message });
  scan.signature.push(`skip\t${where}\t${message}`);
}

function warn(scan: FolderScan, where: string, message: string): void {
  scan.problems.push({ where, message, warning: true });
  scan.signature.push(`warn\t${where}\t${message}`);
}

interface Listing {
  dirs: string[];
  files: string[];
  /** Entries that are neither: links that lead nowhere (broken, or a loop of links). */
  problems: DataProblem[];
}

/**
 * The visible entries of a folder, sorted, split into folders and files. Symbolic links are followed, as users expect
 * of a folder of images (a data set linked together from elsewhere); a link that leads nowhere is a problem.
 */
async function listFolder(dir: string): Promise<Listing> {
  const listing: Listing = { dirs: [], files: [], problems: [] };
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !isSystemFile(e.name));
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (!entry.isSymbolicLink()) {
      (entry.isDirectory() ? listing.dirs : listing.files).push(entry.name);
      continue;
    }
    const target = await stat(join(dir, entry.name)).catch((err: NodeJS.ErrnoException) => err);
    if (target instanceof Error) {
      const why = target.code === 'ENOENT' ? 'broken symbolic link' : `symbolic link that cannot be followed (${fsErrorText(target)})`;
      listing.problems.push({ where: join(dir, entry.name), message: `${why}, skipped` });
    } else (target.isDirectory() ? listing.dirs : listing.files).push(entry.name);
  }
  return listing;
}

/** What walkFiles found: files in listing order (each folder's files, then its sub-folders'), and what it left out. */
export interface FileWalk {
  files: string[];
  problems: DataProblem[];
}

/**
 * Every file under `dir`, recursively, symbolic links followed. Each folder is entered once (`seen` maps a folder's
 * real path to the path it was first reached by), so a link back to a parent ends instead of looping. A folder that
 * cannot be read, a broken link or a folder met again is left out and listed in `problems`, and the walk goes on.
 */
export async function walkFiles(dir: string, seen = new Map<string, string>()): Promise<FileWalk> {
  const walk: FileWalk = { files: [], problems: [] };
  const visit = async (folder: string): Promise<void> => {
    let listing: Listing;
    try {
      const real = await realpath(folder);
      const first = seen.get(real);
      if (first !== undefined) {
        walk.problems.push({ where: folder, message: `same folder as ${first} (a symbolic link loop, or a second link to it), skipped` });
        return;
      }
      seen.set(real, folder);
      listing = await listFolder(folder);
    } catch (err) {
      walk.problems.push({ where: folder, message: `cannot read (${fsErrorText(err as NodeJS.ErrnoException)}), skipped` });
      return;
    }
    walk.problems.push(...listing.problems);
    walk.files.push(...listing.files.map((name) => join(folder, name)));
    for (const name of listing.dirs) await visit(join(folder, name));
  };
  await visit(dir);
  return walk;
}

/** Images decoded at once: enough to keep sharp's threads busy, few enough to bound memory on huge photos. */
const DECODE_CONCURRENCY = 8;

/**
 * Decodes every scanned image into 48×48 gray faces (see decodeFaceImage). Files that are empty, corrupt or not
 * images go to `log` in scan order, whatever order the parallel decodes finish in. `onProgress` counts files.
 */
export async function decodeFolder(
  scan: FolderScan,
  log: ProblemLog,
  onProgress?: (done: number, total: number) => void,
): Promise<Record<string, FaceDataset>> {
  log.replay(scan.problems);
  const jobs = [...scan.splits].flatMap(([split, files]) => files.map((file, index) => ({ split, file, index })));
  const images = new Map([...scan.splits].map(([split, files]) => [split, new Uint8Array(files.length * FACE_PIXELS)]));
  const failed = new Map<number, string>(); // job number → reason
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    // A strict load throws at the first bad file, so there is no point decoding on once one is found.
    while (next < jobs.length && !(log.strict && failed.size > 0)) {
      const job = next++;
      const { split, file, index } = jobs[job]!;
      try {
        if (file.size === 0) failed.set(job, 'empty file (0 bytes)');
        else images.get(split)!.set(await decodeFaceImage(await readImageFile(file.path)), index * FACE_PIXELS);
      } catch (err) {
        failed.set(job, decodeFailure(err));
      }
      onProgress?.(++done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: DECODE_CONCURRENCY }, worker));
  // Jobs start in order and all started ones have finished, so the lowest failed job is the first bad file.
  for (const job of [...failed.keys()].sort((a, b) => a - b)) log.report(jobs[job]!.file.path, failed.get(job)!);

  const splits: Record<string, FaceDataset> = {};
  let job = 0;
  for (const [split, files] of scan.splits) {
    const all = images.get(split)!;
    const kept: ImageFile[] = [];
    files.forEach((file, index) => {
      if (failed.has(job++)) return;
      if (kept.length < index) all.copyWithin(kept.length * FACE_PIXELS, index * FACE_PIXELS, (index + 1) * FACE_PIXELS);
      kept.push(file);
    });
    splits[split] = {
      images: kept.length === files.length ? all : all.slice(0, kept.length * FACE_PIXELS),
      labels: Int8Array.from(kept, (f) => f.label),
      ids: kept.map((f) => f.path),
    };
  }
  return splits;
}

/** Read here, not by sharp: sharp reports a file it may not read as "unsupported image format". */
const readImageFile = (path: string): Promise<Buffer> =>
  readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new DataError(`cannot read (${fsErrorText(err)})`);
  });

/** What to tell the user about an image that could not be decoded; sharp's own wording where it is clear. */
function decodeFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof DataError) return message;
  if (/unsupported image format/i.test(message)) return 'not an image (or a format sharp cannot read)';
  return `cannot decode: ${message.split('\n')[0]}`;
}
