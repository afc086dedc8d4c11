import { MinnowError } from '@minnow/core';
import type { AnyModule, Dropout, Flatten, GELU, LeakyReLU, Linear } from '@minnow/nn';
import { attr } from '../builder.js';
import { describeLayer, dimProduct, formatDims, knownAndNot, unsupportedForm, type LayerConverter } from './converter.js';
import type { Dim } from './graph.js';

/**
 * Converters for the layers that work on the last axis or elementwise: Linear, Flatten, Dropout
 * and the activations. Each reproduces the nn layer's eval-mode forward.
 */

/** y = x W^T + b. Gemm takes only 2-D input; any other rank goes through MatMul, which broadcasts like minnow's matmul. */
export const convertLinear: LayerConverter<Linear> = (layer, x, context) => {
  if (x.shape.length === 0 || knownAndNot(x.shape.at(-1), layer.inFeatures)) throw context.shapeError(x, `[..., ${layer.inFeatures}]`);
  const { graph } = context;
  const weight = graph.weight(layer.weight, context.stateName('weight'));
  const bias = layer.bias ? graph.weight(layer.bias, context.stateName('bias')) : undefined;
  const shape = [...x.shape.slice(0, -1), layer.outFeatures];
  if (x.shape.length === 2) {
    const name = graph.node('Gemm', bias ? [x.name, weight, bias] : [x.name, weight], context.hint('Gemm'), [attr.int('transB', 1)]);
    return { name, shape };
  }
  // The initialiser keeps the state dict's [out, in] layout; runtimes fold this Transpose of a constant.
  const transposed = graph.node('Transpose', [weight], context.hint('weight_t'), [attr.ints('perm', [1, 0])]);
  const product = graph.node('MatMul', [x.name, transposed], context.hint('MatMul'));
  return { name: bias ? graph.node('Add', [product, bias], context.hint('Add')) : product, shape };
};

/**
 * Collapses dims [startDim, endDim] as nn's Flatten does (negative dims count from the end; a
 * rank-0 input counts as rank 1). ONNX's Flatten always makes a matrix, so it only matches when
 * startDim is 1 and endDim the last; other ranges become a Reshape.
 */
export const convertFlatten: LayerConverter<Flatten> = (layer, x, context) => {
  const rank = Math.max(1, x.shape.length);
  const start = layer.startDim < 0 ? layer.startDim + rank : layer.startDim;
  const end = layer.endDim < 0 ? layer.endDim + rank : layer.endDim;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end >= rank || start > end) {
    throw new MinnowError('OUT_OF_RANGE', `exportModule: ${describeLayer(layer, context.path)}: dims ${layer.startDim}..${layer.endDim} do not fit input ${formatDims(x.shape)}`);
  }
  const dims: readonly Dim[] = x.shape.length === 0 ? [1] : x.shape;
  const shape: Dim[] = [...dims.slice(0, start), dimProduct(dims.slice(start, end + 1)), ...dims.slice(end + 1)];
  const { graph } = context;
  if (x.shape.length > 0 && start === end) return x; // nothing to merge: nn returns a view of the same shape
  if (start === 1 && end === rank - 1) {
    return { name: graph.node('Flatten', [x.name], context.hint('Flatten'), [attr.int('axis', 1)]), shape };
  }
  // Reshape's target: 0 copies a leading dim unknown here (the batch), -1 stands for the one merged or trailing dim that is.
  let inferred = false;
  const target = shape.map((d, i) => {
    if (typeof d === 'number') return d;
    if (i < start) return 0;
    if (inferred) throw unsupportedForm(context, layer, `Reshape of ${x.shape.length}-D input with more than one dim unknown at export time`);
    inferred = true;
    return -1;
  });
  const shapeName = graph.int64s(context.hint('shape'), target);
  return { name: graph.node('Reshape', [x.name, shapeName], context.hint('Reshape')), shape };
};

/** Dropout is the identity in eval mode: no node at all, the value passes through. */
export const convertDropout: LayerConverter<Dropout> = (_layer, x) => x;

/** An elementwise ONNX op with no attributes (Relu, Sigmoid, Tanh). */
export function unaryConverter<M extends AnyModule>(opType: string): LayerConverter<M> {
  return (_layer, x, context) => ({ name: context.graph.node(opType, [x.name], context.hint(opType)), shape: x.shape });
}

export const convertLeakyReLU: LayerConverter<LeakyReLU> = (layer, x, context) => ({
  name: context.graph.node('LeakyRelu', [x.name], context.hint('LeakyRelu'), [attr.float('alpha', layer.negativeSlope)]),
  shape: x.shape,
});

/**
 * GELU, exact (erf) or tanh-approximated as the layer says. Opset 20 has a Gelu op; before it the
 * formula is spelled out in the same order of operations as core's gelu.
 */
export const convertGELU: LayerConverter<GELU> = (layer, x, context) => {
  const { graph } = context;
  if (graph.opset >= 20) {
    return { name: graph.node('Gelu', [x.name], context.hint('Gelu'), [attr.string('approximate', layer.approximate)]), shape: x.shape };
  }
  const scalar = (what: string, value: number): string => graph.floats(context.hint(what), [value], []);
  const half = graph.node('Mul', [x.name, scalar('half', 0.5)], context.hint('half_x'));
  let inner: string;
  if (layer.approximate === 'tanh') {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const cube = graph.node('Mul', [x.name, graph.node('Mul', [x.name, x.name], context.hint('x2'))], context.hint('x3'));
    const cubic = graph.node('Add', [x.name, graph.node('Mul', [cube, scalar('coefficient', 0.044715)], context.hint('cubic'))], context.hint('poly'));
    inner = graph.node('Tanh', [graph.node('Mul', [cubic, scalar('sqrt_2_over_pi', Math.sqrt(2 / Math.PI))], context.hint('scaled'))], context.hint('Tanh'));
  } else {
    // 0.5 x (1 + erf(x / sqrt 2))
    inner = graph.node('Erf', [graph.node('Mul', [x.name, scalar('sqrt1_2', Math.SQRT1_2)], context.hint('scaled'))], context.hint('Erf'));
  }
  const onePlus = graph.node('Add', [inner, scalar('one', 1)], context.hint('one_plus'));
  return { name: graph.node('Mul', [half, onePlus], context.hint('Gelu')), shape: x.shape };
};
