import { formatShape } from '@minnow/core';
import type { OpContext, OperatorTable } from '../../operator.js';
import { Value } from '../../value.js';
import { attrOrInput, axesOf, axisOf, broadcastPair, checkDims } from './common.js';
import { sizeOfShape } from './host.js';
import { movable } from './movable.js';

/** Ops that only change how elements are laid out: new shapes, permutations, broadcasts, block rearrangements. */

/** Reshape's target: 0 copies the input's dim (unless allowzero), one -1 is inferred. */
function reshapeTarget(ctx: OpContext, from: readonly number[], requested: readonly number[], allowZero: boolean): number[] {
  const bad = (why: string) => ctx.error('INVALID_SHAPE', `cannot reshape ${formatShape(from)} to ${formatShape(requested)}${allowZero ? ' (allowzero)' : ''}: ${why}`);
  if (allowZero && requested.includes(0) && requested.includes(-1)) throw bad('with allowzero a shape may not hold both 0 and -1');
  const target = requested.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= from.length) throw bad(`dim ${i} is 0 (copy the input's dim) but the input has rank ${from.length}`);
      return from[i];
    }
    if (!Number.isSafeInteger(d) || d < -1) throw bad(`bad dim ${d}`);
    return d;
  });
  const inferred = target.indexOf(-1);
  if (inferred !== target.lastIndexOf(-1)) throw bad('more than one -1');
  const size = sizeOfShape(from);
  const known = target.reduce((n, d) => (d === -1 ? n : n * d), 1);
  if (inferred >= 0) {
    if (known === 0 || size % known !== 0) throw bad(`${size} elements do not divide into the known dims`);
    target[inferred] = size / known;
  } else if (known !== size) throw bad(`${size} elements, the shape holds ${known}`);
  return target;
}

