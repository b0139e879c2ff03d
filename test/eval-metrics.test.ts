import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  calibrationBins,
  classificationMetrics,
  confusionMatrix,
  evaluatePredictions,
  evaluationJson,
  expectedCalibrationError,
  formatPredictionsCsv,
} from '../src/eval/index.js';
import { EXPRESSIONS, NUM_CLASSES } from '../src/core/labels.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual}, expected ${expected}`);

/** n × 7 probabilities putting `top` on the given class and spreading the rest evenly. */
function probabilitiesFor(predicted: number[], top: number[]): Float32Array {
  const p = new Float32Array(predicted.length * NUM_CLASSES);
  predicted.forEach((k, i) => {
    p.fill((1 - top[i]!) / (NUM_CLASSES - 1), i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
    p[i * NUM_CLASSES + k] = top[i]!;
  });
  return p;
}

// Ten faces of four classes, worked out by hand:
//   true 0 (angry):   predicted 0, 0, 1       true 3 (happy):   predicted 3, 3, 6, 3
//   true 1 (disgust): predicted 1, 0          true 6 (neutral): predicted 6
const LABELS = [0, 0, 0, 1, 1, 3, 3, 3, 3, 6];
const PREDICTED = [0, 0, 1, 1, 0, 3, 3, 6, 3, 6];

describe('classification metrics', () => {
  test('the confusion matrix has true classes as rows and predictions as columns', () => {
    const m = confusionMatrix([2, 2, 4], [5, 2, 4]);
    assert.equal(m.length, NUM_CLASSES);
    assert.equal(m[2]![5], 1, 'a true fear predicted as surprise is counted in row fear, column surprise');
    assert.equal(m[5]![2], 0);
    assert.equal(m[2]![2], 1);
    assert.equal(m[4]![4], 1);
  });

  test('accuracy, precision, recall, F1 and support match the hand-worked case', () => {
    const confusion = confusionMatrix(LABELS, PREDICTED);
    assert.deepEqual(confusion[0], [2, 1, 0, 0, 0, 0, 0]);
    assert.deepEqual(confusion[1], [1, 1, 0, 0, 0, 0, 0]);
    assert.deepEqual(confusion[3], [0, 0, 0, 3, 0, 0, 1]);
    assert.deepEqual(confusion[6], [0, 0, 0, 0, 0, 0, 1]);
    const m = classificationMetrics(confusion);
    assert.equal(m.n, 10);
    close(m.accuracy, 7 / 10, 'accuracy');
    // angry: 2 of 3 predicted angry are angry, 2 of 3 angry found
    close(m.perClass[0]!.precision, 2 / 3, 'angry precision');
    close(m.perClass[0]!.recall, 2 / 3, 'angry recall');
    close(m.perClass[0]!.f1, 2 / 3, 'angry f1');
    // disgust: 1 of 2 predictions right, 1 of 2 found
    close(m.perClass[1]!.f1, 1 / 2, 'disgust f1');
    // happy: every happy prediction right, 3 of 4 found → F1 = 2·1·0.75 / 1.75 = 6/7
    close(m.perClass[3]!.precision, 1, 'happy precision');
    close(m.perClass[3]!.recall, 3 / 4, 'happy recall');
    close(m.perClass[3]!.f1, 6 / 7, 'happy f1');
    // neutral: 1 of 2 predictions right, the one neutral found
    close(m.perClass[6]!.precision, 1 / 2, 'neutral precision');
    close(m.perClass[6]!.recall, 1, 'neutral recall');
    close(m.perClass[6]!.f1, 2 / 3, 'neutral f1');
    assert.deepEqual(
      m.perClass.map((c) => c.support),
      [3, 2, 0, 4, 0, 0, 1],
    );
    // fear, sad and surprise never occur and are never predicted: all zero, and left out of the macro mean
    for (const k of [2, 4, 5]) assert.deepEqual(m.perClass[k], { precision: 0, recall: 0, f1: 0, support: 0 });
    close(m.macroF1, (2 / 3 + 1 / 2 + 6 / 7 + 2 / 3) / 4, 'macro-F1');
  });

  test('a class predicted but never present scores 0 and counts in macro-F1', () => {
    const m = classificationMetrics(confusionMatrix([0, 0], [0, 1]));
    close(m.perClass[0]!.f1, 2 / 3, 'angry f1');
    assert.deepEqual(m.perClass[1], { precision: 0, recall: 0, f1: 0, support: 0 });
    close(m.macroF1, 1 / 3, 'macro-F1 (scikit-learn gives 1/3 too)');
  });

  test('an empty evaluation is all zeros, not NaN', () => {
    const m = classificationMetrics(confusionMatrix([], []));
    assert.equal(m.n, 0);
    assert.equal(m.accuracy, 0);
    assert.equal(m.macroF1, 0);
  });
});

describe('calibration', () => {
  test('ECE over 15 equal-width bins matches the hand-worked case', () => {
    // bins of width 1/15: 0.95 → bin 14, 0.90 and 0.92 → bin 13, 0.55 → 8, 0.50 → 7, 0.25 → 3
    const confidence = [0.95, 0.9, 0.92, 0.55, 0.5, 0.25];
    const correct = [true, false, true, true, true, false];
    const bins = calibrationBins(confidence, correct);
    assert.equal(bins.length, 15);
    assert.deepEqual(
      bins.map((b) => b.count),
      [0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 2, 1],
    );
    close(bins[13]!.accuracy, 0.5, 'bin 13 accuracy');
    close(bins[13]!.confidence, 0.91, 'bin 13 confidence');
    close(bins[13]!.lower, 13 / 15, 'bin 13 lower edge');
    // (|1 − 0.95| + 2·|0.5 − 0.91| + |1 − 0.55| + |1 − 0.5| + |0 − 0.25|) / 6
    close(expectedCalibrationError(bins), (0.05 + 0.82 + 0.45 + 0.5 + 0.25) / 6, 'ECE');
  });

  test('a confidence of exactly 1 or 0 lands in the last or first bin', () => {
    const bins = calibrationBins([1, 0], [true, false]);
    assert.equal(bins[14]!.count, 1);
    assert.equal(bins[0]!.count, 1);
  });

  test('a perfectly calibrated bin contributes nothing', () => {
    // four faces at 0.75 confidence, three right
    close(expectedCalibrationError(calibrationBins([0.75, 0.75, 0.75, 0.75], [true, true, true, false])), 0, 'ECE');
  });
});

describe('evaluatePredictions', () => {
  test('takes arg max and top probability from the probabilities and scores them', () => {
    const top = [0.9, 0.8, 0.6, 0.7, 0.5, 0.95, 0.9, 0.4, 0.85, 0.6];
    const e = evaluatePredictions(probabilitiesFor(PREDICTED, top), LABELS);
    assert.deepEqual(Array.from(e.predicted), PREDICTED);
    assert.equal(e.confidence[7], Math.fround(0.4), 'confidence of face 7');
    assert.deepEqual(e.confusion, confusionMatrix(LABELS, PREDICTED));
    close(e.accuracy, 0.7, 'accuracy');
    const correct = PREDICTED.map((k, i) => k === LABELS[i]);
    close(e.ece, expectedCalibrationError(calibrationBins(Float32Array.from(top), correct)), 'ECE');
  });

  test('the JSON form has exactly the documented keys, classes by name', () => {
    const json = evaluationJson(evaluatePredictions(probabilitiesFor(PREDICTED, new Array(10).fill(0.5)), LABELS));
    assert.deepEqual(Object.keys(json), ['n', 'accuracy', 'macroF1', 'ece', 'labels', 'perClass', 'confusion', 'calibration']);
    assert.deepEqual(json.labels, [...EXPRESSIONS]);
    assert.deepEqual(Object.keys(json.calibration[0]!), ['lower', 'upper', 'count', 'accuracy', 'confidence']);
    assert.deepEqual(Object.keys(json.perClass), [...EXPRESSIONS]);
    assert.deepEqual(Object.keys(json.perClass.happy), ['precision', 'recall', 'f1', 'support']);
    assert.equal(json.perClass.happy.support, 4);
    assert.equal(json.confusion[3]![6], 1);
  });

  test('rejects probabilities that do not match the labels', () => {
    assert.throws(() => evaluatePredictions(new Float32Array(13), [0, 1]), /expected 2 × 7 probabilities/);
  });
});

describe('predictions CSV', () => {
  test('writes id, predicted id and the 7 probabilities, quoting ids that need it', () => {
    const csv = formatPredictionsCsv(['7', 'faces/a,b.png'], probabilitiesFor([3, 0], [0.4, 0.7]));
    const lines = csv.trimEnd().split('\n');
    assert.equal(lines[0], `id,emotion,${EXPRESSIONS.join(',')}`);
    assert.match(lines[1]!, /^7,3,0\.100000,0\.100000,0\.100000,0\.400000,0\.100000,0\.100000,0\.100000$/);
    assert.ok(lines[2]!.startsWith('"faces/a,b.png",0,0.700000,'), lines[2]);
  });
});
