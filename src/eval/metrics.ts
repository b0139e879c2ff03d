/**
 * Classification and calibration metrics for the 7 expressions, from a model's probabilities and the true labels.
 * Conventions follow scikit-learn: rows of the confusion matrix are true classes, columns predictions; an undefined
 * precision or recall (a class never predicted, or never present) counts as 0.
 */
import { EXPRESSIONS, NUM_CLASSES, type Expression } from '../core/labels.js';

/** Equal-width confidence bins for the expected calibration error and the reliability diagram. */
export const CALIBRATION_BINS = 15;

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Faces of this class in the data. */
  support: number;
}

/** One confidence bin: faces whose top probability lies in (lower, upper]. Empty bins have accuracy and confidence 0. */
export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  /** Fraction of the bin's faces predicted correctly. */
  accuracy: number;
  /** Mean top probability of the bin's faces. */
  confidence: number;
}

export interface Evaluation {
  n: number;
  accuracy: number;
  /** Mean F1 over the classes that occur in the labels or the predictions (scikit-learn's default label set). */
  macroF1: number;
  /** Expected calibration error over CALIBRATION_BINS bins: Σ (n_b / N) · |acc_b − conf_b|. */
  ece: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  calibration: CalibrationBin[];
  /** Per face: the predicted class (arg max) and its probability. */
  predicted: Uint8Array;
  confidence: Float32Array;
  /**
   * Whole-photo evaluation only: per true class, the photos where the pipeline found no face. They count as wrong
   * (in accuracy, recall and support) but are in no column of the confusion matrix.
   */
  noFace?: number[];
}

/** The `mien eval --json` object: plain numbers, classes by name. */
export interface EvaluationJson {
  n: number;
  accuracy: number;
  macroF1: number;
  ece: number;
  labels: Expression[];
  perClass: Record<Expression, ClassMetrics>;
  confusion: number[][];
  /** The reliability diagram: CALIBRATION_BINS equal-width bins of the top probability, the ECE's terms. */
  calibration: CalibrationBin[];
  noFace?: Record<Expression, number>;
}

/** Counts of (true, predicted) pairs: rows are true classes, columns predicted classes. */
export function confusionMatrix(labels: ArrayLike<number>, predicted: ArrayLike<number>, classes = NUM_CLASSES): number[][] {
  if (labels.length !== predicted.length) throw new RangeError(`${labels.length} labels but ${predicted.length} predictions`);
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]!]![predicted[i]!]!++;
  return matrix;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/**
 * Per-class precision, recall, F1 and support, plus accuracy and macro-F1, from a confusion matrix and, for whole
 * photos, the per-class count of photos where no face was found (wrong answers outside the matrix).
 */
