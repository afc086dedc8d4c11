import {
  abs, cast, div, full, log, logsumexp, max, min, mul, pad, reshape, slice, sqrt, sum, type DType, type Tensor,
} from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import { isFloatType } from '../../dtypes.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import type { Value } from '../../value.js';
import { scalarConstant } from '../../constants.js';
import { NUMERIC_TYPES, expectType, output, typeName } from '../elementwise/common.js';

/**
 * The Reduce* operators. Their axes are an attribute until opset 18 (ReduceSum: 13) and an optional
 * input from then on, where `noop_with_empty_axes` makes "no axes" the identity instead of "all
 * axes". A reduction over an empty dim gives the reduction's identity (0 for sums, 1 for the
 * product, the type's lowest value for max, ...), as the ONNX reference does.
 */

/** What one reduction computes over `axes` (sorted, non-empty dims) of x. */
interface Reduction {
  readonly types: readonly number[];
  /** Opset from which axes is an input. */
  readonly axesInputFrom: number;
  /** The value of the reduction over no elements, for a tensor of ONNX type `elemType`. */
  identity(elemType: number, ctx: OpContext): number;
  compute(x: Tensor, axes: number[], keepDims: boolean, ctx: OpContext): Tensor;
}

/** x's axes to reduce, or null when the node is the identity (no axes and noop_with_empty_axes). */
function reduceAxes(ctx: OpContext, rank: number, axesInputFrom: number): number[] | null {
  let axes: number[] | undefined;
  const asInput = ctx.opset >= axesInputFrom;
  if (asInput) {
    if (ctx.attrs.has('axes')) throw ctx.error('INVALID_MODEL', `axes is an input from opset ${axesInputFrom}, not an attribute (the model imports opset ${ctx.opset})`);
    axes = ctx.optionalInts(1);
  } else {
    axes = ctx.attrs.has('axes') ? ctx.attrs.ints('axes') : undefined;
  }
  if (axes === undefined || axes.length === 0) {
    if (asInput && ctx.attrs.int('noop_with_empty_axes', 0) !== 0) return null;
    return Array.from({ length: rank }, (_, i) => i);
  }
  const normalized = axes.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw ctx.error('OUT_OF_RANGE', `axis ${a} is out of range for rank ${rank}`);
    return a < 0 ? a + rank : a;
  });
  if (new Set(normalized).size !== normalized.length) throw ctx.error('INVALID_ARGUMENT', `axes ${JSON.stringify(axes)} repeat an axis`);
  return normalized.sort((a, b) => a - b);
}

/** Sum in x's own dtype (core accumulates small integers into int32; numpy's dtype=x.dtype wraps them back). */
function sumAs(x: Tensor, axes: number[], keepDims: boolean): Tensor {
  const s = sum(x, { axes, keepDims });
  return s.dtype === x.dtype ? s : cast(s, x.dtype);
}

/** A float formula; integer inputs run in float64 and truncate back, as numpy's astype does. */
const viaFloat = (fn: (x: Tensor, axes: number[], keepDims: boolean) => Tensor) => (x: Tensor, axes: number[], keepDims: boolean): Tensor => {
  if (x.dtype === 'float32' || x.dtype === 'float64') return fn(x, axes, keepDims);
  return cast(fn(cast(x, 'float64'), axes, keepDims), x.dtype);
};

/** Product by halving each axis: log2(n) elementwise multiplies, exact for integers (wrapping as numpy's). */
function product(x: Tensor, axes: number[], keepDims: boolean): Tensor {
  let y = x;
  for (const a of axes) {
    while (y.shape[a] > 1) {
      if (y.shape[a] % 2 === 1) y = pad(y, y.shape.map((_, d) => (d === a ? [0, 1] : [0, 0]) as [number, number]), 1);
      const half = y.shape[a] / 2;
      const zeros = y.shape.map(() => 0);
      const lower = slice(y, zeros, y.shape.map((n, d) => (d === a ? half : n)));
      const upper = slice(y, zeros.map((_, d) => (d === a ? half : 0)), y.shape);
      y = mul(lower, upper);
    }
  }
  return keepDims ? y : reshape(y, y.shape.filter((_, d) => !axes.includes(d)));
}

/** bool tensors reduce as 0/1 bytes. */
const onBytes = (fn: (x: Tensor, axes: number[], keepDims: boolean) => Tensor) => (x: Tensor, axes: number[], keepDims: boolean): Tensor =>
  (x.dtype === 'bool' ? cast(fn(cast(x, 'uint8'), axes, keepDims), 'bool') : fn(x, axes, keepDims));

