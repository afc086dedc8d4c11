// The compression report: a data model the commands fill in (types.ts), helpers that build its
// parts from minnow's objects (collect.ts, collect-onnx.ts), the HTML page with inline SVG charts
// (html.ts, svg.ts) and its atomic write (write.ts).
export {
  STEP_KINDS, type GridGranularity, type Histogram, type LayerSensitivityFigures, type QuantGrid, type ReportCurve, type ReportData,
  type ReportLayer, type ReportStep, type StepKind,
} from './types.js';
export { DEFAULT_BINS, finiteRange, histogram, sqnrDb, type HistogramOptions } from './histogram.js';
export {
  curveFromProgress, curvesFromHistory, environmentInfo, mergeLayers, moduleParamCount, moduleWeightLayers, sensitivityLayers, sparsityLayers,
  type ModuleLayerOptions, type NamedParameters, type ProgressCurveOptions,
} from './collect.js';
export { WEIGHTED_OPS, onnxParamCount, onnxWeightLayers, onnxWeightName, quantizedLayers, type OnnxLayerOptions } from './collect-onnx.js';
export { gridValues, ordinal, renderReport } from './html.js';
export { barChart, histogramChart, lineChart, scatterChart } from './svg.js';
export { escapeXml } from './svg-frame.js';
export { writeReport } from './write.js';
