import {
  abs, add, broadcastShapes, div, exp, formatShape, gelu, less, maximum, minimum, mul, neg, reciprocal, reshape, shapesEqual, sub, tanh, where,
  type Tensor,
} from '@minnow/core';
import type { OpContext, OperatorTable } from '../../operator.js';
import type { Value } from '../../value.js';
import { scalarConstant } from '../../constants.js';
import { FLOAT_TYPES, NUMERIC_TYPES, expectType, expm1, log1p, output, typeName, unsupportedAttribute, viaFloat } from './common.js';

/** The activation operators, with the ONNX spec's attribute defaults. */

/** A float-only activation of x and the node's context (for its attributes). */
const activation = (fn: (x: Tensor, ctx: OpContext) => Tensor, sinceVersion = 1) => ({
  sinceVersion,
  run: (ctx: OpContext): Value[] => {
    const type = ctx.steady(() => expectType(ctx, 0, FLOAT_TYPES));
    return [output(ctx, fn(ctx.tensor(0), ctx), type)];
  },
});

/** log(1 + e^x) as max(x, 0) + log1p(e^-|x|): no overflow, and exact-looking tails for very negative x. */
const softplus = (x: Tensor): Tensor => add(maximum(x, 0), log1p(exp(neg(abs(x)))));

const hardSigmoid = (x: Tensor, alpha: number, beta: number): Tensor => maximum(minimum(add(mul(x, alpha), beta), 1), 0);

const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

function prelu(ctx: OpContext): Value {
  const type = expectType(ctx, 0, NUMERIC_TYPES);
  const slopeType = expectType(ctx, 1, NUMERIC_TYPES);
  if (slopeType !== type) throw ctx.error('DTYPE_MISMATCH', `slope is ${typeName(slopeType)} but X is ${typeName(type)}`);
  const x = ctx.tensor(0);
  let slope = ctx.tensor(1);
  // Before opset 7 a 1-D slope of C values is per channel (dim 1), as Caffe's and PyTorch's PReLU.
  if (ctx.opset < 7 && slope.rank === 1 && slope.size > 1 && x.rank >= 2 && slope.size === x.shape[1]) {
    slope = reshape(slope, [slope.size, ...new Array<number>(x.rank - 2).fill(1)]);
  }
  // From opset 7, unidirectional: the slope broadcasts to X, never X to the slope.
  if (!shapesEqual(broadcastShapes('PRelu', x.shape, slope.shape), x.shape)) {
    throw ctx.error('SHAPE_MISMATCH', `slope ${formatShape(slope.shape)} does not broadcast to X ${formatShape(x.shape)}`);
  }
  return output(ctx, where(less(x, 0), mul(x, slope), x), type);
}

export const activationOperators: OperatorTable = {
  Relu: {
    run: (ctx) => {
      const x = ctx.tensor(0);
      // The plan holds the node's memoised 0 (both live as long as the node's state).
      const { type, zero } = ctx.steady(() => ({ type: expectType(ctx, 0, ctx.opset >= 14 ? NUMERIC_TYPES : FLOAT_TYPES), zero: scalarConstant(ctx, 0, x.dtype) }));
      return [output(ctx, maximum(x, zero), type)];
    },
  },
  LeakyRelu: activation((x, ctx) => where(less(x, 0), mul(x, ctx.attrs.float('alpha', 0.01)), x)),
  PRelu: { run: (ctx) => [prelu(ctx)] },
  // sigmoid from core, with its 1 made once per node (see scalarConstant).
  Sigmoid: {
    run: (ctx) => {
      const x = ctx.tensor(0);
      const { type, one } = ctx.steady(() => ({ type: expectType(ctx, 0, FLOAT_TYPES), one: scalarConstant(ctx, 1, x.dtype) }));
      return [output(ctx, reciprocal(add(exp(neg(x)), one)), type)];
    },
  },
  HardSigmoid: activation((x, ctx) => hardSigmoid(x, ctx.attrs.float('alpha', 0.2), ctx.attrs.float('beta', 0.5))),
  HardSwish: activation((x) => mul(x, hardSigmoid(x, 1 / 6, 0.5)), 14),
  Tanh: activation((x) => tanh(x)),
  Elu: activation((x, ctx) => where(less(x, 0), mul(expm1(x), ctx.attrs.float('alpha', 1)), x)),
  Selu: activation((x, ctx) => {
    const alpha = ctx.attrs.float('alpha', SELU_ALPHA);
    const gamma = ctx.attrs.float('gamma', SELU_GAMMA);
    return mul(where(less(0, x), x, mul(expm1(x), alpha)), gamma);
  }),
  Celu: activation((x, ctx) => {
    const alpha = ctx.attrs.float('alpha', 1);
    if (alpha === 0) throw ctx.error('INVALID_ARGUMENT', 'alpha must not be 0');
    return add(maximum(x, 0), minimum(mul(expm1(div(x, alpha)), alpha), 0));
  }, 12),
  Softplus: activation(softplus),
  Softsign: activation((x) => div(x, add(abs(x), 1))),
  ThresholdedRelu: activation((x, ctx) => where(less(ctx.attrs.float('alpha', 1), x), x, 0), 10),
  Shrink: {
    sinceVersion: 9,
    run: (ctx) => {
      const bias = ctx.attrs.float('bias', 0);
      const lambd = ctx.attrs.float('lambd', 0.5);
      return [viaFloat(ctx, 0, NUMERIC_TYPES, (x) => where(less(x, -lambd), add(x, bias), where(less(lambd, x), sub(x, bias), 0)))];
    },
  },
  Mish: activation((x) => mul(x, tanh(softplus(x))), 18),
  Gelu: activation((x, ctx) => {
    const approximate = ctx.attrs.string('approximate', 'none');
    if (approximate !== 'none' && approximate !== 'tanh') throw unsupportedAttribute(ctx, 'approximate', approximate);
    return gelu(x, approximate);
  }, 20),
};
