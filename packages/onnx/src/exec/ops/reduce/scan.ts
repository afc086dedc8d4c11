import { add, full, pad, slice, type Tensor } from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { HostData } from '../../value.js';
import { Value } from '../../value.js';
import { META_BACKEND } from '../../meta-backend.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import { NUMERIC_TYPES, expectType, output } from '../elementwise/common.js';
import { axisOf, flip } from './normalize.js';

/** CumSum (a log-step scan on the device) and TopK (a sort on the host). */

/** x moved `by` places along `axis`: `by` zeros enter at the front, the last `by` elements drop off. */
function shifted(x: Tensor, axis: number, by: number): Tensor {
  const kept = slice(x, x.shape.map(() => 0), x.shape.map((n, d) => (d === axis ? n - by : n)));
  // -0 keeps every value exactly under addition (v + -0 = v, -0 included).
  return pad(kept, x.shape.map((_, d) => (d === axis ? [by, 0] : [0, 0]) as [number, number]), -0);
}

/** Inclusive prefix sums by doubling (Hillis-Steele): log2(n) adds, each of a shifted copy. */
function cumSum(ctx: OpContext): Value {
  const type = expectType(ctx, 0, NUMERIC_TYPES);
  const x = ctx.tensor(0);
  const axis = axisOf(ctx, ctx.scalar(1), x.rank);
  const exclusive = ctx.attrs.int('exclusive', 0) !== 0;
  const reverse = ctx.attrs.int('reverse', 0) !== 0;
  const n = x.shape[axis];
  if (x.size === 0) return ctx.input(0);
  let y = reverse ? flip(x, axis) : x;
  if (exclusive) y = shifted(y, axis, 1);
  for (let step = 1; step < n; step *= 2) y = add(y, shifted(y, axis, step));
  if (reverse) y = flip(y, axis);
  return output(ctx, y, type);
}

/** A new array of `data`'s kind and length `n`. */
function allocateLike(data: HostData, n: number): HostData {
  return new (data.constructor as new (length: number) => HostData)(n);
}

/**
 * TopK sorts on the host: minnow has no sort primitive, and a comparison network on the device
 * would cost n^2 memory per row. Ties keep the lower index first; NaN sorts above every number (as
 * numpy's lexsort puts it last, so first for largest).
 */
function topK(ctx: OpContext): Value[] {
  const type = expectType(ctx, 0, NUMERIC_TYPES);
  const input = ctx.input(0);
  const shape = input.shape;
  const axis = axisOf(ctx, ctx.attrs.int('axis', -1), shape.length);
  let k: number;
  if (ctx.opset >= 10) {
    const ks = ctx.ints(1);
    if (ks.length !== 1) throw ctx.error('INVALID_ARGUMENT', `K must hold one value, it has ${ks.length}`);
    k = ks[0];
  } else {
    k = ctx.attrs.int('k');
  }
  const n = shape[axis];
  if (!Number.isInteger(k) || k < 0 || k > n) throw ctx.error('INVALID_ARGUMENT', `K is ${k}, outside [0, ${n}] for axis ${axis} of shape [${shape.join(',')}]`);
  const largest = ctx.opset < 11 || ctx.attrs.int('largest', 1) !== 0;
  const outShape = shape.map((d, i) => (i === axis ? k : d));
  if (ctx.backend === META_BACKEND) {
    // Shape inference: the outputs' shapes and types are known without the data.
    const values = full(outShape, 0, { dtype: ctx.tensor(0).dtype, backend: ctx.backend });
    return [output(ctx, values, type), output(ctx, full(outShape, 0, { dtype: 'int32', backend: ctx.backend }), DataType.INT64)];
  }
  const data = input.hostData();
  const keys = Array.from(data as ArrayLike<number | bigint>, Number);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const size = outer * k * inner;
  const values = allocateLike(data, size) as unknown as { [i: number]: number | bigint };
  const source = data as unknown as { readonly [i: number]: number | bigint };
  const indices = new BigInt64Array(size);
  const order = Array.from({ length: n }, (_, i) => i);
  // Ascending with NaN above everything; `largest` reverses the value order but not the tie order.
  const ascending = (a: number, b: number): number => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : Number.isNaN(b) ? -1 : a < b ? -1 : a > b ? 1 : 0);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (j: number): number => (o * n + j) * inner + i;
      // A total order (ties by index), so the result does not depend on the order left by the last row.
      order.sort((p, q) => (largest ? ascending(keys[at(q)], keys[at(p)]) : ascending(keys[at(p)], keys[at(q)])) || p - q);
      for (let j = 0; j < k; j++) {
        const to = (o * k + j) * inner + i;
        values[to] = source[at(order[j])];
        indices[to] = BigInt(order[j]);
      }
    }
  }
  return [Value.fromHost(type, outShape, values as unknown as HostData), Value.fromHost(DataType.INT64, outShape, indices)];
}

export const scanOperators: OperatorTable = {
  CumSum: { sinceVersion: 11, run: (ctx) => [cumSum(ctx)] },
  TopK: { run: (ctx) => topK(ctx) },
};
