import type { BufferView, PrimitiveAttrs } from '@minnow/core';
import { sizeOf } from '@minnow/core';
import type { WasmBuffer } from './backend.js';
import { writeElementwise } from './descriptor.js';
import { forEachMatrix, type NativeContext, type NativeKernel } from './kernels.js';

type View = BufferView<WasmBuffer>;

/** One byte view over all of memory, re-created after memory grows (which detaches it): a view per read costs more than the read. */
let bytes = new Uint8Array(0);
function memoryBytes(ctx: NativeContext): Uint8Array {
  if (bytes.buffer !== ctx.memory.buffer) bytes = new Uint8Array(ctx.memory.buffer);
  return bytes;
}

/** Element `index` of an 8-bit view's buffer (int8 sign-extended). */
function byteAt(ctx: NativeContext, view: View, index: number): number {
  const v = memoryBytes(ctx)[view.buffer.ptr + index];
  return view.dtype === 'int8' ? (v << 24) >> 24 : v;
}

/**
 * The values of a zero-point view (8-bit) as int32s; returns their address. A scalar goes into
 * word `slot` of the descriptor block (free while a product runs); a vector into a temporary
 * block, which the caller frees (`temporary` true).
 */
function zeroPointsBlock(ctx: NativeContext, view: View, slot: number): { ptr: number; temporary: boolean } {
  const n = sizeOf(view.shape);
  if (n === 1) {
    ctx.descriptorWords()[slot] = byteAt(ctx, view, view.offset);
    return { ptr: ctx.descriptor + slot * 4, temporary: false };
  }
  const ptr = ctx.allocateTemporary(n * 4);
  const target = new Int32Array(ctx.memory.buffer, ptr, n);
  const stride = view.strides[0];
  for (let i = 0; i < n; i++) target[i] = byteAt(ctx, view, view.offset + i * stride);
  return { ptr, temporary: true };
}

/**
 * The byte offsets (8-bit elements) of the row-major walk over `count` dims of `view` from `first`,
 * as int32s at `at`: B's row table (its K dims) or column table (its N dims).
 */
function writeOffsets(ctx: NativeContext, view: View, first: number, count: number, at: number): void {
  const dims = view.shape.slice(first, first + count);
  const strides = view.strides.slice(first, first + count);
  const total = sizeOf(dims);
  const out = new Int32Array(ctx.memory.buffer, at, total);
  const index = new Array<number>(count).fill(0);
  let offset = 0;
  for (let i = 0; i < total; i++) {
    out[i] = offset;
    for (let d = count - 1; d >= 0; d--) {
      offset += strides[d];
      if (++index[d] < dims[d]) break;
      offset -= strides[d] * dims[d];
      index[d] = 0;
    }
  }
}

/** Epilogue modes of assembly/epilogue_i8.ts. */
const MODE = { float32: 1, int8: 2, uint8: 2 } as const;

/**
 * The integer products on assembly/gemm_i8.ts: matmulInteger (int32 out) and
 * matmulIntegerScaled (its epilogue fused: float32 or 8-bit out, no int32 matrix in memory).
 * `epilogue` is undefined for matmulInteger.
 */
