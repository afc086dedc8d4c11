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

/** How a node pads inputs of one shape: the crop (negative pads), the growth, and for the non-constant modes one index table per padded axis. */
interface PadPlan {
  readonly spec: PadSpec;
  readonly crop?: { readonly starts: number[]; readonly counts: number[]; readonly steps: number[] };
  readonly grow: [number, number][];
  readonly gathers: { readonly axis: number; readonly table: Int32Array; readonly key: string }[];
}

function padPlan(ctx: OpContext, shape: readonly number[]): PadPlan {
  const spec = padSpec(ctx, shape);
  const { mode, pads } = spec;
  let crop: PadPlan['crop'];
  let dims = shape;
  if (pads.some(([b, a]) => b < 0 || a < 0)) {
    const starts = pads.map(([b]) => Math.max(0, -b));
    const counts = pads.map(([b, a], d) => shape[d] - Math.max(0, -b) - Math.max(0, -a));
    crop = { starts: counts.map((c, d) => (c === 0 ? 0 : starts[d])), counts: counts.map((c) => Math.max(0, c)), steps: counts.map(() => 1) };
    dims = crop.counts;
  }
  const grow = pads.map(([b, a]) => [Math.max(0, b), Math.max(0, a)] as [number, number]);
  const gathers: PadPlan['gathers'][number][] = [];
  if (mode !== 'constant') {
    grow.forEach(([before, after], axis) => {
      if (before === 0 && after === 0) return;
      const dim = dims[axis];
      if (dim === 0) throw ctx.error('INVALID_SHAPE', `cannot ${mode}-pad axis ${axis} of ${formatShape(dims)}: it is empty`);
      const table = Int32Array.from({ length: before + dim + after }, (_, o) => sourceIndex(mode, o - before, dim));
      gathers.push({ axis, table, key: `pad-table:${mode}:${before}:${dim}:${after}` });
    });
  }
  return { spec, crop, grow, gathers };
}

const NO_INDICES = new Int32Array(0);

function padOp(ctx: OpContext) {
  const x = ctx.input(0);
  const plan = ctx.steady(() => padPlan(ctx, x.shape));
  let moved = movable(ctx, 0);
  if (plan.crop !== undefined) moved = moved.slice(plan.crop.starts, plan.crop.counts, plan.crop.steps);
  if (plan.spec.mode === 'constant') return [moved.pad(plan.grow, plan.spec.value).output(x.elemType)];
  for (const { axis, table, key } of plan.gathers) {
    if (!x.isOnDevice) {
      moved = moved.gather(table, [table.length], axis);
      continue;
    }
    // On the device the table is uploaded once per node and shape, not on every run.
    const uploaded = ctx.memo(key, () => fromArray(table, [table.length], { dtype: 'int32', backend: ctx.backend }));
    moved = moved.gather(NO_INDICES, [table.length], axis, uploaded);
  }
  return [moved.output(x.elemType)];
}

export const padOperators: OperatorTable = {
  Pad: { run: padOp },
};
