// Module quantization (issue 7, items 3 and 4 on the nn side): post-training quantization of nn
// modules onto integer kernels, and quantization-aware training with fake quantization.
export { ACTIVATION_SCHEME, activationParams, type ActivationParams } from './activation.js';
export { canFold, convGeometry, foldedParameters } from './fold-batchnorm.js';
export type { ActivationMode } from './integer-path.js';
export { resolveWeightScheme, type LayerSpec, type WeightQuantization } from './layer-spec.js';
export { MIN_LEARNED_SCALE, QatLayer, type QatLayerOptions } from './qat-layer.js';
export { convertQat, prepareQat, type QatOptions } from './qat.js';
export { QuantizedConv2d, type ConvGeometry } from './quantized-conv2d.js';
export { QuantizedLayer, type QuantizedLayerOptions } from './quantized-layer.js';
export { QuantizedLinear } from './quantized-linear.js';
export { quantizeModule, type ModuleQuantizationOptions, type QuantizedModuleResult } from './quantize-module.js';
export { RebuiltSequential } from './rebuild.js';
export { quantizeWeight, symmetricScale, type QuantizedWeight } from './weights.js';
