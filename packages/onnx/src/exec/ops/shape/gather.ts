import { formatShape, gather, reshape, slice } from '@minnow/core';
import type { OpContext, OperatorTable } from '../../operator.js';
import { Value } from '../../value.js';
import { axisOf } from './common.js';
import { rowMajorStrides, sizeOfShape } from './host.js';
import { movable, onHost } from './movable.js';

/**
 * Ops that pick elements by index. The index arithmetic (flat positions from GatherElements' or
 * GatherND's index tensors, Compress's selection) is done on the host from the exact index values,
 * then one gather moves the data, wherever it lives.
 */

/** `index` made non-negative for a dim of size `dim`, or an OUT_OF_RANGE naming where it was found. */
export function checkedIndex(ctx: OpContext, index: number, dim: number, where: string): number {
  if (!Number.isInteger(index) || index < -dim || index >= dim) throw ctx.error('OUT_OF_RANGE', `index ${index} ${where} is out of range for a dim of size ${dim}`);
  return index < 0 ? index + dim : index;
}

interface GatherPlan {
  readonly axis: number;
  /** Checked indices, when both inputs are moved on the host. */
  readonly table?: Int32Array;
  /** For one index known on the host and data on the device: the slice it takes, and the shape without the axis (a view, no kernel). */
  readonly view?: { readonly starts: number[]; readonly ends: number[]; readonly shape: number[] };
}

function gatherPlan(ctx: OpContext): GatherPlan {
  const x = ctx.input(0);
  if (x.rank === 0) throw ctx.error('INVALID_SHAPE', 'data must have rank >= 1');
  const axis = axisOf(ctx, ctx.attrs.int('axis', 0), x.rank);
  const dim = x.shape[axis];
  const indices = ctx.input(1);
  // Host values are part of the plan's key, so indices read here are checked once.
  if (onHost(ctx, [0, 1])) return { axis, table: Int32Array.from(ctx.ints(1), (v, j) => checkedIndex(ctx, v, dim, `at position ${j} of indices`)) };
  if (indices.hostForm !== undefined && indices.size === 1) {
    // One index (a scalar, or [1]) picks a slab: a strided view of the data, as a slice and a reshape.
    const at = checkedIndex(ctx, ctx.ints(1)[0], dim, 'at position 0 of indices');
    const starts = x.shape.map((_, d) => (d === axis ? at : 0));
    const ends = x.shape.map((n, d) => (d === axis ? at + 1 : n));
    const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    return { axis, view: { starts, ends, shape } };
  }
  return { axis };
}

function gatherOp(ctx: OpContext) {
  const x = ctx.input(0);
  const plan = ctx.steady(() => gatherPlan(ctx));
  if (plan.table !== undefined) return [movable(ctx, 0).gather(plan.table, ctx.input(1).shape, plan.axis).output(x.elemType)];
  if (plan.view !== undefined) return [Value.fromTensor(reshape(slice(ctx.tensor(0), plan.view.starts, plan.view.ends), plan.view.shape), x.elemType)];
  // On the device the kernel resolves negative indices and checks bounds itself: no read-back.
  return [Value.fromTensor(gather(ctx.tensor(0), ctx.tensor(1), plan.axis), x.elemType)];
}

function gatherElements(ctx: OpContext) {
  const x = ctx.input(0);
  const indices = ctx.input(1);
  const axis = axisOf(ctx, ctx.attrs.int('axis', 0), x.rank);
  if (indices.rank !== x.rank || indices.shape.some((d, i) => i !== axis && d > x.shape[i])) {
    throw ctx.error('SHAPE_MISMATCH', `indices ${formatShape(indices.shape)} must have the rank of data ${formatShape(x.shape)} and no larger dims outside axis ${axis}`);
  }
  const values = ctx.ints(1);
  const strides = rowMajorStrides(x.shape);
  const positions = new Int32Array(values.length);
  const counter = new Array<number>(indices.rank).fill(0);
  for (let i = 0; i < values.length; i++) {
    let at = 0;
    for (let d = 0; d < indices.rank; d++) {
      at += (d === axis ? checkedIndex(ctx, values[i], x.shape[axis], `at position ${i} of indices`) : counter[d]) * strides[d];
    }
    positions[i] = at;
    for (let d = indices.rank - 1; d >= 0 && ++counter[d] === indices.shape[d]; d--) counter[d] = 0;
  }
  return [movable(ctx, 0).reshape([x.size]).gather(positions, indices.shape, 0).output(x.elemType)];
}

