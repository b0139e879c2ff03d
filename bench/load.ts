/**
 * How long loading a face dataset takes, first from the source (a fresh, empty cache) and then from mien's binary
 * cache, in one process.
 *
 *   npm run bench:load -- [../shared/data/fer2013]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasetSize, loadFaces } from '../src/data/index.js';

const source = process.argv[2] ?? '../shared/data/fer2013';
const cache = mkdtempSync(join(tmpdir(), 'mien-cache-'));
process.env['MIEN_CACHE_DIR'] = cache;
try {
  for (const label of ['first load', 'cached reload']) {
    const started = performance.now();
    const loaded = await loadFaces(source);
    const seconds = (performance.now() - started) / 1000;
    const sizes = Object.entries(loaded.splits)
      .map(([name, d]) => `${name} ${datasetSize(d)}`)
      .join(', ');
    console.log(`${label}: ${seconds.toFixed(2)} s (${sizes}; from cache: ${loaded.fromCache}; problems: ${loaded.problems.length})`);
  }
} finally {
  rmSync(cache, { recursive: true, force: true });
}
