/**
 * Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one number T divides every logit
 * before the softmax, chosen to minimise the mean negative log-likelihood (NLL) of held-out labels. Dividing by T > 0
 * never changes which class is the most probable, so accuracy and the confusion matrix stay as they were; only the
 * probabilities change, to say how often they are right. The model stores T as `mien.temperature` and its classifier
 * (src/recognize/expression-classifier.ts) applies it.
 */
import { NUM_CLASSES } from '../core/labels.js';
import { calibrationBins, expectedCalibrationError } from './metrics.js';

/** The temperatures the fit considers: far beyond what a trained network needs either way. */
export const TEMPERATURE_RANGE = { min: 0.05, max: 20 } as const;

/** Points of the coarse scan over log T that brackets the minimum before golden-section search narrows it. */
const SCAN_POINTS = 41;
/** Golden-section search stops once the bracket is this narrow in log T (a relative precision of 1e-9 in T). */
const LOG_T_TOLERANCE = 1e-9;
const INV_PHI = (Math.sqrt(5) - 1) / 2;

export interface TemperatureFit {
  /** The fitted temperature T: the probabilities are softmax(logits / T). */
  temperature: number;
  /** Faces the fit used. */
  n: number;
  /** Mean NLL of the labels (nats) with the raw logits (T = 1) and at the fitted temperature. */
  nllBefore: number;
  nllAfter: number;
  /** Expected calibration error (CALIBRATION_BINS bins, as `mien eval` reports it) at T = 1 and at the fitted T. */
  eceBefore: number;
  eceAfter: number;
  /** T is at an end of TEMPERATURE_RANGE, so the best temperature may lie beyond it (say, a model that is never wrong). */
  atBound: boolean;
}

/** Throws a RangeError unless `logits` is n × classes finite values and `labels` n class ids in [0, classes). */
function checkInputs(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): void {
  if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`classes must be a whole number of at least 2, got ${classes}`);
  const n = labels.length;
  if (n === 0) throw new RangeError('a temperature cannot be fitted to no faces');
  if (logits.length !== n * classes) throw new RangeError(`expected ${n} × ${classes} logits, got ${logits.length} values`);
  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= classes)
      throw new RangeError(`label ${i} is ${label}, not a class id in [0, ${classes})`);
  }
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i]!)) throw new RangeError(`logit ${i} is ${logits[i]}: the model's outputs must be finite`);
  }
}

function checkTemperature(temperature: number): void {
  if (!(temperature > 0) || !Number.isFinite(temperature))
    throw new RangeError(`the temperature must be a positive number, got ${temperature}`);
}

/** Mean of −log softmax(logits / T)[label], unchecked for the search's many evaluations; log-sum-exp shifted by the row max. */
function nll(logits: ArrayLike<number>, labels: ArrayLike<number>, temperature: number, classes: number): number {
  const n = labels.length;
  let sum = 0;
  for (let i = 0, row = 0; i < n; i++, row += classes) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[row + k]!);
    let exps = 0;
    for (let k = 0; k < classes; k++) exps += Math.exp((logits[row + k]! - max) / temperature);
    sum += Math.log(exps) - (logits[row + labels[i]!]! - max) / temperature;
  }
  return sum / n;
}

function ece(logits: ArrayLike<number>, labels: ArrayLike<number>, temperature: number, classes: number): number {
  const n = labels.length;
  const confidence = new Float64Array(n);
  const correct = new Array<boolean>(n);
  for (let i = 0, row = 0; i < n; i++, row += classes) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[row + k]! > logits[row + best]!) best = k;
    let exps = 0;
    for (let k = 0; k < classes; k++) exps += Math.exp((logits[row + k]! - logits[row + best]!) / temperature);
    confidence[i] = 1 / exps;
    correct[i] = best === labels[i];
  }
  return expectedCalibrationError(calibrationBins(confidence, correct));
}

type TemperatureMeasure = (logits: ArrayLike<number>, labels: ArrayLike<number>, temperature: number, classes: number) => number;

/** A measure with its inputs checked (RangeError on sizes, labels or a temperature out of range). */
const checked =
  (measure: TemperatureMeasure) =>
  (logits: ArrayLike<number>, labels: ArrayLike<number>, temperature: number, classes: number = NUM_CLASSES): number => {
    checkInputs(logits, labels, classes);
    checkTemperature(temperature);
    return measure(logits, labels, temperature, classes);
  };

/** Mean of −log softmax(logits / T)[label] over the n faces (`logits` n × classes, row by row). */
export const temperatureNll = checked(nll);

/**
 * The expected calibration error of softmax(logits / T), with the bins of src/eval/metrics.ts. The prediction is the
 * arg max logit (the first on a tie, as topPredictions takes it), which no temperature changes.
 */
export const temperatureEce = checked(ece);

/**
 * Fits the softmax temperature to n faces' logits (n × classes, row by row, the raw network outputs) and true labels
 * by minimising the mean NLL over T in TEMPERATURE_RANGE. The NLL is convex in 1 / T, so it has one minimum along
 * log T: a scan over log T brackets it and golden-section search narrows the bracket. Deterministic: the same inputs
 * give the same T. Bad inputs (no faces, wrong sizes, labels out of range, non-finite logits) are RangeErrors.
 */
export function fitTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number = NUM_CLASSES): TemperatureFit {
  checkInputs(logits, labels, classes);
  const lo = Math.log(TEMPERATURE_RANGE.min);
  const hi = Math.log(TEMPERATURE_RANGE.max);
  const f = (logT: number) => nll(logits, labels, Math.exp(logT), classes);

  const at = (i: number) => lo + ((hi - lo) * i) / (SCAN_POINTS - 1);
  let best = 0;
  let bestValue = Infinity;
  for (let i = 0; i < SCAN_POINTS; i++) {
    const value = f(at(i));
    if (value < bestValue) [best, bestValue] = [i, value];
  }

  let a = at(Math.max(0, best - 1));
  let b = at(Math.min(SCAN_POINTS - 1, best + 1));
  let c = b - INV_PHI * (b - a);
  let d = a + INV_PHI * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > LOG_T_TOLERANCE) {
    if (fc <= fd) {
      [b, d, fd] = [d, c, fc];
      c = b - INV_PHI * (b - a);
      fc = f(c);
    } else {
      [a, c, fc] = [c, d, fd];
      d = a + INV_PHI * (b - a);
      fd = f(d);
    }
  }
  let logT = (a + b) / 2;
  // A minimum at an end of the range: the search closes in on the end, so take the end itself.
  if (logT - lo < 10 * LOG_T_TOLERANCE) logT = lo;
  if (hi - logT < 10 * LOG_T_TOLERANCE) logT = hi;
  const temperature = logT === lo ? TEMPERATURE_RANGE.min : logT === hi ? TEMPERATURE_RANGE.max : Math.exp(logT);
  return {
    temperature,
    n: labels.length,
    nllBefore: nll(logits, labels, 1, classes),
    nllAfter: nll(logits, labels, temperature, classes),
    eceBefore: ece(logits, labels, 1, classes),
    eceAfter: ece(logits, labels, temperature, classes),
    atBound: logT === lo || logT === hi,
  };
}