export function classificationMetrics(
  confusion: number[][],
  noFace?: readonly number[],
): Pick<Evaluation, 'n' | 'accuracy' | 'macroF1' | 'perClass'> {
  const columnSum = (k: number) => confusion.reduce((sum, row) => sum + row[k]!, 0);
  let n = 0;
  let correct = 0;
  const perClass = confusion.map((row, k) => {
    const support = row.reduce((a, b) => a + b, 0) + (noFace?.[k] ?? 0);
    const truePositives = row[k]!;
    n += support;
    correct += truePositives;
    const precision = ratio(truePositives, columnSum(k));
    const recall = ratio(truePositives, support);
    return { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  // A class absent from both labels and predictions says nothing about the model, so it does not dilute the mean.
  const seen = perClass.filter((m, k) => m.support > 0 || columnSum(k) > 0);
  const macroF1 = ratio(
    seen.reduce((sum, m) => sum + m.f1, 0),
    seen.length,
  );
  return { n, accuracy: ratio(correct, n), macroF1, perClass };
}

/**
 * Splits faces into `bins` equal-width bins of top probability, each (lower, upper] as in Guo et al. 2017 "On
 * Calibration of Modern Neural Networks" (a confidence of exactly 0 goes to the first bin).
 */
export function calibrationBins(confidence: ArrayLike<number>, correct: ArrayLike<boolean>, bins = CALIBRATION_BINS): CalibrationBin[] {
  const count = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  const confidenceSum = new Array<number>(bins).fill(0);
  for (let i = 0; i < confidence.length; i++) {
    const c = confidence[i]!;
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
    count[b]!++;
    if (correct[i]) hits[b]!++;
    confidenceSum[b]! += c;
  }
  return count.map((n, b) => ({
    lower: b / bins,
    upper: (b + 1) / bins,
    count: n,
    accuracy: ratio(hits[b]!, n),
    confidence: ratio(confidenceSum[b]!, n),
  }));
}

/** ECE = Σ_b (n_b / N) · |acc_b − conf_b|. */
export function expectedCalibrationError(bins: readonly CalibrationBin[]): number {
  const n = bins.reduce((sum, b) => sum + b.count, 0);
  return ratio(
    bins.reduce((sum, b) => sum + b.count * Math.abs(b.accuracy - b.confidence), 0),
    n,
  );
}

/** Per face of n × 7 probabilities: the most probable class (the first on a tie) and its probability. */
export function topPredictions(probabilities: Float32Array): { predicted: Uint8Array; confidence: Float32Array } {
  const n = probabilities.length / NUM_CLASSES;
  const predicted = new Uint8Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
    let best = 0;
    for (let k = 1; k < NUM_CLASSES; k++) if (p[k]! > p[best]!) best = k;
    predicted[i] = best;
    confidence[i] = p[best]!;
  }
  return { predicted, confidence };
}

/**
 * Every metric for n faces: `probabilities` is n × 7 (EXPRESSIONS order), `labels` the true class ids 0–6. With
 * `found` (whole photos through a face detector), entries where it is false had no face: their probabilities are
 * ignored and they count as wrong (Evaluation.noFace).
 */
export function evaluatePredictions(probabilities: Float32Array, labels: ArrayLike<number>, found?: ArrayLike<boolean>): Evaluation {
  const n = labels.length;
  if (probabilities.length !== n * NUM_CLASSES) {
    throw new RangeError(`expected ${n} × ${NUM_CLASSES} probabilities, got ${probabilities.length} values`);
  }
  const { predicted, confidence } = topPredictions(probabilities);
  const kept = found ? Array.from({ length: n }, (_, i) => i).filter((i) => found[i]) : undefined;
  const pick = <T>(values: ArrayLike<T>): T[] => (kept ? kept.map((i) => values[i]!) : Array.from(values));
  const keptLabels = pick(labels);
  const keptPredicted = pick(predicted);
  const correct = keptPredicted.map((k, i) => k === keptLabels[i]);
  const confusion = confusionMatrix(keptLabels, keptPredicted);
  const calibration = calibrationBins(pick(confidence), correct);
  let noFace: number[] | undefined;
  if (found) {
    noFace = new Array<number>(NUM_CLASSES).fill(0);
    for (let i = 0; i < n; i++) if (!found[i]) noFace[labels[i]!]!++;
  }
  return {
    ...classificationMetrics(confusion, noFace),
    ...(noFace ? { noFace } : {}),
    ece: expectedCalibrationError(calibration),
    confusion,
    calibration,
    predicted,
    confidence,
  };
}

/** The `--json` form: exactly the documented keys, classes by name. */
export function evaluationJson(e: Evaluation): EvaluationJson {
  return {
    n: e.n,
    accuracy: e.accuracy,
    macroF1: e.macroF1,
    ece: e.ece,
    labels: [...EXPRESSIONS],
    perClass: Object.fromEntries(EXPRESSIONS.map((name, k) => [name, e.perClass[k]!])) as Record<Expression, ClassMetrics>,
    confusion: e.confusion,
    calibration: e.calibration,
    ...(e.noFace ? { noFace: Object.fromEntries(EXPRESSIONS.map((name, k) => [name, e.noFace![k]!])) as Record<Expression, number> } : {}),
  };
}
