// Post-training quantization of ONNX graphs: weight-only, dynamic and static (QDQ or QOperator),
// BatchNorm folding, subgraphs included, with a per-layer report.
export { quantizeOnnx, type QuantizeMode, type QuantizeOnnxOptions, type QuantizeOnnxResult } from './quantize-onnx.js';
export { DEFAULT_INT4_BLOCK, DEFAULT_OPS, type SelectionOptions, type WeightGranularityOption } from './select.js';
export { defaultActivationMargin, type ActivationType } from './activations.js';
export { calibrateLayerInputs, LayerStatistics, type LayerStatisticsOptions } from './layer-statistics.js';
export { equalizeOnnx, type EqualizedPair, type EqualizeOptions } from './equalize.js';