function gatherND(ctx: OpContext) {
  const x = ctx.input(0);
  const indices = ctx.input(1);
  const batch = ctx.opset >= 12 ? ctx.attrs.int('batch_dims', 0) : 0;
  const depth = indices.shape[indices.rank - 1];
  if (indices.rank < 1 || batch < 0 || batch >= Math.min(x.rank, indices.rank) || !(depth >= 1 && depth <= x.rank - batch)) {
    throw ctx.error('INVALID_SHAPE', `indices ${formatShape(indices.shape)} with batch_dims ${batch} do not index data ${formatShape(x.shape)}`);
  }
  for (let d = 0; d < batch; d++) {
    if (indices.shape[d] !== x.shape[d]) throw ctx.error('SHAPE_MISMATCH', `batch dim ${d} differs: data ${formatShape(x.shape)}, indices ${formatShape(indices.shape)}`);
  }
  const indexed = x.shape.slice(batch, batch + depth);
  const rest = x.shape.slice(batch + depth);
  const perBatch = sizeOfShape(indexed);
  const strides = rowMajorStrides(indexed);
  const values = ctx.ints(1);
  const tuples = values.length / depth;
  const tuplesPerBatch = tuples / Math.max(1, sizeOfShape(x.shape.slice(0, batch)));
  const rows = new Int32Array(tuples);
  for (let t = 0; t < tuples; t++) {
    let at = Math.floor(t / tuplesPerBatch) * perBatch;
    for (let k = 0; k < depth; k++) at += checkedIndex(ctx, values[t * depth + k], indexed[k], `in tuple ${t} of indices`) * strides[k];
    rows[t] = at;
  }
  const table = movable(ctx, 0).reshape([sizeOfShape(x.shape.slice(0, batch)) * perBatch, sizeOfShape(rest)]);
  const picked = table.gather(rows, [tuples], 0);
  return [picked.reshape([...indices.shape.slice(0, -1), ...rest]).output(x.elemType)];
}

function compress(ctx: OpContext) {
  const x = ctx.input(0);
  const condition = ctx.ints(1);
  if (ctx.input(1).rank !== 1) throw ctx.error('INVALID_SHAPE', `condition must be 1-D, got ${formatShape(ctx.input(1).shape)}`);
  const flat = !ctx.attrs.has('axis');
  const axis = flat ? 0 : axisOf(ctx, ctx.attrs.int('axis'), x.rank);
  const dim = flat ? x.size : x.shape[axis];
  const picked: number[] = [];
  condition.forEach((c, i) => {
    if (c === 0) return;
    if (i >= dim) throw ctx.error('OUT_OF_RANGE', `condition selects index ${i}, beyond the ${dim} elements along ${flat ? 'the flattened input' : `axis ${axis}`}`);
    picked.push(i);
  });
  const source = flat ? movable(ctx, 0).reshape([x.size]) : movable(ctx, 0);
  return [source.gather(Int32Array.from(picked), [picked.length], axis).output(x.elemType)];
}

function reverseSequence(ctx: OpContext) {
  const x = ctx.input(0);
  const batchAxis = ctx.attrs.int('batch_axis', 1);
  const timeAxis = ctx.attrs.int('time_axis', 0);
  if (x.rank < 2 || ![0, 1].includes(batchAxis) || ![0, 1].includes(timeAxis) || batchAxis === timeAxis) {
    throw ctx.error('INVALID_ARGUMENT', `batch_axis ${batchAxis} and time_axis ${timeAxis} must be 0 and 1 in some order, on a tensor of rank >= 2 (got ${formatShape(x.shape)})`);
  }
  const lengths = ctx.ints(1);
  const steps = x.shape[timeAxis];
  if (lengths.length !== x.shape[batchAxis] || lengths.some((n) => !Number.isInteger(n) || n < 0 || n > steps)) {
    throw ctx.error('INVALID_ARGUMENT', `sequence_lens ${formatShape(lengths)} must hold one length in [0, ${steps}] per batch entry of ${formatShape(x.shape)}`);
  }
  const strides = rowMajorStrides(x.shape);
  const positions = Int32Array.from({ length: x.size }, (_, p) => {
    const t = Math.floor(p / strides[timeAxis]) % steps;
    const n = lengths[Math.floor(p / strides[batchAxis]) % x.shape[batchAxis]];
    return t < n ? p + (n - 1 - 2 * t) * strides[timeAxis] : p;
  });
  return [movable(ctx, 0).reshape([x.size]).gather(positions, x.shape, 0).output(x.elemType)];
}

export const gatherOperators: OperatorTable = {
  Gather: { run: gatherOp },
  GatherElements: { sinceVersion: 11, run: gatherElements },
  GatherND: { sinceVersion: 11, run: gatherND },
  Compress: { sinceVersion: 9, run: compress },
  ReverseSequence: { sinceVersion: 10, run: reverseSequence },
};
