import {
  MinnowError, abs, add, cast, equal, exp, formatShape, less, log, mul, reshape, shapesEqual, where, type DType, type Tensor,
} from '@minnow/core';
import { dataTypeName } from '../../../ir/tensor.js';
import { DataType } from '../../../ir/types.js';
import { computeDType, isFloatType } from '../../dtypes.js';
import { META_BACKEND } from '../../meta-backend.js';
import type { OpContext } from '../../operator.js';
import { aliasTensor, Value } from '../../value.js';

/**
 * Helpers shared by the elementwise, reduction and loss operators: type checks that name the node,
 * outputs typed explicitly, the legacy (opset < 7) broadcast attributes, and the few numerically
 * careful compositions (expm1, log1p) that several activations need.
 */

export const FLOAT_TYPES: readonly number[] = [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16];
export const SIGNED_INT_TYPES: readonly number[] = [DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.INT4];
export const UNSIGNED_INT_TYPES: readonly number[] = [DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64, DataType.UINT4];
export const INT_TYPES: readonly number[] = [...SIGNED_INT_TYPES, ...UNSIGNED_INT_TYPES];
export const NUMERIC_TYPES: readonly number[] = [...FLOAT_TYPES, ...INT_TYPES];
export const SIGNED_TYPES: readonly number[] = [...FLOAT_TYPES, ...SIGNED_INT_TYPES];

const describeTypes = (types: readonly number[]): string => {
  if (types === FLOAT_TYPES) return 'floating-point tensors';
  if (types === NUMERIC_TYPES) return 'numeric tensors';
  if (types === INT_TYPES) return 'integer tensors';
  if (types === UNSIGNED_INT_TYPES) return 'unsigned integer tensors';
  if (types === SIGNED_TYPES) return 'signed numeric tensors';
  return types.map(dataTypeName).join(', ');
};

/** Input `i`'s ONNX element type, checked to be one of `allowed` (UNSUPPORTED_DTYPE naming the node otherwise). */
export function expectType(ctx: OpContext, i: number, allowed: readonly number[]): number {
  const type = ctx.input(i).elemType;
  if (!allowed.includes(type)) {
    throw ctx.error('UNSUPPORTED_DTYPE', `input ${i} is ${dataTypeName(type)}; ${ctx.node.opType} takes ${describeTypes(allowed)}`);
  }
  return type;
}

/** Input `i` as a tensor, its type checked against `allowed`. */
export function typedInput(ctx: OpContext, i: number, allowed: readonly number[]): Tensor {
  expectType(ctx, i, allowed);
  return ctx.tensor(i);
}

/**
 * `t` as an output of ONNX type `elemType`. The runner types a bare tensor after input 0, which is
 * wrong whenever the output's type is another input's or a new one; and a tensor that is an input's
 * own is aliased so the two values can be disposed separately.
 */
export function output(ctx: OpContext, t: Tensor, elemType: number): Value {
  for (let i = 0; i < ctx.inputCount; i++) {
    if (ctx.has(i) && ctx.input(i).deviceTensor === t) return Value.fromTensor(aliasTensor(t), elemType);
  }
  return Value.fromTensor(t, elemType);
}

export const computeType = (ctx: OpContext, elemType: number): DType => computeDType(elemType, ctx.label);

/** Whether values of `t` can be read back now (not on the shape-only backend, nor an async-only one). */
export function readable(ctx: OpContext, t: Tensor): boolean {
  return ctx.backend !== META_BACKEND && t.backend.info().syncRead !== false;
}

/**
 * Runs a floating-point formula on input `i`: float inputs directly, integer inputs (where the op
 * allows them) in float64 with the result truncated back to the input's type, as numpy's astype does.
 */
export function viaFloat(ctx: OpContext, i: number, allowed: readonly number[], fn: (x: Tensor) => Tensor): Value {
  const type = expectType(ctx, i, allowed);
  const x = ctx.tensor(i);
  if (isFloatType(type)) return output(ctx, fn(x), type);
  return output(ctx, cast(fn(cast(x, 'float64')), x.dtype), type);
}

/**
 * The two operands of a binary op. From opset 7 they broadcast as numpy does; before, `broadcast=1`
 * lets B broadcast to A (aligned at `axis` when given, else at the trailing dims) and without it the
 * shapes must be equal.
 */
export function binaryOperands(ctx: OpContext): [Tensor, Tensor] {
  const a = ctx.tensor(0);
  const b = ctx.tensor(1);
  if (ctx.opset >= 7) return [a, b];
  if (ctx.attrs.int('broadcast', 0) === 0) {
    if (!shapesEqual(a.shape, b.shape)) {
      throw ctx.error('SHAPE_MISMATCH', `shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} differ and broadcast is 0 (opset ${ctx.opset})`);
    }
    return [a, b];
  }
  if (!ctx.attrs.has('axis')) return [a, b];
  let axis = ctx.attrs.int('axis');
  if (axis < 0) axis += a.rank;
  if (axis < 0 || axis + b.rank > a.rank) {
    throw ctx.error('INVALID_ARGUMENT', `axis ${ctx.attrs.int('axis')} cannot align B ${formatShape(b.shape)} inside A ${formatShape(a.shape)}`);
  }
  return [a, reshape(b, [...b.shape, ...new Array<number>(a.rank - axis - b.rank).fill(1)])];
}

/** Logical not of a bool tensor. */
export const not = (x: Tensor): Tensor => equal(x, false);

/** Polynomial c[0] + c[1] x + ... by Horner's rule. */
function polynomial(x: Tensor, coefficients: readonly number[]): Tensor {
  let acc = mul(x, coefficients[coefficients.length - 1]);
  for (let i = coefficients.length - 2; i > 0; i--) acc = mul(add(acc, coefficients[i]), x);
  return add(acc, coefficients[0]);
}

/**
 * e^x - 1 without the cancellation of exp(x) - 1 near 0 (which loses all digits below 1e-7 in
 * float32): its Taylor series to x^7 for |x| < 0.1 (truncation below 1e-10 relative), exp(x) - 1 elsewhere.
 */
export function expm1(x: Tensor): Tensor {
  const series = mul(polynomial(x, [1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040]), x);
  return where(less(abs(x), 0.1), series, add(exp(x), -1));
}

/** log(1 + u) accurate near 0: its series to u^6 for |u| < 0.01, log(1 + u) elsewhere. */
export function log1p(u: Tensor): Tensor {
  const series = mul(polynomial(u, [1, -1 / 2, 1 / 3, -1 / 4, 1 / 5, -1 / 6]), u);
  return where(less(abs(u), 0.01), series, log(add(u, 1)));
}

/** An ONNX type name for messages. */
export const typeName = (elemType: number): string => dataTypeName(elemType);

/** A MinnowError for an attribute value minnow does not implement. */
export function unsupportedAttribute(ctx: OpContext, name: string, value: unknown): MinnowError {
  return ctx.error('UNSUPPORTED_OP', `attribute ${name}=${JSON.stringify(value)} is not supported`);
}
