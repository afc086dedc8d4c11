import type { BufferView, PrimitiveAttrs } from '@minnow/core';
import { sizeOf, viewArray } from '@minnow/core';
import type { WasmBuffer } from './backend.js';
import { forEachMatrix, type NativeContext } from './kernels.js';

type View = BufferView<WasmBuffer>;

/** The values of a zero-point view (scalar or 1-D) as int32s written to a temporary block; returns its address. */
function zeroPointsBlock(ctx: NativeContext, view: View): number {
  const n = sizeOf(view.shape);
  const ptr = ctx.allocateTemporary(n * 4);
  const source = viewArray(view.dtype, ctx.memory.buffer, view.buffer.ptr, view.buffer.length);
  const target = new Int32Array(ctx.memory.buffer, ptr, n);
  const stride = view.shape.length === 1 ? view.strides[0] : 0;
  for (let i = 0; i < n; i++) target[i] = source[view.offset + i * stride];
  return ptr;
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
  const [m, k, n] = [a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]];
  const scratch = ctx.scratch(exports.gemmI8ScratchBytes(m, n, k));
  const za = zeroPointsBlock(ctx, aZero);
  const zb = zeroPointsBlock(ctx, bZero);
  // Strides of size-1 dims made contiguous, so the kernel's layout tests see through them.
  const ac = k === 1 ? 1 : a.strides[r - 1];
  const ar = m === 1 ? k * ac : a.strides[r - 2];
  const bc = n === 1 ? 1 : b.strides[r - 1];
  const br = k === 1 ? n * bc : b.strides[r - 2];
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
    const [, , , , scale, bias, outZero] = inputs;
    const gemm = exports.gemmI8Scaled;
    const stride = (v: View): number => (v.shape.length === 1 ? v.strides[0] : 0);
    const quantized = attrs.type !== 'float32';
    const z = quantized ? viewArray(outZero.dtype, ctx.memory.buffer, outZero.buffer.ptr, outZero.buffer.length)[outZero.offset] : 0;
    const mode = MODE[attrs.type];
    const perRow = attrs.perRow ? 1 : 0;
    const [sp, ss, bp, bs] = [ctx.address(scale), stride(scale), ctx.address(bias), stride(bias)];
    const outSigned = attrs.type === 'int8' ? 1 : 0;
    forEachMatrix(a, b, m * n * (quantized ? 1 : 4), (pa, pb, out) => {
      gemm(m, n, k, pa, ar, ac, aSigned, za, aPerRow, pb, br, bc, bSigned, zb, bPerCol,
        mode, perRow, sp, ss, bp, bs, z, outSigned, output.buffer.ptr + out, scratch);
    }, ctx);
    return true;
  } finally {
    ctx.freeTemporary(za);
    ctx.freeTemporary(zb);
  }
}

export function integerKernels(ctx: NativeContext) {
  return {
    matmulInteger: (inputs: readonly View[], output: View): boolean => integerProduct(ctx, inputs, output, undefined),
    matmulIntegerScaled: (inputs: readonly View[], output: View, attrs: PrimitiveAttrs['matmulIntegerScaled']): boolean => integerProduct(ctx, inputs, output, attrs),
  };
}
