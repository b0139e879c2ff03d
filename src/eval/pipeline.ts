/**
 * Evaluation of the whole recognition pipeline on labelled photos (not face crops): each photo goes through
 * detection, alignment, crop and classification, and the largest face found is taken as the labelled subject.
 * Photos where no face is found count as wrong; photos that cannot be decoded are reported and left out, as when
 * loading any image folder.
 */
import { availableParallelism } from 'node:os';
import { NUM_CLASSES, EXPRESSIONS } from '../core/labels.js';
import type { DataProblem } from '../data/problems.js';
import type { Recognizer } from '../recognize/recognizer.js';
import { evaluatePredictions, type Evaluation } from './metrics.js';

export interface LabelledPhoto {
  path: string;
  /** FER2013 label id 0–6. */
  label: number;
}

export interface PipelineEvaluation {
  evaluation: Evaluation;
  /** The photos scored, in input order (undecodable ones left out). */
  photos: LabelledPhoto[];
  /** Photos where no face was found (counted as wrong). */
  noFace: string[];
  /** Photos that could not be read. */
  problems: DataProblem[];
}

export interface PipelineEvaluationOptions {
  /** Photos in flight at once; detection and classification already use every core, so a few suffice. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function evaluatePipeline(
  recognizer: Recognizer,
  photos: readonly LabelledPhoto[],
  options: PipelineEvaluationOptions = {},
): Promise<PipelineEvaluation> {
  const probabilities = new Float32Array(photos.length * NUM_CLASSES);
  const found = new Array<boolean>(photos.length).fill(false);
  const failed = new Map<number, string>();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < photos.length) {
      const i = next++;
      try {
        const faces = await recognizer.recognize(photos[i]!.path);
        const subject = faces.reduce<(typeof faces)[number] | undefined>(
          (best, f) => (!best || f.box.width * f.box.height > best.box.width * best.box.height ? f : best),
          undefined,
        );
        if (subject) {
          found[i] = true;
          EXPRESSIONS.forEach((e, c) => (probabilities[i * NUM_CLASSES + c] = subject.probabilities[e]));
        }
      } catch (err) {
        // decodeImage's errors already start with the file's name, which the problem list prints as `where`
        const message = err instanceof Error ? err.message : String(err);
        failed.set(i, message.startsWith(`${photos[i]!.path}: `) ? message.slice(photos[i]!.path.length + 2) : message);
      }
      options.onProgress?.(++done, photos.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? Math.min(4, availableParallelism()) }, worker));

  const kept = photos.map((_, i) => i).filter((i) => !failed.has(i));
  const keptProbabilities = new Float32Array(kept.length * NUM_CLASSES);
  kept.forEach((i, k) => keptProbabilities.set(probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), k * NUM_CLASSES));
  return {
    evaluation: evaluatePredictions(
      keptProbabilities,
      kept.map((i) => photos[i]!.label),
      kept.map((i) => found[i]!),
    ),
    photos: kept.map((i) => photos[i]!),
    noFace: kept.filter((i) => !found[i]).map((i) => photos[i]!.path),
    problems: [...failed].sort(([a], [b]) => a - b).map(([i, message]) => ({ where: photos[i]!.path, message })),
  };
}
