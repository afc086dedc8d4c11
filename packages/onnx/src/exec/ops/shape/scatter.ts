import { add, cast, formatShape, fromArray, gather, maximum, minimum, mul, reshape, where, type Tensor } from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import { Value, type HostData } from '../../value.js';
import { axisOf } from './common.js';
import { checkedIndex } from './gather.js';
import { rowMajorStrides, sizeOfShape } from './host.js';
import { onHost } from './movable.js';

/**
 * Scatter, ScatterElements and ScatterND. The indices are read on the host and turned into a list
 * of writes (output position, update position) in the order ONNX's reference applies them. On the
 * host the writes run as a loop; on the device they are grouped into rounds in which every output
 * position is written at most once (the k-th write to each position), and each round is one gather
 * of the updates, the reduction, and a where. Without a reduction only the last write to a
 * position counts, so there is one round.
 */

type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';

interface Writes {
  readonly to: Int32Array;
  readonly from: Int32Array;
}

function reductionOf(ctx: OpContext): Reduction {
  const reduction = ctx.opset >= 16 ? ctx.attrs.string('reduction', 'none') : 'none';
  const allowed = ctx.opset >= 18 ? ['none', 'add', 'mul', 'max', 'min'] : ['none', 'add', 'mul'];
  if (!allowed.includes(reduction)) throw ctx.error('UNSUPPORTED_OP', `reduction '${reduction}' is not one of ${allowed.join(', ')} at opset ${ctx.opset}`);
  return reduction as Reduction;
}

function elementWrites(ctx: OpContext): Writes {
  const data = ctx.input(0);
  const indices = ctx.input(1);
  const updates = ctx.input(2);
  const axis = axisOf(ctx, ctx.attrs.int('axis', 0), data.rank);
  const fits = indices.rank === data.rank && indices.shape.every((d, i) => d === updates.shape[i] && (i === axis || d <= data.shape[i]));
  if (!fits || updates.rank !== indices.rank) {
    throw ctx.error('SHAPE_MISMATCH', `indices ${formatShape(indices.shape)} and updates ${formatShape(updates.shape)} must have one shape, of the rank of data ${formatShape(data.shape)}`);
  }
  const values = ctx.ints(1);
  const strides = rowMajorStrides(data.shape);
  const to = new Int32Array(values.length);
  const counter = new Array<number>(indices.rank).fill(0);
  for (let i = 0; i < values.length; i++) {
    let at = 0;
    for (let d = 0; d < indices.rank; d++) {
      at += (d === axis ? checkedIndex(ctx, values[i], data.shape[axis], `at position ${i} of indices`) : counter[d]) * strides[d];
    }
    to[i] = at;
    for (let d = indices.rank - 1; d >= 0 && ++counter[d] === indices.shape[d]; d--) counter[d] = 0;
  }
  return { to, from: Int32Array.from(to, (_, i) => i) };
}

function sliceWrites(ctx: OpContext): Writes {
  const data = ctx.input(0);
  const indices = ctx.input(1);
  const updates = ctx.input(2);
  const depth = indices.shape[indices.rank - 1];
  const expected = [...indices.shape.slice(0, -1), ...data.shape.slice(depth)];
  if (indices.rank < 1 || !(depth >= 1 && depth <= data.rank) || updates.rank !== expected.length || updates.shape.some((d, i) => d !== expected[i])) {
    throw ctx.error('SHAPE_MISMATCH', `indices ${formatShape(indices.shape)} and updates ${formatShape(updates.shape)} do not fit data ${formatShape(data.shape)} (updates must be ${formatShape(expected)})`);
  }
  const block = sizeOfShape(data.shape.slice(depth));
  const strides = rowMajorStrides(data.shape.slice(0, depth));
  const values = ctx.ints(1);
  const tuples = values.length / depth;
  const to = new Int32Array(tuples * block);
  const from = new Int32Array(tuples * block);
  for (let t = 0; t < tuples; t++) {
    let base = 0;
    for (let k = 0; k < depth; k++) base += checkedIndex(ctx, values[t * depth + k], data.shape[k], `in tuple ${t} of indices`) * strides[k];
    for (let e = 0; e < block; e++) {
      to[t * block + e] = base * block + e;
      from[t * block + e] = t * block + e;
    }
  }
  return { to, from };
}

