import { formatShape, fromArray, full, where } from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import { tensorValues } from '../../../ir/tensor.js';
import { computeDType, isComputable } from '../../dtypes.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import { Value } from '../../value.js';
import { axisOf, checkDims } from './common.js';
import { allocateHost, filledHost, rowMajorStrides, sizeOfShape, takeHost } from './host.js';
import { HOST_LIMIT, movable, onHost } from './movable.js';

/** Ops that make tensors from shapes, counts and conditions: ConstantOfShape, Range, EyeLike, OneHot, NonZero, Trilu. */

function constantOfShape(ctx: OpContext) {
  const shape = checkDims(ctx, ctx.ints(0), 'shape');
  let elemType: number = DataType.FLOAT;
  let value: number | bigint = 0;
  if (ctx.attrs.has('value')) {
    const t = ctx.attrs.tensor('value');
    const values = tensorValues(t);
    if (Array.isArray(values)) throw ctx.error('UNSUPPORTED_DTYPE', 'a string value is not computed by minnow');
    if (values.length !== 1) throw ctx.error('INVALID_ARGUMENT', `value must hold one element, it holds ${values.length}`);
    elemType = t.dataType ?? DataType.UNDEFINED;
    value = values[0];
  }
  const size = sizeOfShape(shape);
  if (size <= HOST_LIMIT || !isComputable(elemType)) return [Value.fromHost(elemType, shape, filledHost(elemType, size, value, ctx.label))];
  const dtype = computeDType(elemType, ctx.label);
  return [Value.fromTensor(full(shape, Number(value), { dtype, backend: ctx.backend }), elemType)];
}

function range(ctx: OpContext) {
  const [start, limit, delta] = [0, 1, 2].map((i) => ctx.scalar(i));
  const elemType = ctx.input(0).elemType;
  if (delta === 0) throw ctx.error('INVALID_ARGUMENT', 'delta must not be 0');
  const count = Math.max(Math.ceil((limit - start) / delta), 0);
  if (!Number.isSafeInteger(count)) throw ctx.error('INVALID_ARGUMENT', `range ${start}:${limit}:${delta} does not have a countable number of elements`);
  const out = allocateHost(elemType, count, ctx.label);
  const write = out as unknown as { [i: number]: number | bigint };
  const big = elemType === DataType.INT64 || elemType === DataType.UINT64;
  for (let i = 0; i < count; i++) write[i] = big ? BigInt(start + i * delta) : start + i * delta;
  return [Value.fromHost(elemType, [count], out)];
}

function eyeLike(ctx: OpContext) {
  const x = ctx.input(0);
  if (x.rank !== 2) throw ctx.error('INVALID_SHAPE', `input must be 2-D, got ${formatShape(x.shape)}`);
  const elemType = ctx.attrs.int('dtype', x.elemType);
  const k = ctx.attrs.int('k', 0);
  const [rows, cols] = x.shape;
  const out = allocateHost(elemType, rows * cols, ctx.label);
  const write = out as unknown as { [i: number]: number | bigint };
  const one = elemType === DataType.INT64 || elemType === DataType.UINT64 ? 1n : 1;
  for (let i = Math.max(0, -k); i < rows && i + k < cols; i++) write[i * cols + i + k] = one;
  return [Value.fromHost(elemType, x.shape, out)];
}

function oneHot(ctx: OpContext) {
  const indices = ctx.input(0);
  const depth = Math.trunc(ctx.scalar(1));
  if (ctx.input(2).size !== 2) throw ctx.error('INVALID_SHAPE', `values must hold [off_value, on_value], got shape ${formatShape(ctx.input(2).shape)}`);
  if (!(depth >= 0) || !Number.isSafeInteger(depth)) throw ctx.error('INVALID_ARGUMENT', `depth ${depth} must be a non-negative integer`);
  const axis = axisOf(ctx, ctx.attrs.int('axis', -1), indices.rank + 1);
  const shape = [...indices.shape.slice(0, axis), depth, ...indices.shape.slice(axis)];
  const outer = sizeOfShape(indices.shape.slice(0, axis));
  const inner = sizeOfShape(indices.shape.slice(axis));
  const table = new Int32Array(outer * depth * inner);
  ctx.ints(0).forEach((raw, i) => {
    // Indices are cast to integers; negative ones count from the end; others out of range stay all off.
    const v = Math.trunc(raw);
    const hot = v < 0 ? v + depth : v;
    if (hot < 0 || hot >= depth) return;
    table[(Math.floor(i / inner) * depth + hot) * inner + (i % inner)] = 1;
  });
  return [movable(ctx, 2).reshape([2]).gather(table, shape, 0).output(ctx.input(2).elemType)];
}

function nonZero(ctx: OpContext) {
  const x = ctx.input(0);
  const data = x.hostData() as unknown as ArrayLike<number | bigint>;
  const hits: number[] = [];
  for (let i = 0; i < data.length; i++) if (data[i] != 0) hits.push(i); // != so 0n counts as zero too
  const strides = rowMajorStrides(x.shape);
  const coords = new BigInt64Array(x.rank * hits.length);
  hits.forEach((flat, j) => {
    for (let d = 0; d < x.rank; d++) coords[d * hits.length + j] = BigInt(Math.floor(flat / strides[d]) % x.shape[d]);
  });
  return [Value.fromHost(DataType.INT64, [x.rank, hits.length], coords)];
}

function trilu(ctx: OpContext) {
  const x = ctx.input(0);
  if (x.rank < 2) throw ctx.error('INVALID_SHAPE', `input must have rank >= 2, got ${formatShape(x.shape)}`);
  const k = ctx.has(1) ? ctx.scalar(1) : 0;
  const upper = ctx.attrs.int('upper', 1) !== 0;
  const [rows, cols] = x.shape.slice(-2);
  const keep = new Uint8Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) keep[i * cols + j] = (upper ? j - i >= k : j - i <= k) ? 1 : 0;
  }
  if (onHost(ctx, [0])) {
    const positions = Int32Array.from({ length: x.size }, (_, p) => (keep[p % (rows * cols)] ? p : -1));
    return [Value.fromHost(x.elemType, x.shape, takeHost(x.hostData(), positions, 0))];
  }
  const mask = fromArray(keep, [rows, cols], { dtype: 'bool', backend: ctx.backend });
  return [Value.fromTensor(where(mask, ctx.tensor(0), 0), x.elemType)];
}

export const createOperators: OperatorTable = {
  ConstantOfShape: { sinceVersion: 9, run: constantOfShape },
  Range: { sinceVersion: 11, run: range },
  EyeLike: { sinceVersion: 9, run: eyeLike },
  OneHot: { sinceVersion: 9, run: oneHot },
  NonZero: { sinceVersion: 9, run: nonZero },
  Trilu: { sinceVersion: 14, run: trilu },
};
