import { BatchNorm1d, BatchNorm2d, LayerNorm } from '@minnow/nn';
import type { NodeProto } from '../ir/types.js';
import { broadcastValues, loadValues, normalizeAxis, type ChainValue, type Converted, type ImportContext, type NodeConverter } from './context.js';
import { expectFirstInput, shapeText } from './dense.js';

/**
 * BatchNormalization and LayerNormalization as nn's BatchNorm1d/2d and LayerNorm, with the model's
 * scale, shift, running statistics and epsilon. The written-out layer norm of older exporters
 * (ReduceMean, Sub, Pow, ...) is recognised in patterns.ts and built here too.
 */

/**
 * Inference-mode batch norm: BatchNorm1d for [N, C] and [N, C, L], BatchNorm2d for [N, C, H, W],
 * in eval mode reading the running mean and variance. ONNX's momentum weighs the old running value
 * (default 0.9); nn's weighs the new batch, so it becomes 1 - momentum. The opset 7-8 'spatial'
 * attribute must keep its default 1 (one statistic per channel), and opset 14's training_mode must
 * be 0 (a node that normalises by its batch's statistics at inference is not an eval-mode layer).
 */
export const convertBatchNormalization: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  const attrs = context.attributes(node);
  if (context.opset < 9 && attrs.int('spatial', 1) !== 1) throw context.unsupported(node, 'spatial=0 (statistics per element, not per channel) has no nn layer');
  if (context.opset >= 14 && attrs.int('training_mode', 0) !== 0) throw context.unsupported(node, 'training_mode=1 normalises by the batch\'s own statistics at inference');
  const rank = x.shape.length;
  if (rank < 2 || rank > 4) throw context.unsupported(node, `batch norm of a ${rank}-D activation ${shapeText(x.shape)}: nn has BatchNorm1d ([N,C], [N,C,L]) and BatchNorm2d ([N,C,H,W])`);
  const channels = x.shape[1];
  const read = (index: number, what: string): Float64Array => {
    const c = context.constantInput(node, index, what);
    if (c.size !== channels) throw context.invalid(node, `${what} '${c.name}' holds ${c.size} values for ${channels} channels`);
    return c.floats();
  };
  const values = { weight: read(1, 'scale'), bias: read(2, 'B'), running_mean: read(3, 'mean'), running_var: read(4, 'var') };
  const eps = attrs.float('epsilon', 1e-5);
  const momentum = 1 - attrs.float('momentum', 0.9);
  if (!(momentum >= 0 && momentum <= 1)) throw context.invalid(node, `momentum must be in [0, 1], got ${1 - momentum}`);
  const { dtype, backend } = context.where;
  const options = { eps, momentum, dtype, backend };
  const layer = rank === 4 ? new BatchNorm2d(channels, options) : new BatchNorm1d(channels, options);
  loadValues(layer, values);
  layer.eval();
  return { layers: [layer], output: { name: node.output[0], shape: x.shape } };
};

/** LayerNormalization (opset 17) over the dims from `axis` on; a missing B is zeros. */
export const convertLayerNormalization: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  const attrs = context.attributes(node);
  const axis = normalizeAxis(attrs.int('axis', -1), x.shape.length, (why) => context.invalid(node, why));
  const scale = context.constantInput(node, 1, 'Scale');
  const bias = context.optionalConstant(node, 2, 'B');
  return layerNormOver(node, x, axis, attrs.float('epsilon', 1e-5), { scale: scale.name, bias: bias?.name }, node.output[0], context, []);
};

/** The constants' names that scale and shift a layer norm (either may be absent). */
export interface Affine {
  readonly scale?: string;
  readonly bias?: string;
}

/**
 * A LayerNorm over x's dims from `axis` on, its affine parameters broadcast from the named
 * constants to the normalised shape (absent ones are ones and zeros). Normalising over the batch
 * axis is refused when the batch is symbolic (the layer would fix its size).
 */
export function layerNormOver(
  node: NodeProto, x: ChainValue, axis: number, eps: number, affine: Affine, outputName: string, context: ImportContext, consumed: readonly NodeProto[],
): Converted {
  if (axis === 0 && context.batch.symbolic !== null) throw context.unsupported(node, `it normalises over the batch axis, whose size '${context.batch.symbolic}' is symbolic`);
  const normalizedShape = x.shape.slice(axis);
  const broadcast = (name: string | undefined, what: string): Float64Array | undefined => {
    if (name === undefined) return undefined;
    const constant = context.constant(name);
    if (constant === undefined) throw context.unsupported(node, `${what} '${name}' is not a constant`);
    const values = broadcastValues(constant, normalizedShape);
    if (values === null) throw context.unsupported(node, `${what} '${name}' ${shapeText(constant.dims)} does not broadcast to the normalised shape ${shapeText(normalizedShape)}`);
    return values;
  };
  const weight = broadcast(affine.scale, 'the scale');
  const bias = broadcast(affine.bias, 'the shift');
  const { dtype, backend } = context.where;
  const hasAffine = weight !== undefined || bias !== undefined;
  const layer = new LayerNorm(normalizedShape, { eps, elementwiseAffine: hasAffine, dtype, backend });
  if (hasAffine) {
    const size = normalizedShape.reduce((a, b) => a * b, 1);
    loadValues(layer, { weight: weight ?? new Float64Array(size).fill(1), bias: bias ?? new Float64Array(size) });
  }
  return { layers: [layer], output: { name: outputName, shape: x.shape }, consumed };
}
