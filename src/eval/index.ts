export {
  CALIBRATION_BINS,
  calibrationBins,
  classificationMetrics,
  confusionMatrix,
  evaluatePredictions,
  evaluationJson,
  expectedCalibrationError,
  topPredictions,
  type CalibrationBin,
  type ClassMetrics,
  type Evaluation,
  type EvaluationJson,
} from './metrics.js';
export {
  ALL_SPLITS,
  allFaces,
  chooseSplit,
  pickSplit,
  classifyDataset,
  datasetLogits,
  evaluateModel,
  type ChosenSplit,
  type ClassifyDatasetOptions,
} from './evaluate.js';
export { fitTemperature, temperatureEce, temperatureNll, TEMPERATURE_RANGE, type TemperatureFit } from './calibrate.js';
export { formatEvaluation, formatPredictionsCsv } from './format.js';
export { REPORT_SECTIONS, writeEvalReport, type ReportInput } from './report.js';
export { evaluatePipeline, type LabelledPhoto, type PipelineEvaluation, type PipelineEvaluationOptions } from './pipeline.js';