/** Lowest and highest values of the integer types, where minnow's compute dtype holds them. */
const INT_LIMITS: Readonly<Record<number, readonly [number, number | undefined]>> = {
  [DataType.INT8]: [-128, 127],
  [DataType.UINT8]: [0, 255],
  [DataType.INT16]: [-32768, 32767],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT32]: [-2147483648, 2147483647],
  [DataType.INT4]: [-8, 7],
  [DataType.UINT4]: [0, 15],
  [DataType.BOOL]: [0, 1],
  [DataType.UINT32]: [0, undefined],
  [DataType.UINT64]: [0, undefined],
};

function extreme(elemType: number, ctx: OpContext, highest: boolean): number {
  if (isFloatType(elemType)) return highest ? Infinity : -Infinity;
  const value = INT_LIMITS[elemType]?.[highest ? 1 : 0];
  if (value === undefined) {
    throw ctx.error('PRECISION_LIMIT', `the ${highest ? 'highest' : 'lowest'} ${typeName(elemType)} (the value of an empty reduction) is beyond the int32 minnow computes it in`);
  }
  return value;
}

const constant = (value: number) => (): number => value;

const REDUCTIONS: Readonly<Record<string, Reduction>> = {
  ReduceSum: { types: NUMERIC_TYPES, axesInputFrom: 13, identity: constant(0), compute: sumAs },
  ReduceSumSquare: { types: NUMERIC_TYPES, axesInputFrom: 18, identity: constant(0), compute: (x, axes, k) => sumAs(mul(x, x), axes, k) },
  ReduceL1: { types: NUMERIC_TYPES, axesInputFrom: 18, identity: constant(0), compute: (x, axes, k) => sumAs(abs(x), axes, k) },
  ReduceL2: { types: NUMERIC_TYPES, axesInputFrom: 18, identity: constant(0), compute: viaFloat((x, axes, k) => sqrt(sum(mul(x, x), { axes, keepDims: k }))) },
  ReduceLogSum: { types: NUMERIC_TYPES, axesInputFrom: 18, identity: constant(-Infinity), compute: viaFloat((x, axes, k) => log(sum(x, { axes, keepDims: k }))) },
  ReduceLogSumExp: { types: NUMERIC_TYPES, axesInputFrom: 18, identity: constant(-Infinity), compute: viaFloat((x, axes, k) => logsumexp(x, { axes, keepDims: k })) },
  ReduceMean: {
    types: NUMERIC_TYPES,
    axesInputFrom: 18,
    identity: constant(NaN),
    // The count as a per-node constant (scalarConstant), not a number operand made into a tensor each run.
    compute: (x, axes, k, ctx) => viaFloat((y) => div(sum(y, { axes, keepDims: k }), scalarConstant(ctx, axes.reduce((n, a) => n * y.shape[a], 1), y.dtype)))(x, axes, k),
  },
  ReduceProd: { types: NUMERIC_TYPES, axesInputFrom: 18, identity: constant(1), compute: product },
  ReduceMax: {
    types: [...NUMERIC_TYPES, DataType.BOOL],
    axesInputFrom: 18,
    identity: (t, ctx) => extreme(t, ctx, false),
    compute: onBytes((x, axes, k) => max(x, { axes, keepDims: k })),
  },
  ReduceMin: {
    types: [...NUMERIC_TYPES, DataType.BOOL],
    axesInputFrom: 18,
    identity: (t, ctx) => extreme(t, ctx, true),
    compute: onBytes((x, axes, k) => min(x, { axes, keepDims: k })),
  },
};

function runReduction(ctx: OpContext, reduction: Reduction): Value {
  const x = ctx.tensor(0);
  const { type, axes, keepDims } = ctx.steady(() => ({
    type: expectType(ctx, 0, reduction.types),
    axes: reduceAxes(ctx, x.rank, reduction.axesInputFrom),
    keepDims: ctx.attrs.int('keepdims', 1) !== 0,
  }));
  if (axes === null) return ctx.input(0);
  if (axes.some((a) => x.shape[a] === 0)) {
    const shape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    return output(ctx, full(shape, reduction.identity(type, ctx), { dtype: x.dtype as DType, backend: x.backend.name }), type);
  }
  return output(ctx, reduction.compute(x, axes, keepDims, ctx), type);
}

export const reductionOperators: OperatorTable = Object.fromEntries(
  Object.entries(REDUCTIONS).map(([name, reduction]) => [name, { run: (ctx: OpContext) => [runReduction(ctx, reduction)] }]),
);