function integerProduct(ctx: NativeContext, inputs: readonly View[], output: View, attrs: PrimitiveAttrs['matmulIntegerScaled'] | undefined): boolean {
  const { exports } = ctx;
  const [a, b, aZero, bZero] = inputs;
  if (!exports.gemmI8 || !exports.gemmI8Scaled || !exports.gemmI8ScratchBytes) return false;
  const r = a.shape.length;
  const [m, k, n] = [a.shape[r - 2], a.shape[r - 1], output.shape[output.shape.length - 1]];
  const tabled = attrs !== undefined && (attrs.bKDims !== 1 || attrs.bNDims !== 1);
  // B by tables: its offsets (and, for the thin and short paths, room to gather it) after the scratch.
  const base = exports.gemmI8ScratchBytes(m, n, k);
  const gather = tabled && (m <= 7 || k <= 16) ? k * n : 0;
  const scratch = ctx.scratch(base + (tabled ? (k + n) * 4 + gather + 16 : 0));
  const zeroA = zeroPointsBlock(ctx, aZero, 0);
  const zeroB = zeroPointsBlock(ctx, bZero, 1);
  const za = zeroA.ptr;
  const zb = zeroB.ptr;
  // Strides of size-1 dims made contiguous, so the kernel's layout tests see through them.
  const ac = k === 1 ? 1 : a.strides[r - 1];
  const ar = m === 1 ? k * ac : a.strides[r - 2];
  const bc = tabled ? 0 : n === 1 ? 1 : b.strides[r - 1];
  const br = tabled ? 0 : k === 1 ? n * bc : b.strides[r - 2];
  const aSigned = a.dtype === 'int8' ? 1 : 0;
  const bSigned = b.dtype === 'int8' ? 1 : 0;
  const aPerRow = sizeOf(aZero.shape) > 1 ? 1 : 0;
  const bPerCol = sizeOf(bZero.shape) > 1 ? 1 : 0;
  try {
    if (attrs === undefined) {
      const gemm = exports.gemmI8;
      forEachMatrix(a, b, m * n * 4, (pa, pb, out) => {
        gemm(m, n, k, pa, ar, ac, aSigned, za, aPerRow, pb, br, bc, bSigned, zb, bPerCol, output.buffer.ptr + out, scratch);
      }, ctx);
      return true;
    }
    const scale = inputs[4];
    const bias = inputs[5];
    const outZero = inputs[6];
    const gemm = exports.gemmI8Scaled;
    const quantized = attrs.type !== 'float32';
    const z = quantized ? byteAt(ctx, outZero, outZero.offset) : 0;
    const mode = MODE[attrs.type];
    const perRow = attrs.perRow ? 1 : 0;
    const sp = ctx.address(scale);
    const ss = scale.shape.length === 1 ? scale.strides[0] : 0;
    const bp = ctx.address(bias);
    const bs = bias.shape.length === 1 ? bias.strides[0] : 0;
    const outSigned = attrs.type === 'int8' ? 1 : 0;
    const outBytes = m * n * (quantized ? 1 : 4);
    if (tabled) {
      const rows = (scratch + base + 15) & ~15;
      const cols = rows + k * 4;
      const gathered = cols + n * 4;
      writeOffsets(ctx, b, r - 2, attrs.bKDims, rows);
      writeOffsets(ctx, b, r - 2 + attrs.bKDims, attrs.bNDims, cols);
      forEachMatrix(a, b, outBytes, (pa, pb, out) => {
        gemm(m, n, k, pa, ar, ac, aSigned, za, aPerRow, pb, 0, 0, bSigned, zb, bPerCol,
          mode, perRow, sp, ss, bp, bs, z, outSigned, output.buffer.ptr + out, scratch, rows, cols, gathered);
      }, ctx);
      return true;
    }
    if (a.shape.length === 2) {
      gemm(m, n, k, ctx.address(a), ar, ac, aSigned, za, aPerRow, ctx.address(b), br, bc, bSigned, zb, bPerCol,
        mode, perRow, sp, ss, bp, bs, z, outSigned, output.buffer.ptr, scratch, 0, 0, 0);
      return true;
    }
    forEachMatrix(a, b, outBytes, (pa, pb, out) => {
      gemm(m, n, k, pa, ar, ac, aSigned, za, aPerRow, pb, br, bc, bSigned, zb, bPerCol,
        mode, perRow, sp, ss, bp, bs, z, outSigned, output.buffer.ptr + out, scratch, 0, 0, 0);
    }, ctx);
    return true;
  } finally {
    if (zeroA.temporary) ctx.freeTemporary(za);
    if (zeroB.temporary) ctx.freeTemporary(zb);
  }
}

export function integerKernels(ctx: NativeContext) {
  return {
    matmulInteger: (inputs: readonly View[], output: View): boolean => integerProduct(ctx, inputs, output, undefined),
    matmulIntegerScaled: (inputs: readonly View[], output: View, attrs: PrimitiveAttrs['matmulIntegerScaled']): boolean => integerProduct(ctx, inputs, output, attrs),
  };
}

/**
 * max / min: int8 and uint8 operands on assembly/elementwise_i8.ts (MaxPool over quantized
 * activations), other dtypes on `other` (the float32 kernel, which refuses what it does not take).
 */
export function eightBitOr<K extends 'max' | 'min'>(ctx: NativeContext, op: K, other: NativeKernel<K>): NativeKernel<K> {
  return (inputs, output, attrs): boolean => {
    const [a, b] = inputs;
    if (!((a.dtype === 'int8' || a.dtype === 'uint8') && b.dtype === a.dtype) || !ctx.exports.binaryI8) return other(inputs, output, attrs);
    if (!writeElementwise(ctx.descriptorWords(), output.shape, inputs)) return false;
    ctx.exports.binaryI8(op === 'max' ? 0 : 1, a.dtype === 'int8' ? 1 : 0, ctx.descriptor, ctx.address(a), ctx.address(b), output.buffer.ptr);
    return true;
  };
}
