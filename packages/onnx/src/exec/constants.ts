import { full, type DType, type Tensor } from '@minnow/core';
import type { OpContext } from './operator.js';

/**
 * A 0-d tensor of `value` on the node's backend, made once per node (OpContext.memo) rather than on
 * every run, as passing a JS number to a core op would: for small activations that allocation costs
 * as much as the kernel.
 */
export function scalarConstant(ctx: OpContext, value: number, dtype: DType): Tensor {
  const key = `scalar:${dtype}:${Object.is(value, -0) ? '-0' : String(value)}`;
  return ctx.memo(key, () => full([], value, { dtype, backend: ctx.backend }));
}
