import {
  abs, add, equal, erf, exp, floor, less, log, mul, neg, reciprocal, round, sign, sqrt, sub, where, type Tensor,
} from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { OperatorTable, OpContext } from '../../operator.js';
import type { Value } from '../../value.js';
import {
  FLOAT_TYPES, NUMERIC_TYPES, SIGNED_TYPES, expm1, log1p, not, output, typedInput, viaFloat,
} from './common.js';

/**
 * One-input math: the primitives themselves, and the hyperbolic functions composed from exp and
 * log with care near 0 and at large |x|. Sin, Cos, Tan and their inverses have no primitive and no
 * sound composition from exp/log/sqrt, so they are not registered (the runner reports them unsupported).
 */

/** A float-only unary op whose output has the input's type. */
const floatUnary = (fn: (x: Tensor) => Tensor, sinceVersion = 1) => ({
  sinceVersion,
  run: (ctx: OpContext): Value[] => [output(ctx, fn(typedInput(ctx, 0, FLOAT_TYPES)), ctx.input(0).elemType)],
});

/** Above this |x|, x^2 overflows float32: asinh and acosh use log(2|x|) there. */
const LARGE = 1e18;

/** asinh(x) = sign(x) log1p(|x| + x^2 / (1 + sqrt(x^2 + 1))), exact in form near 0 and free of overflow. */
function asinh(x: Tensor): Tensor {
  const ax = abs(x);
  const x2 = mul(ax, ax);
  const small = log1p(add(ax, mul(x2, reciprocal(add(sqrt(add(x2, 1)), 1)))));
  const large = add(log(ax), Math.LN2);
  return mul(sign(x), where(less(ax, LARGE), small, large));
}

/** acosh(x) = log1p((x - 1) + sqrt((x - 1)(x + 1))) for x >= 1, NaN below. */
function acosh(x: Tensor): Tensor {
  const t = sub(x, 1);
  const small = log1p(add(t, sqrt(mul(t, add(x, 1)))));
  return where(less(x, LARGE), small, add(log(x), Math.LN2));
}

/** atanh(x) = (log1p(x) - log1p(-x)) / 2. */
const atanh = (x: Tensor): Tensor => mul(sub(log1p(x), log1p(neg(x))), 0.5);

/** sinh(x) = (expm1(x) - expm1(-x)) / 2: no cancellation near 0. */
const sinh = (x: Tensor): Tensor => mul(sub(expm1(x), expm1(neg(x))), 0.5);

const cosh = (x: Tensor): Tensor => mul(add(exp(x), exp(neg(x))), 0.5);

export const unaryOperators: OperatorTable = {
  Abs: { run: (ctx) => [output(ctx, abs(typedInput(ctx, 0, NUMERIC_TYPES)), ctx.input(0).elemType)] },
  Neg: { run: (ctx) => [output(ctx, neg(typedInput(ctx, 0, SIGNED_TYPES)), ctx.input(0).elemType)] },
  Sign: { sinceVersion: 9, run: (ctx) => [output(ctx, sign(typedInput(ctx, 0, NUMERIC_TYPES)), ctx.input(0).elemType)] },
  Reciprocal: floatUnary(reciprocal),
  Sqrt: floatUnary(sqrt),
  Exp: floatUnary(exp),
  Log: floatUnary(log),
  Floor: floatUnary(floor),
  Ceil: floatUnary((x) => neg(floor(neg(x)))),
  Round: floatUnary(round, 11),
  Erf: { sinceVersion: 9, run: (ctx) => [viaFloat(ctx, 0, NUMERIC_TYPES, erf)] },
  Sinh: floatUnary(sinh, 9),
  Cosh: floatUnary(cosh, 9),
  Asinh: floatUnary(asinh, 9),
  Acosh: floatUnary(acosh, 9),
  Atanh: floatUnary(atanh, 9),
  IsNaN: {
    sinceVersion: 9,
    run: (ctx) => {
      const x = typedInput(ctx, 0, FLOAT_TYPES);
      return [output(ctx, not(equal(x, x)), DataType.BOOL)];
    },
  },
  IsInf: {
    sinceVersion: 10,
    run: (ctx) => {
      const x = typedInput(ctx, 0, FLOAT_TYPES);
      // x < x: all false, NaN included.
      let hit = less(x, x);
      if (ctx.attrs.int('detect_positive', 1) !== 0) hit = where(equal(x, Infinity), true, hit);
      if (ctx.attrs.int('detect_negative', 1) !== 0) hit = where(equal(x, -Infinity), true, hit);
      return [output(ctx, hit, DataType.BOOL)];
    },
  },
};
