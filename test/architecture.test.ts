/**
 * The layering of src/ (docs/architecture.md): each folder is a layer, and a layer imports only the layers below it.
 * The imports are read with TypeScript's own pre-processor, so type-only, re-exports and dynamic import() count too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The layers, bottom first. A folder may import the folders before it in this list, and no others. */
const LAYERS = [
  'core',
  'data',
  'models',
  'train',
  'export',
  'plot',
  'detect',
  'recognize',
  'eval',
  'video',
  'browser',
  'server',
  'webapp',
  'cli',
];
/** The package's entry point: it re-exports every stage, so it may import everything (and nothing imports it). */
const ENTRY = 'index.ts';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

interface Import {
  /** The importing file, relative to src/. */
  from: string;
  /** The imported file, relative to src/ (starts with `..` when outside it). */
  to: string;
  /** As written in the import. */
  specifier: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import of every .ts file under src/. */
function relativeImports(): Import[] {
  return sourceFiles(SRC).flatMap((file) =>
    ts
      .preProcessFile(readFileSync(file, 'utf8'), true, true)
      .importedFiles.map((f) => f.fileName)
      .filter((specifier) => specifier.startsWith('./') || specifier.startsWith('../'))
      .map((specifier) => ({
        from: relative(SRC, file),
        to: relative(SRC, resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))),
        specifier,
      })),
  );
}

/** The layer a path relative to src/ belongs to: its first folder; the entry point and files outside src/ have none. */
const layerOf = (path: string): string | undefined => (path.includes(sep) && !path.startsWith('..') ? path.split(sep)[0] : undefined);

const imports = relativeImports();
const show = (i: Import) => `src/${i.from} imports ${i.specifier}`;

test('every file under src/ is in a layer, or is the entry point', () => {
  const strays = sourceFiles(SRC)
    .map((file) => relative(SRC, file))
    .filter((path) => path !== ENTRY && !LAYERS.includes(layerOf(path) ?? ''));
  assert.deepEqual(
    strays,
    [],
    `files outside the layers ${LAYERS.join(', ')}: add their folder to LAYERS here and to docs/architecture.md`,
  );
});

test('nothing imports from outside src/', () => {
  assert.deepEqual(imports.filter((i) => i.to.startsWith('..')).map(show), []);
});

test('src/core imports nothing of mien outside src/core', () => {
  const outside = imports.filter((i) => layerOf(i.from) === 'core' && layerOf(i.to) !== 'core');
  assert.deepEqual(outside.map(show), []);
});

test(`no import runs up the layers (${LAYERS.join(' → ')})`, () => {
  const upward = imports.filter((i) => {
    const from = layerOf(i.from);
    if (from === undefined) return false; // the entry point
    const to = layerOf(i.to);
    return to === undefined || LAYERS.indexOf(to) > LAYERS.indexOf(from);
  });
  assert.deepEqual(upward.map(show), []);
});

test('no import cycles between folders', () => {
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    const [from, to] = [layerOf(i.from), layerOf(i.to)];
    if (from === undefined || to === undefined || from === to) continue;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from)!.add(to);
  }
  const cycles: string[] = [];
  const done = new Set<string>();
  const visit = (folder: string, path: string[]) => {
    if (path.includes(folder)) {
      cycles.push([...path.slice(path.indexOf(folder)), folder].join(' → '));
      return;
    }
    if (done.has(folder)) return;
    for (const next of edges.get(folder) ?? []) visit(next, [...path, folder]);
    done.add(folder);
  };
  for (const folder of edges.keys()) visit(folder, []);
  assert.deepEqual(cycles, []);
});

test('every exported error class is a MienError, so the CLI and the server report it as the user should see it', () => {
  // Errors that never leave their module (the server's queue abort reasons) may stay plain; exported ones may not.
  const plain = sourceFiles(SRC).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^export (?:abstract )?class (\w+) extends Error\b/gm)]
      .map((m) => `src/${relative(SRC, file)}: ${m[1]}`)
      .filter((where) => !where.endsWith(': MienError')),
  );
  assert.deepEqual(plain, []);
});
