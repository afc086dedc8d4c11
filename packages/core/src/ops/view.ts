import { MinnowError, formatShape } from '../errors.js';
import { runKernel } from '../dispatch.js';
import { broadcastStrides, normalizeAxis, sizeOf, reshapeStrides, resolveReshape, shapesEqual, isContiguous } from '../shape.js';
import { recordOp } from '../autograd/graph.js';
import { Tensor } from '../tensor.js';
import type { PrimitiveAttrs, ViewOp } from './table.js';

/**
 * The view primitives: new shape, strides and offset over the same storage, no data touched.
 * `contiguous` is the one that copies, through the cast kernel. They do not go through runKernel,
 * so each records itself on the autograd tape as the view primitive it is.
 */

function viewOf<K extends ViewOp>(
  op: K,
  attrs: PrimitiveAttrs[K],
  x: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): Tensor {
  x.view(); // throws DISPOSED
  const out = new Tensor(x.storage, shape, strides, offset);
  recordOp(op, [x], attrs, out);
  return out;
}

/** Same elements in row-major order under a new shape (one dim may be -1). Copies only when the strides forbid a view. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveReshape('reshape', x.shape, shape);
  const strides = reshapeStrides(x.shape, x.strides, target);
  if (strides) return viewOf('reshape', { shape: target }, x, target, strides, x.offset);
  const dense = contiguous(x);
  const out = viewOf('reshape', { shape: target }, dense, target, reshapeStrides(dense.shape, dense.strides, target)!, dense.offset);
  dense.dispose();
  return out;
}

/** Reorders dims: output dim i is input dim axes[i]. */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length !== x.rank) {
    throw new MinnowError('INVALID_ARGUMENT', `permute: ${axes.length} axes given for a tensor of shape ${formatShape(x.shape)}`);
  }
  const normalized = axes.map((a) => normalizeAxis('permute', a, x.rank, x.shape));
  if (new Set(normalized).size !== normalized.length) {
    throw new MinnowError('INVALID_ARGUMENT', `permute: ${JSON.stringify(axes)} is not a permutation of the ${x.rank} axes of ${formatShape(x.shape)}`);
  }
  return viewOf('permute', { axes: normalized }, x, normalized.map((a) => x.shape[a]), normalized.map((a) => x.strides[a]), x.offset);
}

/** Swaps the last two dims (or the two given). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  if (x.rank < 2) return viewOf('permute', { axes: x.shape.map((_, i) => i) }, x, x.shape, x.strides, x.offset);
  const a = normalizeAxis('transpose', dim0, x.rank, x.shape);
  const b = normalizeAxis('transpose', dim1, x.rank, x.shape);
  const axes = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, axes);
}

/** Broadcasts to `shape` with stride 0 on repeated dims (numpy rules; leading dims may be added). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(x.shape, shape)) return viewOf('expand', { shape: x.shape }, x, x.shape, x.strides, x.offset);
  return viewOf('expand', { shape: [...shape] }, x, shape, broadcastStrides('expand', x.shape, x.strides, shape), x.offset);
}

/**
 * Python-style slicing per dim: starts and ends may be negative (counted from the end); an end of
 * null runs to the end in the direction of the step. Bounds outside the dim are OUT_OF_RANGE, not
 * clamped (ONNX Slice clamps: its importer does so before calling this).
 */
function sliceOutOfRange(x: Tensor, starts: readonly number[], ends: readonly (number | null)[], step: number, d: number): never {
  throw new MinnowError('OUT_OF_RANGE', `slice: ${starts[d]}:${ends[d] ?? ''}:${step} is out of range for dim ${d} of shape ${formatShape(x.shape)}`);
}

export function slice(x: Tensor, starts: readonly number[], ends: readonly (number | null)[], steps?: readonly number[]): Tensor {
  const rank = x.rank;
  if (starts.length !== rank || ends.length !== rank || (steps && steps.length !== rank)) {
    throw new MinnowError('INVALID_ARGUMENT', `slice: starts, ends and steps need ${rank} entries for shape ${formatShape(x.shape)}`);
  }
  const shape: number[] = [];
  const strides: number[] = [];
  const firsts: number[] = [];
  const stepList: number[] = [];
  let offset = x.offset;
  for (let d = 0; d < rank; d++) {
    const dim = x.shape[d];
    const step = steps ? steps[d] : 1;
    if (!Number.isInteger(step) || step === 0) throw new MinnowError('INVALID_ARGUMENT', `slice: step ${step} on dim ${d} must be a non-zero integer`);
    const rawEnd = ends[d];
    let start = starts[d] < 0 ? starts[d] + dim : starts[d];
    let count: number;
    if (!Number.isInteger(start) || (rawEnd !== null && !Number.isInteger(rawEnd))) sliceOutOfRange(x, starts, ends, step, d);
    if (step > 0) {
      const end = rawEnd === null ? dim : rawEnd < 0 ? rawEnd + dim : rawEnd;
      if (start < 0 || start > dim || end < 0 || end > dim) sliceOutOfRange(x, starts, ends, step, d);
      count = Math.max(0, Math.ceil((end - start) / step));
    } else {
      const end = rawEnd === null ? -1 : rawEnd < 0 ? rawEnd + dim : rawEnd;
      if (dim === 0) {
        start = 0;
        count = 0;
      } else {
        if (start < 0 || start >= dim || end < -1 || end >= dim) sliceOutOfRange(x, starts, ends, step, d);
        count = Math.max(0, Math.ceil((start - end) / -step));
      }
    }
    shape.push(count);
    strides.push(x.strides[d] * step);
    if (count > 0) offset += start * x.strides[d];
    firsts.push(count > 0 ? start : 0);
    stepList.push(step);
  }
  // Recorded resolved: starts are the first indices taken, ends one step past the last (may be -1).
  const attrs = { starts: firsts, ends: firsts.map((s, d) => s + shape[d] * stepList[d]), steps: stepList };
  return viewOf('slice', attrs, x, shape, strides, offset);
}

/** A dense copy (or a new view when already dense). */
export function contiguous(x: Tensor): Tensor {
  if (isContiguous(x.shape, x.strides)) return viewOf('reshape', { shape: x.shape }, x, x.shape, x.strides, x.offset);
  return runKernel('cast', [x], { dtype: x.dtype }, { shape: x.shape, dtype: x.dtype });
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 dims (all of them, or the given ones, which must be size 1). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const list = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : (typeof axes === 'number' ? [axes] : axes).map((a) => normalizeAxis('squeeze', a, x.rank, x.shape));
  for (const a of list) {
    if (x.shape[a] !== 1) throw new MinnowError('INVALID_ARGUMENT', `squeeze: dim ${a} of shape ${formatShape(x.shape)} is not 1`);
  }
  return reshape(x, x.shape.filter((_, i) => !list.includes(i)));
}

/** Collapses dims [axis, end) into one (ONNX Flatten collapses to 2-D with `flatten2d`). */
export function flatten(x: Tensor, axis = 0): Tensor {
  const a = normalizeAxis('flatten', axis, Math.max(1, x.rank));
  return reshape(x, [...x.shape.slice(0, a), sizeOf(x.shape.slice(a))]);
}
