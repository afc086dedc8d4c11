import {
  arange, argmax, cast, equal, logSoftmax, neg, reshape, slice, softmax, sub, type Tensor,
} from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import type { Value } from '../../value.js';
import { FLOAT_TYPES, NUMERIC_TYPES, expectType, output } from '../elementwise/common.js';

/** ArgMax and ArgMin (int64 indices), and Softmax, LogSoftmax and Hardmax along an axis. */

/** `axis` of a rank-`rank` tensor, normalised; `allowRank` accepts axis == rank (the opset < 13 coercion's empty inner part). */
export function axisOf(ctx: OpContext, axis: number, rank: number, allowRank = false): number {
  const hi = allowRank ? rank : rank - 1;
  if (!Number.isInteger(axis) || axis < -rank || axis > hi) throw ctx.error('OUT_OF_RANGE', `axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** x reversed along `axis` (a view). */
export function flip(x: Tensor, axis: number): Tensor {
  return slice(x, x.shape.map((n, d) => (d === axis ? n - 1 : 0)), x.shape.map(() => null), x.shape.map((_, d) => (d === axis ? -1 : 1)));
}

/** Values whose argmax is x's argmin: negated, in a dtype wide enough that negation cannot wrap. */
function negated(x: Tensor): Tensor {
  if (x.dtype === 'int8' || x.dtype === 'uint8') return neg(cast(x, 'int32'));
  if (x.dtype === 'int32') return neg(cast(x, 'float64'));
  return neg(x);
}

function argExtreme(ctx: OpContext, largest: boolean): Value {
  expectType(ctx, 0, NUMERIC_TYPES);
  const x = ctx.tensor(0);
  const axis = axisOf(ctx, ctx.attrs.int('axis', 0), x.rank);
  const keepDims = ctx.attrs.int('keepdims', 1) !== 0;
  const last = ctx.opset >= 12 && ctx.attrs.int('select_last_index', 0) !== 0;
  const n = x.shape[axis];
  if (n === 0) throw ctx.error('INVALID_ARGUMENT', `cannot take the ${largest ? 'max' : 'min'} of an empty axis ${axis} of shape [${x.shape.join(',')}]`);
  let values = largest ? x : negated(x);
  if (last) values = flip(values, axis);
  // argmax gives the first index of the maximum (a NaN counting as the maximum), as numpy does.
  let index = argmax(values, axis, keepDims);
  if (last) index = sub(n - 1, index);
  return output(ctx, index, DataType.INT64);
}

/**
 * Runs `fn` along the node's axis. Before opset 13 the input is coerced to 2-D at `axis` (default
 * 1) and `fn` runs over the second dim; from 13 it runs along the one axis (default -1).
 */
function alongAxis(ctx: OpContext, fn: (x: Tensor, axis: number) => Tensor): Value {
  const type = expectType(ctx, 0, FLOAT_TYPES);
  const x = ctx.tensor(0);
  if (ctx.opset < 13) {
    const axis = axisOf(ctx, ctx.attrs.int('axis', 1), x.rank, true);
    if (x.size === 0) return ctx.input(0);
    const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    return output(ctx, reshape(fn(reshape(x, [outer, x.size / outer]), 1), x.shape), type);
  }
  const axis = axisOf(ctx, ctx.attrs.int('axis', -1), x.rank);
  if (x.size === 0) return ctx.input(0);
  return output(ctx, fn(x, axis), type);
}

/** 1 at the first maximum along `axis`, 0 elsewhere, in x's dtype. */
function hardmax(x: Tensor, axis: number): Tensor {
  const positions = reshape(arange(0, x.shape[axis], 1, { dtype: 'int32', backend: x.backend.name }), x.shape.map((n, d) => (d === axis ? n : 1)));
  return cast(equal(positions, argmax(x, axis, true)), x.dtype);
}

export const normalizeOperators: OperatorTable = {
  ArgMax: { run: (ctx) => [argExtreme(ctx, true)] },
  ArgMin: { run: (ctx) => [argExtreme(ctx, false)] },
  Softmax: { run: (ctx) => [alongAxis(ctx, softmax)] },
  LogSoftmax: { run: (ctx) => [alongAxis(ctx, logSoftmax)] },
  Hardmax: { run: (ctx) => [alongAxis(ctx, hardmax)] },
};
