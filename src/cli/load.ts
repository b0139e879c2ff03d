import { loadFaces, summarizeProblems, type LoadedFaces } from '../data/index.js';
import { progressPrinter } from './progress.js';

/** Loads the data and reports skipped rows on stderr, where they never mix with --json or CSV output. */
export async function loadForPrediction(source: string): Promise<LoadedFaces> {
  const loaded = await loadFaces(source, { onProgress: progressPrinter('loading images') });
  const skipped = summarizeProblems(loaded.problems);
  if (skipped) process.stderr.write(`${skipped}\n`);
  return loaded;
}
