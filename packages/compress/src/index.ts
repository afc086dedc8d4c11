// @minnow/compress: the algorithms that make a model smaller, on top of @minnow/core and @minnow/nn.
// Knowledge distillation (distill/) with the plain training loop it shares, quantization
// (quantize/), pruning (prune/) and weight clustering (cluster/).
export {
  distillationLoss, resolveDistillationLoss, type DistillationKind, type DistillationLossOptions, type ResolvedDistillationLoss,
} from './distill/loss.js';
export {
  countCorrect, evaluate, type AnyOptimizer, type Classifier, type EpochRecord, type Evaluation, type LoopOptions, type OptimizerInput,
  type Progress, type ScheduleInput, type StepHooks,
} from './distill/loop.js';
export { train, type TrainOptions } from './distill/train.js';
export { distill, type DistillOptions } from './distill/distill.js';
export { findLayer, flattenFeature, forwardCapturing, hintLoss, hintRegressor, type HintOptions } from './distill/hints.js';
// Quantization (quantize/): the shared vocabulary, schemes, streaming observers and calibration.
export type {
  CalibrationMethod, CalibrationOptions, Granularity, LayerPrecision, LayerReport, Observer, QuantParams, QuantScheme, QuantType, TensorRange,
} from './quantize/types.js';
export {
  dequantizeTensor, dequantizeValues, describeGranularity, paramShape, quantLimits, quantParams, quantizeTensor, quantizeValues, rangeOf,
  storageDType, type QuantLimits,
} from './quantize/scheme.js';
export {
  HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver, createObserver, entropyRange, mseRange, percentileRange,
  type HistogramMethod, type ObserverOptions, type QuantTarget,
} from './quantize/observers/index.js';
export {
  calibrateModule, calibrateOnnx, moduleTensorName, type BatchSource, type CalibrationRunOptions, type ModuleBatch, type ModuleCalibrationOptions,
  type OnnxCalibrationOptions,
} from './quantize/calibrate.js';
export {
  calibrateLayerInputs, equalizeOnnx, LayerStatistics, type EqualizedPair, type EqualizeOptions, type LayerStatisticsOptions,
} from './quantize/onnx/index.js';
export {
  DEFAULT_INT4_BLOCK, DEFAULT_OPS, defaultActivationMargin, quantizeOnnx, type ActivationType, type QuantizeMode, type QuantizeOnnxOptions, type QuantizeOnnxResult,
  type SelectionOptions, type WeightGranularityOption,
} from './quantize/onnx/index.js';
export {
  OutputMeter, QUANTIZABLE_OPS, layerSensitivity, onnxQuantizer, quantizableLayers, type EvaluationOptions, type FeedRecord, type LayerSensitivity,
  type LayerSensitivityOptions, type OutputError, type QuantizableLayer, type QuantizeWith, type RankBy, type SensitivityResult,
} from './quantize/sensitivity.js';
export { budgetCheck, mixedPrecision, type ErrorBudget, type MixedPrecisionOptions, type MixedPrecisionResult, type MixedPrecisionStep } from './quantize/mixed-precision.js';
export {
  LAYER_TABLE_COLUMNS, describeQuantizedLayers, formatLayerTable, layerTable, layerTotals, sensitivityReport, type LayerTable, type LayerTotals,
} from './quantize/report.js';
export {
  QatLayer, QuantizedConv2d, QuantizedLayer, QuantizedLinear, convertQat, prepareQat, quantizeModule, type ActivationMode, type ModuleQuantizationOptions,
  type QatLayerOptions, type QatOptions, type QuantizedModuleResult, type WeightQuantization,
} from './quantize/nn/index.js';
// Pruning (prune/) and weight clustering (cluster/).
export * from './prune/index.js';
export * from './cluster/index.js';
