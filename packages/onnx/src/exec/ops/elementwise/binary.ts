import {
  abs, add, cast, div, equal, floor, full, less, max, maximum, minimum, mul, pow, reshape, round, sign, sub, where, type Tensor,
} from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import { isFloatType } from '../../dtypes.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import type { Value } from '../../value.js';
import {
  FLOAT_TYPES, NUMERIC_TYPES, UNSIGNED_INT_TYPES, binaryOperands, expectType, output, readable, typeName,
} from './common.js';

/** Pow, Mod, BitShift, Where, Clip and the variadic Max, Min, Sum and Mean. */

const FLT_MAX = 3.4028234663852886e38;
const INT32_MAX = 2147483647;

/** Input `i`'s type, which must equal input 0's (`allowed` checked on both). */
function sameAsFirst(ctx: OpContext, i: number, allowed: readonly number[]): number {
  const first = expectType(ctx, 0, allowed);
  const type = expectType(ctx, i, allowed);
  if (type !== first) throw ctx.error('DTYPE_MISMATCH', `input ${i} is ${typeName(type)} but input 0 is ${typeName(first)}; ${ctx.node.opType} needs one type`);
  return type;
}

const and = (a: Tensor, b: Tensor): Tensor => where(a, b, false);

/** x truncated toward zero. */
const trunc = (x: Tensor): Tensor => mul(sign(x), floor(abs(x)));

/**
 * C's fmod (the sign of the dividend), in float64 for float32 inputs so the quotient's rounding
 * cannot push trunc(a / b) across an integer. A finite a over an infinite b is a itself.
 */
function floatFmod(a: Tensor, b: Tensor): Tensor {
  const wide = a.dtype === 'float32';
  const x = wide ? cast(a, 'float64') : a;
  const y = wide ? cast(b, 'float64') : b;
  const r = sub(x, mul(y, trunc(div(x, y))));
  const fixed = where(equal(abs(y), Infinity), where(less(abs(x), Infinity), x, NaN), r);
  return wide ? cast(fixed, 'float32') : fixed;
}

/** Integer remainder: the dividend's sign (fmod) or the divisor's (Python's %); 0 where b is 0, as numpy gives. */
function intMod(a: Tensor, b: Tensor, fmod: boolean): Tensor {
  const zero = equal(b, 0);
  const safe = where(zero, 1, b);
  let r = sub(a, mul(safe, div(a, safe)));
  if (!fmod) {
    const signsDiffer = equal(equal(less(r, 0), less(safe, 0)), false);
    r = where(and(equal(equal(r, 0), false), signsDiffer), add(r, safe), r);
  }
  return where(zero, 0, r);
}

/** Bit widths of the unsigned types BitShift takes. */
const WIDTH: Readonly<Record<number, number>> = {
  [DataType.UINT8]: 8, [DataType.UINT16]: 16, [DataType.UINT32]: 32, [DataType.UINT64]: 64, [DataType.UINT4]: 4,
};

/**
 * BitShift as arithmetic in float64, exact for these magnitudes: x * 2^s reduced modulo 2^width
 * (left) or floor(x / 2^s) (right). Shifts of the width or more give 0, as numpy does.
 */
function bitShift(ctx: OpContext): Value {
  const type = sameAsFirst(ctx, 1, UNSIGNED_INT_TYPES);
  const direction = ctx.attrs.string('direction');
  if (direction !== 'LEFT' && direction !== 'RIGHT') throw ctx.error('INVALID_ARGUMENT', `direction must be LEFT or RIGHT, got '${direction}'`);
  const [a, b] = binaryOperands(ctx);
  const x = cast(a, 'float64');
  const s = cast(b, 'float64');
  const width = WIDTH[type];
  // round(): pow of exact small integers is exact on a correct libm; this guards a sloppy one.
  const scale = round(pow(full([], 2, { dtype: 'float64', backend: a.backend.name }), s));
  let r: Tensor;
  if (direction === 'RIGHT') r = floor(div(x, scale));
  else {
    const v = mul(x, scale);
    const modulus = 2 ** width;
    r = where(less(s, width), sub(v, mul(floor(div(v, modulus)), modulus)), 0);
  }
  if (width >= 32 && readable(ctx, r) && r.size > 0 && max(r).itemSync() > INT32_MAX) {
    throw ctx.error('PRECISION_LIMIT', `a ${typeName(type)} result exceeds ${INT32_MAX}, beyond the int32 minnow computes ${typeName(type)} in`);
  }
  return output(ctx, cast(r, a.dtype), type);
}

