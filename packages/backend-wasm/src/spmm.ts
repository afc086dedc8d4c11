import type { BufferView, PrimitiveAttrs } from '@minnow/core';
import type { WasmBuffer } from './backend.js';
import type { NativeContext } from './kernels.js';

type View = BufferView<WasmBuffer>;

/** A 1-D view whose elements lie one after another (any stride when it has at most one). */
const packed = (v: View): boolean => v.shape[0] <= 1 || v.strides[0] === 1;

/**
 * spmm on assembly/spmm.ts for float32 with contiguous CSR arrays; B may have any strides (the
 * kernel copies it to row-major scratch when its rows are not contiguous). Other dtypes and
 * layouts return false, and the backend-js reference runs on linear memory instead.
 */
export function nativeSpmm(ctx: NativeContext): (inputs: readonly View[], output: View, attrs: PrimitiveAttrs['spmm']) => boolean {
  return (inputs, output) => {
    const { spmmF32, spmmF32ScratchBytes } = ctx.exports;
    const [values, colIndices, rowPointers, dense] = inputs;
    if (!spmmF32 || !spmmF32ScratchBytes || values.dtype !== 'float32' || dense.dtype !== 'float32') return false;
    if (!packed(values) || !packed(colIndices) || !packed(rowPointers)) return false;
    const [m, n] = output.shape;
    const k = dense.shape[0];
    // Strides of size-1 dims never move an address: make them contiguous so the kernel's layout test sees through them.
    const colStride = n === 1 ? 1 : dense.strides[1];
    const rowStride = k === 1 ? n * colStride : dense.strides[0];
    const scratch = ctx.scratch(spmmF32ScratchBytes(n, k, colStride));
    spmmF32(m, n, k, ctx.address(values), ctx.address(colIndices), ctx.address(rowPointers), ctx.address(dense), rowStride, colStride, output.buffer.ptr, scratch);
    return true;
  };
}
