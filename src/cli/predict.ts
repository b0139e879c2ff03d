import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { EXPRESSIONS } from '../core/labels.js';
import { annotateImage } from '../recognize/annotate.js';
import { faceRecord } from '../core/face-record.js';
import { DEFAULT_RECOGNIZER_CONFIG } from '../recognize/config.js';
import { decodeImage } from '../recognize/image.js';
import { createRecognizer, type RecognizedFace } from '../recognize/recognizer.js';
import { UsageError } from './errors.js';
import { float } from './parse.js';
import { addRecognizerOptions, recognizerOptions, type RecognizerFlags } from './recognizer-options.js';

/** Extensions a folder is searched for; a file named on the command line is tried whatever its name. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.bmp']);

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

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
}

/** Files, folders (searched for images, recursively) and quoted globs, in the order given. */
export async function expandInputs(args: string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  for (const arg of args) {
    if (/[*?]/.test(arg)) {
      const firstWild = arg.search(/[*?]/);
      const base = arg.lastIndexOf('/', firstWild) >= 0 ? arg.slice(0, arg.lastIndexOf('/', firstWild)) || '/' : '.';
      const re = globToRegExp(resolve(arg));
      const matched = (await listFiles(base).catch(() => [])).filter((f) => re.test(resolve(f)));
      if (matched.length === 0) missing.push(arg);
      files.push(...matched);
      continue;
    }
    const info = await stat(arg).catch(() => undefined);
    if (!info) missing.push(arg);
    else if (info.isDirectory()) files.push(...(await listFiles(arg)).filter(isImageName));
    else files.push(arg);
  }
  return { files, missing };
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
  maxPixels: number;
}

export const predictCommand = addRecognizerOptions(
  new Command('predict')
    .description('find every face in photos and name its expression')
    .argument('<inputs...>', 'image files, folders (searched recursively) or quoted globs')
    .option('--json', 'one JSON line per image: {file, width, height, faces: [...]}')
    .option('--annotate <dir>', 'write each image with its faces drawn into this folder'),
)
  .option('--max-pixels <n>', 'refuse images larger than this many pixels', float, DEFAULT_RECOGNIZER_CONFIG.maxPixels)
  .action(async (inputs: string[], flags: PredictFlags) => {
    const { files, missing } = await expandInputs(inputs);
    for (const m of missing) process.stderr.write(`mien: ${m}: no such file or folder, or no match\n`);
    if (files.length === 0) throw new UsageError('no images to read');
    const recognizer = await createRecognizer({ ...recognizerOptions(flags), maxPixels: flags.maxPixels });
    if (flags.annotate) await mkdir(flags.annotate, { recursive: true });
    const annotatedNames = new Set<string>();
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
    for (const [i, file] of files.entries()) {
      try {
        const image = await decodeImage(file, flags.maxPixels);
        const faces = await recognizer.recognizeImage(image);
        const out = flags.json
          ? JSON.stringify({ file, width: image.width, height: image.height, faces: faces.map(faceRecord) })
          : tableLines(file, faces).join('\n');
        process.stdout.write(`${out}\n`);
        if (flags.annotate) {
          // photos from different folders may share a name: number the later ones rather than overwrite
          const stem = basename(file, extname(file));
          let name = `${stem}.jpg`;
          for (let n = 2; annotatedNames.has(name); n++) name = `${stem}-${n}.jpg`;
          annotatedNames.add(name);
          await annotateImage(image, faces, join(flags.annotate, name));
        }
      } catch (err) {
        failed++;
        process.stderr.write(`mien: ${(err as Error).message}\n`);
      }
      bar?.update(i + 1, { fps: ((i + 1) / ((performance.now() - started) / 1000)).toFixed(1) });
    }
    bar?.stop();
    if (failed === files.length) {
      process.stderr.write(`mien: every input failed (${failed})\n`);
      process.exitCode = 1;
    }
  });
