import { existsSync } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { EXPRESSIONS } from '../core/labels.js';
import { annotateImage } from '../recognize/annotate.js';
import { faceRecord } from '../core/face-record.js';
import { walkFiles } from '../data/folder.js';
import { fsErrorText } from '../core/fs-error-text.js';
import { problemText } from '../data/problems.js';
import { DEFAULT_RECOGNIZER_CONFIG } from '../recognize/config.js';
import { decodeImage, IMAGE_EXTENSIONS, ImageError } from '../recognize/image.js';
import { createRecognizer, type RecognizedFace } from '../recognize/recognizer.js';
import { UsageError } from './errors.js';
import { assertStdinPiped, outputFolder, readStdin, STDIO } from './output.js';
import { positiveFloat } from './parse.js';
import { addRecognizerOptions, recognizerOptions, type RecognizerFlags } from './recognizer-options.js';

/** A folder is searched for the formats sharp can decode; a file named on the command line is tried whatever its name. */
const isImageName = (path: string): boolean => IMAGE_EXTENSIONS.has(extname(path).toLowerCase());

/** `*`, `?` and `**` in a quoted pattern (the shell expands unquoted ones before mien sees them). */
function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * The files under `dir`, sorted, found the way a data folder's are (symbolic links followed, each folder once), and
 * what could not be searched (an unreadable folder, a broken link) as inputs that failed, so the batch goes on.
 */
async function listFiles(dir: string, keep: (file: string) => boolean): Promise<PredictInput[]> {
  const walk = await walkFiles(dir);
  return [
    ...walk.problems.map((p) => ({ file: p.where, error: problemText(p) })),
    ...walk.files
      .filter(keep)
      .sort()
      .map((file) => ({ file })),
  ];
}

/** One input in command-line order: a file to read (`-` = stdin), or one that cannot be read and why. */
export interface PredictInput {
  file: string;
  /** The one line to report in its place: an argument that matched nothing, a folder that cannot be read. */
  error?: string;
}

const missingMessage = (arg: string) => `${arg}: no such file or folder, or no match`;

/** Files, folders (searched for images, recursively), quoted globs and `-` (stdin), in the order given. */
export async function expandInputs(args: string[]): Promise<PredictInput[]> {
  const inputs: PredictInput[] = [];
  for (const arg of args) {
    if (arg === STDIO) {
      inputs.push({ file: arg });
      continue;
    }
    if (/[*?]/.test(arg)) {
      const firstWild = arg.search(/[*?]/);
      const base = arg.lastIndexOf('/', firstWild) >= 0 ? arg.slice(0, arg.lastIndexOf('/', firstWild)) || '/' : '.';
      const re = globToRegExp(resolve(arg));
      // A pattern under a folder that is not there matches nothing; that is all there is to say about it.
      const baseIsFolder = (await stat(base).catch(() => undefined))?.isDirectory();
      const listed = baseIsFolder ? await listFiles(base, (f) => re.test(resolve(f))) : [];
      if (!listed.some((e) => !e.error)) inputs.push({ file: arg, error: missingMessage(arg) });
      inputs.push(...listed);
      continue;
    }
    const info = await stat(arg).catch(() => undefined);
    if (!info) inputs.push({ file: arg, error: missingMessage(arg) });
    else if (info.isDirectory()) inputs.push(...(await listFiles(arg, isImageName)));
    else inputs.push({ file: arg });
  }
  return inputs;
}

/**
 * decodeImage hears from sharp only that a file could not be read, which it must report as "not an image"; a file
 * the user may not read should say so instead. A missing file is left to decodeImage, which says "no such file".
 */
async function assertReadable(file: string): Promise<void> {
  // access, not open: opening a named pipe would wait for a writer, where decodeImage says "not a file".
  await access(file, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new ImageError(`${file}: ${fsErrorText(err)}`);
  });
}

/**
 * Where each file's annotated copy goes: `<dir>/<name>.jpg`, numbered when photos from different folders share a name
 * (stdin is `stdin.jpg`). A file already there is a usage error before any work: mien never overwrites one.
 */
function annotatedPaths(files: readonly string[], dir: string): string[] {
  const taken = new Set<string>();
  return files.map((file) => {
    const stem = file === STDIO ? 'stdin' : basename(file, extname(file));
    let name = `${stem}.jpg`;
    for (let n = 2; taken.has(name); n++) name = `${stem}-${n}.jpg`;
    taken.add(name);
    const path = join(dir, name);
    if (existsSync(path)) {
      throw new UsageError(
        `--annotate ${dir}: ${path} already exists, and mien does not overwrite files; remove it or choose another folder`,
      );
    }
    return path;
  });
}

