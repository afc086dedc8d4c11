import { formatShape } from '@minnow/core';
import type { OpContext } from '../../operator.js';

/** Checks shared by the shape ops; every error names the node. */

/** `axis` in [-rank, rank-1] made non-negative; `what` names it in the error. */
export function axisOf(ctx: OpContext, axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw ctx.error('OUT_OF_RANGE', `${what} ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Axes made non-negative; a repeated axis is an error. */
export function axesOf(ctx: OpContext, axes: readonly number[], rank: number, what = 'axes'): number[] {
  const out = axes.map((a) => axisOf(ctx, a, rank, what));
  if (new Set(out).size !== out.length) throw ctx.error('INVALID_ARGUMENT', `${what} ${JSON.stringify(axes)} repeat an axis`);
  return out;
}

/**
 * A list that was an attribute up to some opset and an input from it on (Squeeze's axes from 13,
 * Pad's pads from 11 ...): the input at and after `inputSince`, else the attribute. Undefined when absent.
 */
export function attrOrInput(ctx: OpContext, name: string, input: number, inputSince: number): number[] | undefined {
  if (ctx.opset >= inputSince) return ctx.optionalInts(input);
  // An empty attribute list reads as absent (the reference does so for Squeeze-1's axes).
  const list = ctx.attrs.has(name) ? ctx.attrs.ints(name) : [];
  return list.length > 0 ? list : undefined;
}

/** numpy broadcasting of two shapes, or a SHAPE_MISMATCH naming both. */
export function broadcastPair(ctx: OpContext, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw ctx.error('SHAPE_MISMATCH', `shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** A dims list read from an input must hold non-negative integers. */
export function checkDims(ctx: OpContext, dims: readonly number[], what: string): number[] {
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw ctx.error('INVALID_SHAPE', `${what} ${formatShape(dims)} has a bad dim ${d}`);
  }
  return [...dims];
}
