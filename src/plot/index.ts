export { CHART_FONT, renderChart, renderChartPng, writeChart, type ChartSpec } from './render.js';
export { textWidth } from '../core/text-width.js';
export {
  bestEpoch,
  CURVE_PANEL_TITLES,
  CURVES_FILES,
  CurvesCallback,
  HistoryError,
  parseHistory,
  renderTrainingCurves,
  trainingCurvesChart,
} from './curves.js';
export { classDistributionChart, confusionMatrixChart, reliabilityChart, type ReliabilityBin } from './charts.js';
export { faceGrid, type FaceGridOptions, type FaceGridRow } from './faces.js';
