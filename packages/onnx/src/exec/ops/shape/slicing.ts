import { formatShape } from '@minnow/core';
import { dataTypeName } from '../../../ir/tensor.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import { axesOf, axisOf } from './common.js';
import type { Value } from '../../value.js';
import { concatMovables, movable, movables, type Movable } from './movable.js';

/** Ops that cut tensors into pieces or join them: Slice, Split, Concat. */

/** A resolved range along one dim: first index, element count, step. */
interface Range {
  start: number;
  count: number;
  step: number;
}

/** ONNX Slice's clamping of one (start, end, step) on a dim of size `dim`. */
export function resolveRange(start: number, end: number, step: number, dim: number): Range {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  let count: number;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
    count = Math.max(0, Math.ceil((e - s) / step));
  } else {
    s = clamp(s, 0, dim - 1);
    e = clamp(e, -1, dim - 1);
    count = Math.max(0, Math.ceil((s - e) / -step));
  }
  return count === 0 ? { start: 0, count: 0, step: 1 } : { start: s, count, step };
}

/** Where Slice and Split cut: per dim the first index, the count and the step (Movable.slice's arguments). */
interface Cut {
  readonly starts: readonly number[];
  readonly counts: readonly number[];
  readonly steps: readonly number[];
}

function sliceCut(ctx: OpContext, shape: readonly number[]): Cut {
  const starts = ctx.opset >= 10 ? ctx.ints(1) : ctx.attrs.ints('starts');
  const ends = ctx.opset >= 10 ? ctx.ints(2) : ctx.attrs.ints('ends');
  const givenAxes = ctx.opset >= 10 ? ctx.optionalInts(3) : ctx.attrs.has('axes') ? ctx.attrs.ints('axes') : undefined;
  const steps = (ctx.opset >= 10 ? ctx.optionalInts(4) : undefined) ?? starts.map(() => 1);
  const axes = axesOf(ctx, givenAxes ?? starts.map((_, i) => i), shape.length);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw ctx.error('INVALID_ARGUMENT', `starts (${starts.length}), ends (${ends.length}), axes (${axes.length}) and steps (${steps.length}) must have the same length`);
  }
  const ranges: Range[] = shape.map((d) => ({ start: 0, count: d, step: 1 }));
  axes.forEach((axis, i) => {
    if (steps[i] === 0 || !Number.isFinite(steps[i])) throw ctx.error('INVALID_ARGUMENT', `step ${steps[i]} on axis ${axis} must be a non-zero integer`);
    ranges[axis] = resolveRange(starts[i], ends[i], steps[i], shape[axis]);
  });
  return { starts: ranges.map((r) => r.start), counts: ranges.map((r) => r.count), steps: ranges.map((r) => r.step) };
}

function sliceOp(ctx: OpContext) {
  const x = ctx.input(0);
  const cut = ctx.steady(() => sliceCut(ctx, x.shape));
  return [movable(ctx, 0).slice(cut.starts, cut.counts, cut.steps).output(x.elemType)];
}

/** Split's part sizes: given (attribute before 13, input from 13; opset 1 took either), or equal parts. */
function splitSizes(ctx: OpContext, dim: number): number[] {
  const given = ctx.opset >= 13 ? ctx.optionalInts(1)
    : ctx.attrs.has('split') ? ctx.attrs.ints('split')
      : ctx.opset < 2 ? ctx.optionalInts(1) : undefined;
  const outputs = ctx.node.output.length;
  if (given !== undefined) {
    if (given.length !== outputs) throw ctx.error('INVALID_ARGUMENT', `split ${formatShape(given)} lists ${given.length} sizes for ${outputs} outputs`);
    if (given.some((s) => !Number.isSafeInteger(s) || s < 0) || given.reduce((a, b) => a + b, 0) !== dim) {
      throw ctx.error('INVALID_SHAPE', `split ${formatShape(given)} does not add up to the axis size ${dim}`);
    }
    return given;
  }
  let parts = outputs;
  if (ctx.opset >= 18 && ctx.attrs.has('num_outputs')) {
    parts = ctx.attrs.int('num_outputs');
    if (parts !== outputs) throw ctx.error('INVALID_MODEL', `num_outputs is ${parts} but the node lists ${outputs} outputs`);
  }
  if (dim % parts === 0) return new Array<number>(parts).fill(dim / parts);
  // From opset 18 an uneven split makes every part ceil(dim / n) long but the last, which is shorter.
  const chunk = Math.ceil(dim / parts);
  const last = dim - chunk * (parts - 1);
  if (ctx.opset < 18 || last < 0) throw ctx.error('INVALID_SHAPE', `axis size ${dim} does not split into ${parts} ${ctx.opset < 18 ? 'equal ' : ''}parts`);
  return [...new Array<number>(parts - 1).fill(chunk), last];
}

function splitCuts(ctx: OpContext, shape: readonly number[]): Cut[] {
  const axis = axisOf(ctx, ctx.attrs.int('axis', 0), shape.length);
  const sizes = splitSizes(ctx, shape[axis]);
  let at = 0;
  return sizes.map((size) => {
    const starts = shape.map((_, d) => (d === axis ? at : 0));
    const counts = shape.map((n, d) => (d === axis ? size : n));
    at += size;
    return { starts: size === 0 ? starts.map(() => 0) : starts, counts, steps: counts.map(() => 1) };
  });
}

function splitOp(ctx: OpContext) {
  const x = ctx.input(0);
  const cuts = ctx.steady(() => splitCuts(ctx, x.shape));
  const source = movable(ctx, 0);
  const outputs = new Array<Value>(cuts.length);
  for (let i = 0; i < cuts.length; i++) outputs[i] = source.slice(cuts[i].starts, cuts[i].counts, cuts[i].steps).output(x.elemType);
  return outputs;
}

/** Concat's axis, its inputs checked to agree. */
function concatAxis(ctx: OpContext, inputs: readonly number[]): number {
  const values = inputs.map((i) => ctx.input(i));
  const first = values[0];
  if (first === undefined) throw ctx.error('INVALID_MODEL', 'Concat needs at least one input');
  const axisAttr = ctx.opset < 4 ? ctx.attrs.int('axis', 1) : ctx.attrs.int('axis');
  if (first.rank === 0) throw ctx.error('INVALID_SHAPE', 'cannot concatenate scalars (rank 0)');
  const axis = axisOf(ctx, axisAttr, first.rank);
  for (const v of values) {
    if (v.elemType !== first.elemType) throw ctx.error('DTYPE_MISMATCH', `inputs are ${dataTypeName(first.elemType)} and ${dataTypeName(v.elemType)}`);
    if (v.rank !== first.rank || v.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
      throw ctx.error('SHAPE_MISMATCH', `shapes ${formatShape(first.shape)} and ${formatShape(v.shape)} differ outside axis ${axis}`);
    }
  }
  return axis;
}

function concatOp(ctx: OpContext) {
  const inputs = Array.from({ length: ctx.inputCount }, (_, i) => i);
  const axis = ctx.steady(() => concatAxis(ctx, inputs));
  const parts: Movable[] = movables(ctx, inputs);
  return [concatMovables(parts, axis).output(ctx.input(0).elemType)];
}

export const slicingOperators: OperatorTable = {
  Slice: { run: sliceOp },
  Split: { run: splitOp },
  Concat: { run: concatOp },
};
