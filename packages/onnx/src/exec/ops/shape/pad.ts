import { formatShape, fromArray } from '@minnow/core';
import type { OpContext, OperatorTable } from '../../operator.js';
import { axesOf } from './common.js';
import { movable } from './movable.js';

/**
 * ONNX Pad. Negative pads crop first (a slice); constant mode then pads with the value, and the
 * other modes gather each padded axis through an index table that says which source element each
 * output position copies: clamped (edge), mirrored without repeating the edge (reflect, numpy's
 * rule, applied again for pads longer than the axis), or modulo the axis (wrap).
 */

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

/** Source index along an axis of size `dim` for output position `i` (counted from the original first element). */
function sourceIndex(mode: PadMode, i: number, dim: number): number {
  if (mode === 'edge') return Math.min(Math.max(i, 0), dim - 1);
  if (mode === 'wrap') return ((i % dim) + dim) % dim;
  if (dim === 1) return 0;
  const period = 2 * (dim - 1);
  const j = ((i % period) + period) % period;
  return j < dim ? j : period - j;
}

interface PadSpec {
  readonly mode: PadMode;
  /** [before, after] per dim of the input. */
  readonly pads: [number, number][];
  readonly value: number;
}

function padSpec(ctx: OpContext, shape: readonly number[]): PadSpec {
  const rank = shape.length;
  const mode = ctx.attrs.string('mode', 'constant');
  const modes = ctx.opset >= 19 ? ['constant', 'reflect', 'edge', 'wrap'] : ['constant', 'reflect', 'edge'];
  if (!modes.includes(mode)) throw ctx.error('UNSUPPORTED_OP', `mode '${mode}' is not one of ${modes.join(', ')} at opset ${ctx.opset}`);
  let flat: number[];
  let value = 0;
  let axes = shape.map((_, i) => i);
  if (ctx.opset >= 11) {
    flat = ctx.ints(1);
    if (ctx.has(2) && ctx.input(2).size > 0) value = ctx.scalar(2);
    if (ctx.opset >= 18 && ctx.has(3)) axes = axesOf(ctx, ctx.ints(3), rank);
  } else {
    flat = ctx.attrs.ints(ctx.opset >= 2 ? 'pads' : 'paddings');
    value = ctx.attrs.float('value', 0);
  }
  if (flat.length !== 2 * axes.length) throw ctx.error('INVALID_ARGUMENT', `pads ${formatShape(flat)} must hold 2 values per padded axis (${axes.length} axes)`);
  const pads = shape.map(() => [0, 0] as [number, number]);
  axes.forEach((axis, i) => {
    pads[axis] = [flat[i], flat[axes.length + i]];
  });
  for (let d = 0; d < rank; d++) {
    if (pads[d].some((p) => !Number.isSafeInteger(p)) || shape[d] + Math.min(0, pads[d][0]) + Math.min(0, pads[d][1]) < 0) {
      throw ctx.error('INVALID_ARGUMENT', `pads ${JSON.stringify(pads[d])} on dim ${d} of ${formatShape(shape)} crop more than the dim holds`);
    }
  }
  return { mode: mode as PadMode, pads, value };
}

function padOp(ctx: OpContext) {
  const x = ctx.input(0);
  const { mode, pads, value } = padSpec(ctx, x.shape);
  let moved = movable(ctx, 0);
  if (pads.some(([b, a]) => b < 0 || a < 0)) {
    const starts = pads.map(([b]) => Math.max(0, -b));
    const counts = pads.map(([b, a], d) => x.shape[d] - Math.max(0, -b) - Math.max(0, -a));
    moved = moved.slice(counts.map((c, d) => (c === 0 ? 0 : starts[d])), counts.map((c) => Math.max(0, c)), counts.map(() => 1));
  }
  const grow = pads.map(([b, a]) => [Math.max(0, b), Math.max(0, a)] as [number, number]);
  if (mode === 'constant') return [moved.pad(grow, value).output(x.elemType)];
  grow.forEach(([before, after], axis) => {
    if (before === 0 && after === 0) return;
    const dim = moved.shape[axis];
    if (dim === 0) throw ctx.error('INVALID_SHAPE', `cannot ${mode}-pad axis ${axis} of ${formatShape(moved.shape)}: it is empty`);
    const length = before + dim + after;
    const makeTable = (): Int32Array => Int32Array.from({ length }, (_, o) => sourceIndex(mode, o - before, dim));
    if (!x.isOnDevice) {
      moved = moved.gather(makeTable(), [length], axis);
      return;
    }
    // On the device the table is made and uploaded once per node and shape, not on every run.
    const table = ctx.memo(`pad-table:${mode}:${before}:${dim}:${after}`, () => fromArray(makeTable(), [length], { dtype: 'int32', backend: ctx.backend }));
    moved = moved.gather(new Int32Array(0), [length], axis, table);
  });
  return [moved.output(x.elemType)];
}

export const padOperators: OperatorTable = {
  Pad: { run: padOp },
};
