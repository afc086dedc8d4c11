import { MinnowError, formatShape } from './errors.js';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

/** Row-major strides, in elements. Dims of size 1 get stride 0 nowhere: strides are the dense ones. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

/** True when a view walks its elements in row-major order with no gaps (size-1 dims may have any stride). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

export function assertValidShape(what: string, shape: unknown): asserts shape is number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new MinnowError(
      'INVALID_SHAPE',
      `${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
}

/** numpy/ONNX multidirectional broadcasting; `op` names the caller in the error. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  let rank = 0;
  for (const shape of shapes) rank = Math.max(rank, shape.length);
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let i = 0; i < shape.length; i++) {
      const d = rank - shape.length + i;
      const dim = shape[i];
      if (dim === out[d] || dim === 1) continue;
      if (out[d] === 1) {
        out[d] = dim;
        continue;
      }
      throw new MinnowError(
        'SHAPE_MISMATCH',
        `${op}: shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast together (dim ${d}: ${out[d]} vs ${dim})`,
      );
    }
  }
  return out;
}

/** Strides that read a view of `shape`/`strides` as if broadcast to `target` (stride 0 on repeated dims). */
export function broadcastStrides(
  op: string,
  shape: Shape,
  strides: readonly number[],
  target: Shape,
): number[] {
  const lead = target.length - shape.length;
  if (lead < 0) {
    throw new MinnowError('SHAPE_MISMATCH', `${op}: cannot broadcast ${formatShape(shape)} to ${formatShape(target)}`);
  }
  const out = new Array<number>(target.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const d = lead + i;
    if (shape[i] === target[d]) out[d] = shape[i] === 1 ? 0 : strides[i];
    else if (shape[i] === 1) out[d] = 0;
    else {
      throw new MinnowError(
        'SHAPE_MISMATCH',
        `${op}: cannot broadcast ${formatShape(shape)} to ${formatShape(target)}`,
      );
    }
  }
  return out;
}

/** Resolves a possibly negative axis against `rank`; OUT_OF_RANGE names the op and the shape. */
export function normalizeAxis(op: string, axis: number, rank: number, shape?: Shape): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    const where = shape ? ` of shape ${formatShape(shape)}` : ` of rank ${rank}`;
    throw new MinnowError('OUT_OF_RANGE', `${op}: axis ${axis} is out of range for a tensor${where}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalizes and de-duplicates a list of axes; undefined means all axes. Sorted ascending. */
export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, shape: Shape): number[] {
  if (axes === undefined) return shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normalizeAxis(op, a, shape.length, shape));
  if (new Set(out).size !== out.length) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: repeated axis in ${JSON.stringify(list)}`);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Resolves a reshape target (one dim may be -1) against `size`. Throws INVALID_SHAPE naming both
 * shapes when the element counts differ.
 */
export function resolveReshape(op: string, from: Shape, to: readonly number[]): number[] {
  const size = sizeOf(from);
  let inferred = -1;
  let known = 1;
  for (let i = 0; i < to.length; i++) {
    const d = to[i];
    if (d === -1) {
      if (inferred >= 0) throw new MinnowError('INVALID_SHAPE', `${op}: more than one -1 in ${formatShape(to)}`);
      inferred = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new MinnowError('INVALID_SHAPE', `${op}: bad dim ${d} in ${formatShape(to)}`);
    } else known *= d;
  }
  const out = [...to];
  if (inferred >= 0) {
    if (known === 0 || size % known !== 0) {
      throw new MinnowError('INVALID_SHAPE', `${op}: cannot reshape ${formatShape(from)} to ${formatShape(to)}`);
    }
    out[inferred] = size / known;
  } else if (known !== size) {
    throw new MinnowError(
      'INVALID_SHAPE',
      `${op}: cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(to)} (${known} elements)`,
    );
  }
  return out;
}

/**
 * Strides that let a strided view be reshaped without a copy, or null when the view's memory order
 * does not allow it (numpy's attempt_nocopy_reshape): dims of the old shape are grouped into runs
 * whose product matches a run of new dims, and each run must be contiguous in itself.
 */
export function reshapeStrides(shape: Shape, strides: readonly number[], target: Shape): number[] | null {
  const oldShape: number[] = [];
  const oldStrides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] !== 1) {
      oldShape.push(shape[i]);
      oldStrides.push(strides[i]);
    }
  }
  if (sizeOf(shape) === 0) return contiguousStrides(target);
  const out = new Array<number>(target.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < target.length && oi < oldShape.length) {
    if (target[ni] === 1) {
      ni++;
      continue;
    }
    let np = target[ni];
    let op = oldShape[oi];
    const nj0 = ni;
    const oj0 = oi;
    while (np !== op) {
      if (np < op) np *= target[++ni];
      else op *= oldShape[++oi];
    }
    for (let k = oj0; k < oi; k++) {
      if (oldStrides[k] !== oldShape[k + 1] * oldStrides[k + 1]) return null;
    }
    out[ni] = oldStrides[oi];
    for (let k = ni; k > nj0; k--) out[k - 1] = out[k] * target[k];
    ni++;
    oi++;
  }
  // Trailing size-1 dims of the target: any stride works; use the dense one.
  for (let k = 0; k < target.length; k++) if (target[k] === 1) out[k] = k + 1 < target.length ? out[k + 1] * target[k + 1] : 1;
  return out;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
