import type { BufferView } from '@minnow/core';
import { isContiguous, sizeOf } from '@minnow/core';

/**
 * Offsets into a view's buffer for each of its elements in row-major order, or null when the view
 * is contiguous (element i then lives at offset + i). Every kernel walks strided operands this way.
 */
export function elementOffsets(shape: readonly number[], strides: readonly number[], offset: number): Int32Array | null {
  if (isContiguous(shape, strides)) return null;
  return stridedOffsets(shape, strides, offset);
}

/** Offsets for every element of `shape` under `strides` (always materialised, even when dense). */
export function stridedOffsets(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  const size = sizeOf(shape);
  const out = new Int32Array(size);
  if (size === 0) return out;
  const rank = shape.length;
  if (rank === 0) {
    out[0] = offset;
    return out;
  }
  const counter = new Array<number>(rank).fill(0);
  const last = rank - 1;
  const innerDim = shape[last];
  const innerStride = strides[last];
  let base = offset;
  for (let i = 0; i < size; i += innerDim) {
    for (let j = 0; j < innerDim; j++) out[i + j] = base + j * innerStride;
    // Advance the outer dims like an odometer.
    for (let d = last - 1; d >= 0; d--) {
      counter[d]++;
      base += strides[d];
      if (counter[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      counter[d] = 0;
    }
  }
  return out;
}

/** Offsets of a view's elements (see elementOffsets). */
export function viewOffsets<B>(view: BufferView<B>): Int32Array | null {
  return elementOffsets(view.shape, view.strides, view.offset);
}