function combineHost(reduction: Reduction, elemType: number, out: HostData): (a: number | bigint, b: number | bigint) => number | bigint {
  const bool = elemType === DataType.BOOL;
  const int32 = out instanceof Int32Array || out instanceof Uint32Array;
  switch (reduction) {
    case 'add': return bool ? (a, b) => (a || b ? 1 : 0) : (a, b) => (a as number) + (b as number);
    case 'mul': return bool ? (a, b) => (a && b ? 1 : 0) : int32 ? (a, b) => Math.imul(a as number, b as number) : (a, b) => (a as number) * (b as number);
    case 'max': return (a, b) => (b > a || Number.isNaN(b) ? b : a);
    case 'min': return (a, b) => (b < a || Number.isNaN(b) ? b : a);
    default: return (_, b) => b;
  }
}

function scatterHost(ctx: OpContext, writes: Writes, reduction: Reduction): Value {
  const data = ctx.input(0);
  const source = data.hostData();
  const out = source.slice() as HostData;
  const target = out as unknown as { [i: number]: number | bigint };
  const updates = ctx.input(2).hostData() as unknown as { [i: number]: number | bigint };
  const combine = combineHost(reduction, data.elemType, out);
  for (let k = 0; k < writes.to.length; k++) target[writes.to[k]] = combine(target[writes.to[k]], updates[writes.from[k]]);
  return Value.fromHost(data.elemType, data.shape, out);
}

function combineDevice(reduction: Reduction, current: Tensor, picked: Tensor): Tensor {
  if (reduction === 'none') return picked;
  if (current.dtype === 'bool') {
    // For booleans add is "or" and mul is "and", as numpy computes them.
    const [a, b] = [cast(current, 'uint8'), cast(picked, 'uint8')];
    return cast(reduction === 'add' || reduction === 'max' ? maximum(a, b) : minimum(a, b), 'bool');
  }
  switch (reduction) {
    case 'add': return add(current, picked);
    case 'mul': return mul(current, picked);
    case 'max': return maximum(current, picked);
    default: return minimum(current, picked);
  }
}

function scatterDevice(ctx: OpContext, writes: Writes, reduction: Reduction): Value {
  const data = ctx.input(0);
  const size = data.size;
  const backend = ctx.backend;
  let current = reshape(ctx.tensor(0), [size]);
  const updates = reshape(ctx.tensor(2), [ctx.input(2).size]);
  // Round r holds the r-th write to each position; without a reduction, only the last write.
  const rounds: { from: Int32Array; mask: Uint8Array }[] = [];
  const seen = new Int32Array(size);
  for (let k = 0; k < writes.to.length; k++) {
    const p = writes.to[k];
    const r = reduction === 'none' ? 0 : seen[p]++;
    if (rounds.length <= r) rounds.push({ from: new Int32Array(size), mask: new Uint8Array(size) });
    rounds[r].from[p] = writes.from[k];
    rounds[r].mask[p] = 1;
  }
  for (const round of rounds) {
    const picked = gather(updates, fromArray(round.from, [size], { dtype: 'int32', backend }), 0);
    const mask = fromArray(round.mask, [size], { dtype: 'bool', backend });
    current = where(mask, combineDevice(reduction, current, picked), current);
  }
  return Value.fromTensor(reshape(current, data.shape), data.elemType);
}

function scatter(ctx: OpContext, writes: (ctx: OpContext) => Writes, reduction: Reduction): Value[] {
  const data = ctx.input(0);
  if (ctx.input(2).elemType !== data.elemType) throw ctx.error('DTYPE_MISMATCH', 'updates must have the type of data');
  const list = writes(ctx);
  return [onHost(ctx, [0, 2]) ? scatterHost(ctx, list, reduction) : scatterDevice(ctx, list, reduction)];
}

export const scatterOperators: OperatorTable = {
  Scatter: { sinceVersion: 9, run: (ctx) => scatter(ctx, elementWrites, 'none') },
  ScatterElements: { sinceVersion: 11, run: (ctx) => scatter(ctx, elementWrites, reductionOf(ctx)) },
  ScatterND: { sinceVersion: 11, run: (ctx) => scatter(ctx, sliceWrites, reductionOf(ctx)) },
};
