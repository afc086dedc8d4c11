import {
  abs, add, cast, decodeBFloat16, decodeFloat16, div, encodeBFloat16, encodeFloat16, floor, fromArray, less, max, min, mul, sign, sub, where,
  type Tensor,
} from '@minnow/core';
import { AttributeType, DataType } from '../../../ir/types.js';
import { isComputable, isFloatType } from '../../dtypes.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import type { Value } from '../../value.js';
import { UNSIGNED_INT_TYPES, computeType, output, readable, typeName } from './common.js';

/**
 * Cast and CastLike over every type minnow computes. Values ride on minnow's compute dtypes (see
 * dtypes.ts), so each target gets what numpy's astype would give it: float16 and bfloat16 are
 * rounded to their precision (held in float32), the 16- and 4-bit integers wrap to their width, and
 * a value the int32 that carries int64/uint32/uint64 cannot hold is an error, not a wrapped number.
 */

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The integer types computed in a wider dtype: [lowest value, number of values]. */
const NARROW: Readonly<Record<number, readonly [number, number]>> = {
  [DataType.INT16]: [-32768, 65536],
  [DataType.UINT16]: [0, 65536],
  [DataType.INT4]: [-8, 16],
  [DataType.UINT4]: [0, 16],
};

/** The `to` attribute: a type number, or before opset 6 a type name ('FLOAT', 'INT64' ...). */
function targetOf(ctx: OpContext): number {
  const raw = ctx.attrs.raw('to');
  if (raw === undefined) throw ctx.error('INVALID_MODEL', "attribute 'to' is required");
  const isString = raw.type === AttributeType.STRING || ((raw.type === undefined || raw.type === AttributeType.UNDEFINED) && raw.s !== undefined);
  if (!isString) return ctx.attrs.int('to');
  const name = ctx.attrs.string('to').toUpperCase();
  const type = (DataType as Readonly<Record<string, number>>)[name];
  if (type === undefined) throw ctx.error('INVALID_ARGUMENT', `'to' names no ONNX type: '${name}'`);
  return type;
}

/** float32 values rounded to float16 or bfloat16 precision (still float32), on the host. */
function roundToHalf(ctx: OpContext, t: Tensor, type: number): Tensor {
  if (!readable(ctx, t)) return t;
  const values = t.dataSync() as Float32Array;
  const rounded = type === DataType.FLOAT16 ? decodeFloat16(encodeFloat16(values)) : decodeBFloat16(encodeBFloat16(values));
  return fromArray(rounded, t.shape, { dtype: 'float32', backend: t.backend.name });
}

/** Integers (int32) reduced into [lo, lo + span), as two's complement wraps them; span divides 2^32, so an int32 wrap on the way changes nothing. */
function wrapInto(t: Tensor, lo: number, span: number): Tensor {
  const m = sub(t, lo);
  const r = sub(m, mul(div(m, span), span));
  return add(where(less(r, 0), add(r, span), r), lo);
}

/** Checks that `t` (truncated source values) lies in [lo, INT32_MAX], the part of the target type minnow holds. */
function checkRange(ctx: OpContext, t: Tensor, lo: number, target: number): void {
  if (t.size === 0 || !readable(ctx, t)) return;
  const top = max(t).itemSync();
  const bottom = min(t).itemSync();
  if (top > INT32_MAX || bottom < lo) {
    const what = bottom < lo ? bottom : top;
    throw ctx.error('PRECISION_LIMIT', `value ${what} cast to ${typeName(target)} is beyond the ${lo === 0 ? 'non-negative ' : ''}int32 range minnow computes ${typeName(target)} in`);
  }
}

function castValue(ctx: OpContext, target: number): Value {
  const source = ctx.input(0);
  if (source.elemType === target) return source;
  if (!isComputable(target)) throw ctx.error('UNSUPPORTED_DTYPE', `cast to ${typeName(target)} is not supported (minnow does not compute ${typeName(target)})`);
  const dtype = computeType(ctx, target);
  const x = ctx.tensor(0);
  const fromFloat = isFloatType(source.elemType);
  if (target === DataType.FLOAT16 || target === DataType.BFLOAT16) return output(ctx, roundToHalf(ctx, cast(x, 'float32'), target), target);
  const narrow = NARROW[target];
  if (narrow !== undefined) return output(ctx, cast(wrapInto(cast(x, 'int32'), narrow[0], narrow[1]), dtype), target);
  if (target === DataType.INT64 || target === DataType.UINT32 || target === DataType.UINT64) {
    const unsigned = target !== DataType.INT64;
    // Only float sources can exceed int32, and only signed ones can be negative.
    if (fromFloat) checkRange(ctx, mul(sign(x), floor(abs(x))), unsigned ? 0 : INT32_MIN, target);
    else if (unsigned && !UNSIGNED_INT_TYPES.includes(source.elemType) && source.elemType !== DataType.BOOL) checkRange(ctx, x, 0, target);
  }
  return output(ctx, cast(x, dtype), target);
}

export const castOperators: OperatorTable = {
  Cast: { run: (ctx) => [castValue(ctx, targetOf(ctx))] },
  CastLike: { sinceVersion: 15, run: (ctx) => [castValue(ctx, ctx.input(1).elemType)] },
};