function tableLines(file: string, faces: RecognizedFace[]): string[] {
  if (faces.length === 0) return [`${file}  no face found`];
  return faces.map((f, i) => {
    const runnerUp = EXPRESSIONS.filter((e) => e !== f.expression).sort((a, b) => f.probabilities[b] - f.probabilities[a])[0]!;
    const box = `${Math.round(f.box.x)},${Math.round(f.box.y)} ${Math.round(f.box.width)}×${Math.round(f.box.height)}`;
    return `${file}  face ${i + 1}/${faces.length}  ${box.padEnd(18)}  ${f.expression.padEnd(8)} ${(100 * f.probabilities[f.expression]).toFixed(1).padStart(5)}%   (then ${runnerUp} ${(100 * f.probabilities[runnerUp]).toFixed(1)}%)`;
  });
}

interface PredictFlags extends RecognizerFlags {
  json?: boolean;
  annotate?: string;
  panels: boolean;
  maxPixels: number;
}

export const predictCommand = addRecognizerOptions(
  new Command('predict')
    .description('find every face in photos and name its expression')
    .argument(
      '<inputs...>',
      `image files, folders (searched recursively for ${[...IMAGE_EXTENSIONS].join(' ')}), quoted globs, or - for one image on stdin`,
    )
    .option(
      '--json',
      'one JSON line per image on stdout, in input order: {file, width, height, faces: [...]}, or {file, error} for one that could not be read (also reported on stderr)',
    )
    .option(
      '--annotate <dir>',
      'write each image with its faces drawn into this folder as <name>.jpg (never overwriting a file); each path written is printed on stderr',
    )
    .option('--no-panels', 'annotated images: leave out the panel of probability bars beside each face'),
)
  .option('--max-pixels <n>', 'refuse images larger than this many pixels', positiveFloat, DEFAULT_RECOGNIZER_CONFIG.maxPixels)
  .action(async (inputs: string[], flags: PredictFlags) => {
    const options = recognizerOptions(flags, { maxPixels: flags.maxPixels });
    if (inputs.filter((i) => i === STDIO).length > 1) throw new UsageError('- (stdin) can be given only once');
    if (inputs.includes(STDIO)) assertStdinPiped();
    const entries = await expandInputs(inputs);
    /** An input that failed: on stderr, and in --json mode also as a {file, error} line in its place on stdout. */
    const reportFailure = (file: string, message: string) => {
      process.stderr.write(`mien: ${message}\n`);
      if (flags.json) process.stdout.write(`${JSON.stringify({ file, error: message })}\n`);
    };
    const files = entries.filter((e) => !e.error).map((e) => e.file);
    if (files.length === 0) {
      for (const e of entries) reportFailure(e.file, e.error!);
      throw new UsageError('no images to read');
    }
    const annotated = flags.annotate === undefined ? undefined : annotatedPaths(files, flags.annotate);
    if (flags.annotate !== undefined) await outputFolder(flags.annotate, '--annotate');
    const recognizer = await createRecognizer(options);
    const bar =
      files.length > 1 && process.stderr.isTTY
        ? new cliProgress.SingleBar(
            {
              format: 'images {bar} {value}/{total}  {fps} img/s  ETA {eta_formatted}',
              stream: process.stderr,
              hideCursor: true,
              clearOnComplete: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
    bar?.start(files.length, 0, { fps: '-' });
    const started = performance.now();
    let failed = 0;
    let done = 0;
    for (const entry of entries) {
      const { file } = entry;
      if (entry.error) {
        reportFailure(file, entry.error);
        continue;
      }
      const i = done++;
      try {
        if (file !== STDIO) await assertReadable(file);
        const image =
          file === STDIO ? await decodeImage(await readStdin(), flags.maxPixels, 'stdin') : await decodeImage(file, flags.maxPixels);
        const faces = await recognizer.recognizeImage(image);
        // annotated first: a file whose annotation fails gets its error line only, never a result line as well
        const path = annotated?.[i];
        if (path) {
          await annotateImage(image, faces, path, { panels: flags.panels });
          process.stderr.write(`wrote ${path}\n`);
        }
        const out = flags.json
          ? JSON.stringify({ file, width: image.width, height: image.height, faces: faces.map(faceRecord) })
          : tableLines(file, faces).join('\n');
        process.stdout.write(`${out}\n`);
      } catch (err) {
        failed++;
        reportFailure(file, (err as Error).message);
      }
      bar?.update(i + 1, { fps: ((i + 1) / ((performance.now() - started) / 1000)).toFixed(1) });
    }
    bar?.stop();
    if (failed === files.length) {
      process.stderr.write(`mien: every input failed (${failed})\n`);
      process.exitCode = 1;
    }
  });
