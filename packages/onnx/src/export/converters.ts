import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, LayerNorm, LeakyReLU, Linear, MaxPool2d, ReLU, Sequential,
  Sigmoid, Tanh, type AnyModule,
} from '@minnow/nn';
import { converterFor, type LayerConverter, type ModuleClass } from './converter.js';
import { convertDropout, convertFlatten, convertGELU, convertLeakyReLU, convertLinear, unaryConverter } from './dense.js';
import { convertBatchNorm1d, convertBatchNorm2d, convertLayerNorm } from './normalization.js';
import { convertAvgPool2d, convertConv2d, convertMaxPool2d } from './spatial.js';

/** A Sequential is its children in order, each converted under its own name. */
const convertSequential: LayerConverter<Sequential> = (layer, x, context) =>
  layer.namedChildren().reduce((value, [name, child]) => context.convertChild(child, name, value), x);

/**
 * The layer classes the exporter knows, each with its converter. Lookup is by exact class, not
 * instanceof: a subclass may override forward, so it needs an entry of its own. Adding a layer is
 * one line here.
 */
export const CONVERTERS: ReadonlyMap<ModuleClass, LayerConverter<AnyModule>> = new Map([
  converterFor(Sequential, convertSequential),
  converterFor(Linear, convertLinear),
  converterFor(Conv2d, convertConv2d),
  converterFor(BatchNorm1d, convertBatchNorm1d),
  converterFor(BatchNorm2d, convertBatchNorm2d),
  converterFor(LayerNorm, convertLayerNorm),
  converterFor(Dropout, convertDropout),
  converterFor(ReLU, unaryConverter('Relu')),
  converterFor(LeakyReLU, convertLeakyReLU),
  converterFor(GELU, convertGELU),
  converterFor(Sigmoid, unaryConverter('Sigmoid')),
  converterFor(Tanh, unaryConverter('Tanh')),
  converterFor(MaxPool2d, convertMaxPool2d),
  converterFor(AvgPool2d, convertAvgPool2d),
  converterFor(Flatten, convertFlatten),
]);
