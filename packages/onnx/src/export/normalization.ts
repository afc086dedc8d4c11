import type { BatchNorm1d, BatchNorm2d, LayerNorm } from '@minnow/nn';
import { attr } from '../builder.js';
import { knownAndNot, type ConvertContext, type LayerConverter } from './converter.js';
import type { ExportValue } from './graph.js';

/**
 * Converters for BatchNorm1d/2d and LayerNorm, in eval semantics: batch norm with its running
 * statistics (or, without them, the batch's own, as nn's eval forward does), layer norm as
 * ONNX's LayerNormalization (opset 17), both with the layer's eps.
 */

type BatchNorm = BatchNorm1d | BatchNorm2d;

/** The per-channel scale and shift, or ones and zeros for a layer without affine parameters (ONNX requires both). */
function affine(layer: BatchNorm | LayerNorm, context: ConvertContext, shape: readonly number[]): [string, string] {
  const { graph } = context;
  const size = shape.reduce((a, b) => a * b, 1);
  const weight = layer.weight ? graph.weight(layer.weight, context.stateName('weight')) : graph.floats(context.hint('ones'), new Float32Array(size).fill(1), shape);
  const bias = layer.bias ? graph.weight(layer.bias, context.stateName('bias')) : graph.floats(context.hint('zeros'), new Float32Array(size), shape);
  return [weight, bias];
}

function batchNorm(ranks: readonly number[], expected: string): LayerConverter<BatchNorm> {
  return (layer, x, context) => {
    if (!ranks.includes(x.shape.length) || knownAndNot(x.shape[1], layer.numFeatures)) throw context.shapeError(x, expected.replace('C', String(layer.numFeatures)));
    const [scale, shift] = affine(layer, context, [layer.numFeatures]);
    const { graph } = context;
    const runningMean = layer.runningMean;
    const runningVar = layer.runningVar;
    if (!runningMean || !runningVar) return { name: batchStatistics(layer, x, context, scale, shift), shape: x.shape };
    const inputs = [x.name, scale, shift, graph.weight(runningMean, context.stateName('running_mean')), graph.weight(runningVar, context.stateName('running_var'))];
    const name = graph.node('BatchNormalization', inputs, context.hint('BatchNormalization'), [attr.float('epsilon', layer.eps)]);
    return { name, shape: x.shape };
  };
}

/**
 * A batch norm that keeps no running statistics normalises by the batch's biased mean and variance
 * even in eval mode. ONNX's BatchNormalization only does that in training mode, which inference
 * runtimes do not implement, so the formula is written out, in the order nn computes it.
 */
function batchStatistics(layer: BatchNorm, x: ExportValue, context: ConvertContext, scale: string, shift: string): string {
  const { graph } = context;
  const rank = x.shape.length;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const perChannel = [layer.numFeatures, ...Array.from({ length: rank - 2 }, () => 1)];
  const mean = (input: string, what: string): string => reduceMean(context, input, axes, what);
  const centered = graph.node('Sub', [x.name, mean(x.name, 'batch_mean')], context.hint('centered'));
  const variance = mean(graph.node('Mul', [centered, centered], context.hint('squared')), 'batch_var');
  const epsilon = graph.floats(context.hint('epsilon'), [layer.eps], []);
  const inverse = graph.node('Reciprocal', [graph.node('Sqrt', [graph.node('Add', [variance, epsilon], context.hint('var_eps'))], context.hint('std'))], context.hint('inv_std'));
  const normalized = graph.node('Mul', [centered, inverse], context.hint('normalized'));
  const channelShape = graph.int64s(context.hint('channel_shape'), perChannel);
  const scaled = graph.node('Mul', [normalized, graph.node('Reshape', [scale, channelShape], context.hint('scale'))], context.hint('scaled'));
  return graph.node('Add', [scaled, graph.node('Reshape', [shift, channelShape], context.hint('shift'))], context.hint('BatchNorm'));
}

/** ReduceMean keeping dims: axes are an attribute up to opset 17 and an input from 18. */
function reduceMean(context: ConvertContext, input: string, axes: readonly number[], what: string): string {
  const { graph } = context;
  if (graph.opset >= 18) return graph.node('ReduceMean', [input, graph.int64s(context.hint(`${what}_axes`), axes)], context.hint(what), [attr.int('keepdims', 1)]);
  return graph.node('ReduceMean', [input], context.hint(what), [attr.ints('axes', axes), attr.int('keepdims', 1)]);
}

export const convertBatchNorm1d: LayerConverter<BatchNorm1d> = batchNorm([2, 3], '[N, C] or [N, C, L]');
export const convertBatchNorm2d: LayerConverter<BatchNorm2d> = batchNorm([4], '[N, C, H, W]');

/** LayerNormalization over the trailing normalizedShape dims; its variance is the biased one, as core's layerNorm. */
export const convertLayerNorm: LayerConverter<LayerNorm> = (layer, x, context) => {
  const dims = layer.normalizedShape.length;
  const trailing = x.shape.slice(x.shape.length - dims);
  if (x.shape.length < dims || trailing.some((d, i) => knownAndNot(d, layer.normalizedShape[i]))) {
    throw context.shapeError(x, `[..., ${layer.normalizedShape.join(', ')}]`);
  }
  const [scale, shift] = affine(layer, context, layer.normalizedShape);
  const name = context.graph.node('LayerNormalization', [x.name, scale, shift], context.hint('LayerNormalization'), [
    attr.int('axis', -dims), attr.float('epsilon', layer.eps),
  ]);
  return { name, shape: x.shape };
};
