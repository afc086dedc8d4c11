import type { ConverterEntry } from './context.js';
import {
  convertCast, convertDropout, convertGelu, convertGemm, convertIdentity, convertLeakyRelu, convertMatMul, convertRelu, convertSigmoid, convertTanh,
} from './dense.js';
import { convertBatchNormalization, convertLayerNormalization } from './normalization.js';
import { convertFlatten, convertReshape, convertSqueeze } from './reshape.js';
import {
  convertAveragePool, convertConv, convertGlobalAveragePool, convertGlobalMaxPool, convertMaxPool, convertPad,
} from './spatial.js';

/**
 * The default-domain ops the importer turns into nn layers, each with the first opset whose form
 * its converter reads (the importer's own floor is opset 7). Softmax and LogSoftmax at the output
 * are handled by the walk itself; the written-out GELU and layer norm by patterns.ts. Adding an op
 * is one line here.
 */
export const IMPORTERS: ReadonlyMap<string, ConverterEntry> = new Map<string, ConverterEntry>([
  ['Gemm', { convert: convertGemm }],
  ['MatMul', { convert: convertMatMul }],
  ['Conv', { convert: convertConv }],
  ['Pad', { convert: convertPad }],
  ['BatchNormalization', { convert: convertBatchNormalization }],
  ['LayerNormalization', { convert: convertLayerNormalization, sinceVersion: 17 }],
  ['Relu', { convert: convertRelu }],
  ['LeakyRelu', { convert: convertLeakyRelu }],
  ['Sigmoid', { convert: convertSigmoid }],
  ['Tanh', { convert: convertTanh }],
  ['Gelu', { convert: convertGelu, sinceVersion: 20 }],
  ['Flatten', { convert: convertFlatten }],
  ['Reshape', { convert: convertReshape }],
  ['Squeeze', { convert: convertSqueeze }],
  ['MaxPool', { convert: convertMaxPool }],
  ['AveragePool', { convert: convertAveragePool }],
  ['GlobalAveragePool', { convert: convertGlobalAveragePool }],
  ['GlobalMaxPool', { convert: convertGlobalMaxPool }],
  ['Dropout', { convert: convertDropout }],
  ['Identity', { convert: convertIdentity }],
  ['Cast', { convert: convertCast }],
]);
