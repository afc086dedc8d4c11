/**
 * Modules, layers, initialisers, losses and functional helpers of @minnow/nn (the package index
 * re-exports this file).
 */
export { Module, type AnyModule } from './module.js';
export {
  calculateGain, computeFans, kaimingNormal, kaimingUniform, onesInit, toRandom, uniformInit, xavierNormal, xavierUniform, zerosInit,
  type InitOptions, type KaimingOptions, type Nonlinearity, type Seed, type XavierOptions,
} from './init.js';
export {
  avgPool2d, dropout, maxPool2d, poolOutputSize, type AvgPool2dOptions, type DropoutOptions, type MaxPool2dOptions, type Pair,
} from './functional.js';
export {
  crossEntropy, klDivergence, mse, oneHot, type CrossEntropyOptions, type KlDivergenceOptions, type Reduction,
} from './losses.js';
export { Linear, type LinearOptions, type ParameterOptions } from './layers/linear.js';
export { Conv2d, type Conv2dLayerOptions } from './layers/conv.js';
export { BatchNorm1d, BatchNorm2d, LayerNorm, type BatchNormOptions, type LayerNormOptions } from './layers/normalization.js';
export { GELU, LeakyReLU, ReLU, Sigmoid, Tanh } from './layers/activation.js';
export { AvgPool2d, MaxPool2d } from './layers/pooling.js';
export { Dropout } from './layers/dropout.js';
export { Flatten } from './layers/flatten.js';
export { Sequential } from './layers/sequential.js';
