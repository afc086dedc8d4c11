import { cast, equal, less, maximum, minimum, type Tensor } from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import type { Value } from '../../value.js';
import { NUMERIC_TYPES, binaryOperands, expectType, not, output, typeName } from './common.js';

/** Comparisons (to bool) and logical ops on bools, broadcasting as numpy does (opset >= 7) or by the legacy attributes. */

const COMPARABLE: readonly number[] = [...NUMERIC_TYPES, DataType.BOOL];

function sameTypes(ctx: OpContext, allowed: readonly number[]): void {
  const a = expectType(ctx, 0, allowed);
  const b = expectType(ctx, 1, allowed);
  if (a !== b) throw ctx.error('DTYPE_MISMATCH', `inputs are ${typeName(a)} and ${typeName(b)}; ${ctx.node.opType} needs one type`);
}

/** A comparison to bool; `allowed` are the input types it takes. */
const comparison = (allowed: readonly number[], compare: (a: Tensor, b: Tensor) => Tensor, sinceVersion = 1) => ({
  sinceVersion,
  run: (ctx: OpContext): Value[] => {
    sameTypes(ctx, allowed);
    const [a, b] = binaryOperands(ctx);
    return [output(ctx, compare(a, b), DataType.BOOL)];
  },
});

/** A logical op on bools, computed on 0/1 bytes. */
const logical = (combine: (a: Tensor, b: Tensor) => Tensor) => ({
  run: (ctx: OpContext): Value[] => {
    sameTypes(ctx, [DataType.BOOL]);
    const [a, b] = binaryOperands(ctx);
    return [output(ctx, combine(a, b), DataType.BOOL)];
  },
});

const asBytes = (t: Tensor): Tensor => cast(t, 'uint8');

export const logicOperators: OperatorTable = {
  Equal: comparison(COMPARABLE, equal),
  Less: comparison(NUMERIC_TYPES, less),
  Greater: comparison(NUMERIC_TYPES, (a, b) => less(b, a)),
  // a <= b as (a < b) or (a == b), not !(b < a): both are false where a NaN is involved.
  LessOrEqual: comparison(NUMERIC_TYPES, (a, b) => cast(maximum(asBytes(less(a, b)), asBytes(equal(a, b))), 'bool'), 12),
  GreaterOrEqual: comparison(NUMERIC_TYPES, (a, b) => cast(maximum(asBytes(less(b, a)), asBytes(equal(a, b))), 'bool'), 12),
  And: logical((a, b) => cast(minimum(asBytes(a), asBytes(b)), 'bool')),
  Or: logical((a, b) => cast(maximum(asBytes(a), asBytes(b)), 'bool')),
  Xor: logical((a, b) => not(equal(a, b))),
  Not: {
    run: (ctx) => {
      expectType(ctx, 0, [DataType.BOOL]);
      return [output(ctx, not(ctx.tensor(0)), DataType.BOOL)];
    },
  },
};