/** A Clip bound given as input `i`: one element of x's type, as a scalar so it cannot change x's shape. */
function bound(ctx: OpContext, i: number): Tensor | undefined {
  if (!ctx.has(i)) return undefined;
  sameAsFirst(ctx, i, NUMERIC_TYPES);
  const t = ctx.tensor(i);
  if (t.size !== 1) throw ctx.error('INVALID_ARGUMENT', `input ${i} (a bound) must hold one value, it has shape [${t.shape.join(',')}]`);
  return reshape(t, []);
}

function clip(ctx: OpContext): Value {
  if (ctx.opset < 11) {
    // Before opset 11 the bounds are attributes, defaulting to float's extremes (so +inf clips to FLT_MAX).
    const type = expectType(ctx, 0, FLOAT_TYPES);
    const lo = ctx.attrs.float('min', -FLT_MAX);
    const hi = ctx.attrs.float('max', FLT_MAX);
    return output(ctx, minimum(maximum(ctx.tensor(0), lo), hi), type);
  }
  const type = expectType(ctx, 0, ctx.opset >= 12 ? NUMERIC_TYPES : FLOAT_TYPES);
  const lo = bound(ctx, 1);
  const hi = bound(ctx, 2);
  let y = ctx.tensor(0);
  // numpy.clip: maximum first, then minimum, so a lower bound above the upper gives the upper.
  if (lo !== undefined) y = maximum(y, lo);
  if (hi !== undefined) y = minimum(y, hi);
  return output(ctx, y, type);
}

/** Max, Min, Sum, Mean: one or more inputs of one type, broadcast together. */
const variadic = (allowed: readonly number[], combine: (a: Tensor, b: Tensor) => Tensor, finish?: (t: Tensor, n: number) => Tensor) => ({
  run: (ctx: OpContext): Value[] => {
    const n = ctx.inputCount;
    if (n === 0) throw ctx.error('INVALID_MODEL', 'takes at least one input');
    const type = expectType(ctx, 0, allowed);
    let acc = ctx.tensor(0);
    for (let i = 1; i < n; i++) {
      sameAsFirst(ctx, i, allowed);
      acc = combine(acc, ctx.tensor(i));
    }
    return [output(ctx, finish ? finish(acc, n) : acc, type)];
  },
});

export const binaryOperators: OperatorTable = {
  Pow: {
    run: (ctx) => {
      const baseType = expectType(ctx, 0, NUMERIC_TYPES);
      const exponentType = expectType(ctx, 1, NUMERIC_TYPES);
      const [a, b] = binaryOperands(ctx);
      if (isFloatType(baseType)) return [output(ctx, pow(a, b.dtype === a.dtype ? b : cast(b, a.dtype)), baseType)];
      // Integer bases: computed in float64 and converted back as numpy's astype does (an integer
      // exponent gives an integer, rounded against libm error; a float exponent truncates).
      const r = pow(cast(a, 'float64'), cast(b, 'float64'));
      return [output(ctx, cast(isFloatType(exponentType) ? r : round(r), a.dtype), baseType)];
    },
  },
  Mod: {
    sinceVersion: 10,
    run: (ctx) => {
      const type = sameAsFirst(ctx, 1, NUMERIC_TYPES);
      const fmod = ctx.attrs.int('fmod', 0);
      if (fmod !== 0 && fmod !== 1) throw ctx.error('INVALID_ARGUMENT', `fmod must be 0 or 1, got ${fmod}`);
      const [a, b] = binaryOperands(ctx);
      if (isFloatType(type)) {
        if (fmod === 0) throw ctx.error('INVALID_MODEL', `fmod must be 1 for ${typeName(type)} inputs (the spec defines integer mod only for integers)`);
        return [output(ctx, floatFmod(a, b), type)];
      }
      return [output(ctx, intMod(a, b, fmod === 1), type)];
    },
  },
  BitShift: { sinceVersion: 11, run: (ctx) => [bitShift(ctx)] },
  Where: {
    sinceVersion: 9,
    run: (ctx) => {
      expectType(ctx, 0, [DataType.BOOL]);
      const type = ctx.input(1).elemType;
      if (ctx.input(2).elemType !== type) {
        throw ctx.error('DTYPE_MISMATCH', `X is ${typeName(type)} but Y is ${typeName(ctx.input(2).elemType)}; Where needs one type`);
      }
      return [output(ctx, where(ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)), type)];
    },
  },
  Clip: { run: (ctx) => [clip(ctx)] },
  Max: variadic(NUMERIC_TYPES, maximum),
  Min: variadic(NUMERIC_TYPES, minimum),
  Sum: variadic(NUMERIC_TYPES, add),
  Mean: variadic(FLOAT_TYPES, add, (t, n) => div(t, n)),
};