function depthToSpace(ctx: OpContext) {
  const x = ctx.input(0);
  const block = ctx.attrs.int('blocksize');
  const mode = ctx.opset >= 11 ? ctx.attrs.string('mode', 'DCR') : 'DCR';
  if (x.rank !== 4) throw ctx.error('INVALID_SHAPE', `input must be 4-D [N,C,H,W], got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  if (!(block > 0) || c % (block * block) !== 0) throw ctx.error('INVALID_SHAPE', `channels ${c} of ${formatShape(x.shape)} are not divisible by blocksize² (${block}²)`);
  const depth = c / (block * block);
  let moved;
  if (mode === 'DCR') moved = movable(ctx, 0).reshape([n, block, block, depth, h, w]).permute([0, 3, 4, 1, 5, 2]);
  else if (mode === 'CRD') moved = movable(ctx, 0).reshape([n, depth, block, block, h, w]).permute([0, 1, 4, 2, 5, 3]);
  else throw ctx.error('UNSUPPORTED_OP', `mode '${mode}' is not one of DCR, CRD`);
  return [moved.reshape([n, depth, h * block, w * block]).output(x.elemType)];
}

function spaceToDepth(ctx: OpContext) {
  const x = ctx.input(0);
  const block = ctx.attrs.int('blocksize');
  if (x.rank !== 4) throw ctx.error('INVALID_SHAPE', `input must be 4-D [N,C,H,W], got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  if (!(block > 0) || h % block !== 0 || w % block !== 0) throw ctx.error('INVALID_SHAPE', `spatial dims of ${formatShape(x.shape)} are not divisible by blocksize ${block}`);
  const moved = movable(ctx, 0).reshape([n, c, h / block, block, w / block, block]).permute([0, 3, 5, 1, 2, 4]);
  return [moved.reshape([n, c * block * block, h / block, w / block]).output(x.elemType)];
}

/** Tile's repeats per dim: an input from opset 6; opset 1 took `tiles` copies along one `axis` input. */
function tileRepeats(ctx: OpContext, rank: number): number[] {
  if (ctx.opset >= 6) return ctx.ints(1);
  const repeats = new Array<number>(rank).fill(1);
  repeats[axisOf(ctx, ctx.scalar(2), rank)] = ctx.scalar(1);
  return repeats;
}

export const viewOperators: OperatorTable = {
  Reshape: {
    run: (ctx) => {
      const x = ctx.input(0);
      const target = ctx.steady(() => {
        const requested = ctx.opset >= 5 ? ctx.ints(1) : ctx.attrs.ints('shape');
        const allowZero = ctx.opset >= 14 && ctx.attrs.int('allowzero', 0) !== 0;
        return reshapeTarget(ctx, x.shape, requested, allowZero);
      });
      return [movable(ctx, 0).reshape(target).output(x.elemType)];
    },
  },
  Flatten: {
    run: (ctx) => {
      const x = ctx.input(0);
      const target = ctx.steady(() => {
        const axis = ctx.attrs.int('axis', 1);
        if (!Number.isInteger(axis) || axis < -x.rank || axis > x.rank) throw ctx.error('OUT_OF_RANGE', `axis ${axis} is out of range for rank ${x.rank} (Flatten takes [-r, r])`);
        const a = axis < 0 ? axis + x.rank : axis;
        return [sizeOfShape(x.shape.slice(0, a)), sizeOfShape(x.shape.slice(a))];
      });
      return [movable(ctx, 0).reshape(target).output(x.elemType)];
    },
  },
  Squeeze: {
    run: (ctx) => {
      const x = ctx.input(0);
      const target = ctx.steady(() => {
        const given = attrOrInput(ctx, 'axes', 1, 13);
        const axes = given === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axesOf(ctx, given, x.rank);
        for (const a of axes) if (x.shape[a] !== 1) throw ctx.error('INVALID_SHAPE', `cannot squeeze axis ${a} of ${formatShape(x.shape)}: its size is not 1`);
        return x.shape.filter((_, i) => !axes.includes(i));
      });
      return [movable(ctx, 0).reshape(target).output(x.elemType)];
    },
  },
  Unsqueeze: {
    run: (ctx) => {
      const x = ctx.input(0);
      const target = ctx.steady(() => {
        const given = attrOrInput(ctx, 'axes', 1, 13);
        if (given === undefined) throw ctx.error('INVALID_MODEL', ctx.opset >= 13 ? 'input axes is required' : 'attribute axes is required');
        const rank = x.rank + given.length;
        const axes = axesOf(ctx, given, rank);
        const shape: number[] = [];
        let next = 0;
        for (let d = 0; d < rank; d++) shape.push(axes.includes(d) ? 1 : x.shape[next++]);
        return shape;
      });
      return [movable(ctx, 0).reshape(target).output(x.elemType)];
    },
  },
  Transpose: {
    run: (ctx) => {
      const x = ctx.input(0);
      const axes = ctx.steady(() => {
        const perm = ctx.attrs.ints('perm', x.shape.map((_, i) => x.rank - 1 - i));
        if (perm.length !== x.rank) throw ctx.error('INVALID_ARGUMENT', `perm ${JSON.stringify(perm)} does not list the ${x.rank} axes of ${formatShape(x.shape)}`);
        return axesOf(ctx, perm, x.rank, 'perm');
      });
      return [movable(ctx, 0).permute(axes).output(x.elemType)];
    },
  },
  Expand: {
    sinceVersion: 8,
    run: (ctx) => {
      const x = ctx.input(0);
      const shape = ctx.steady(() => broadcastPair(ctx, x.shape, checkDims(ctx, ctx.ints(1), 'shape')));
      return [movable(ctx, 0).expand(shape).output(x.elemType)];
    },
  },
  Tile: {
    run: (ctx) => {
      const x = ctx.input(0);
      const repeats = tileRepeats(ctx, x.rank);
      if (repeats.length !== x.rank) throw ctx.error('INVALID_SHAPE', `repeats ${formatShape(repeats)} must have one entry per dim of ${formatShape(x.shape)}`);
      checkDims(ctx, repeats, 'repeats');
      const spread = x.shape.flatMap((d) => [1, d]);
      const tiled = x.shape.flatMap((d, i) => [repeats[i], d]);
      return [movable(ctx, 0).reshape(spread).expand(tiled).reshape(x.shape.map((d, i) => d * repeats[i])).output(x.elemType)];
    },
  },
  DepthToSpace: { run: depthToSpace },
  SpaceToDepth: { run: spaceToDepth },
  Size: { run: (ctx) => [Value.int64([ctx.input(0).size], [])] },
};
