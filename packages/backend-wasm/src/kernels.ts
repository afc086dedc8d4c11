import type { BufferView, KernelOp, PrimitiveAttrs } from '@minnow/core';
import { MinnowError, bytesPerElement, collapseDims, contiguousStrides, isContiguous, sizeOf, viewArray } from '@minnow/core';
import type { KernelExports } from './module.js';
import type { WasmBuffer } from './backend.js';
import { writeConv2d, writeElementwise, writeReduce } from './descriptor.js';
import { eightBitOr, integerKernels } from './kernels-int8.js';
import { nativeSpmm } from './spmm.js';

/** What native kernels need from the backend: the module, memory, and argument/scratch space. */
export interface NativeContext {
  readonly exports: KernelExports;
  readonly memory: WebAssembly.Memory;
  /** Writes i32 values into the descriptor block and returns its address. */
  writeDescriptor(values: readonly number[]): number;
  /** Byte address of the descriptor block (64 i32 words). */
  readonly descriptor: number;
  /** The descriptor block as i32 words, for writing it in place (a fresh view after memory grows). */
  descriptorWords(): Int32Array;
  /** A scratch block of at least `bytes`, reused across calls (allocating may grow memory). */
  scratch(bytes: number): number;
  allocateTemporary(bytes: number): number;
  freeTemporary(ptr: number): void;
  /** Byte address of a view's first element. */
  address(view: BufferView<WasmBuffer>): number;
}

type View = BufferView<WasmBuffer>;
/** A native kernel returns false when it does not handle these dtypes or layouts (the reference runs then). */
export type NativeKernel<K extends KernelOp> = (inputs: readonly View[], output: View, attrs: PrimitiveAttrs[K]) => boolean;
export type NativeKernels = { [K in KernelOp]?: NativeKernel<K> };

const UNARY = { neg: 0, abs: 1, sqrt: 2, floor: 3, round: 4, reciprocal: 5, exp: 6, log: 7, tanh: 8, sign: 9 } as const;
const BINARY = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, pow: 6, cmplt: 7, cmpeq: 8 } as const;
const REDUCE = { sum: 0, reduceMax: 1 } as const;
/** dtype codes of assembly/copy.ts; float64 casts run the reference. */
const CAST_DTYPES: Partial<Record<string, number>> = { float32: 0, int32: 1, int8: 2, uint8: 3, bool: 4 };

/** The elementwise descriptor: 4 dims of shape, then 4 strides per operand. Null when it needs more than 4 dims. */
function elementwiseDescriptor(ctx: NativeContext, output: View, inputs: readonly View[]): number | null {
  return writeElementwise(ctx.descriptorWords(), output.shape, inputs) ? ctx.descriptor : null;
}

/** pad: below this many bytes per row, a per-row copyWithin costs more than the reference loop. */
const MIN_ROW_BYTES = 64;

const QUANT_CODES: Partial<Record<string, number>> = { int8: 0, uint8: 1, int32: 2 };
const QUANT_RANGE = { int8: [-128, 127], uint8: [0, 255], int4: [-8, 7], uint4: [0, 15] } as const;

/**
 * The [outer, D, inner] descriptor of assembly/quantize.ts for contiguous x and parameter views
 * whose outer and inner dims each collapse to one stride; null otherwise (the reference runs).
 */
function quantDescriptor(ctx: NativeContext, x: View, scale: View, zero: View, axis: number, blockSize: number, code: number, range: readonly [number, number]): number | null {
  if (!isContiguous(x.shape, x.strides)) return null;
  const outerDims = x.shape.slice(0, axis);
  const innerDims = x.shape.slice(axis + 1);
  const outer = collapseDims(outerDims, [scale.strides.slice(0, axis), zero.strides.slice(0, axis)]);
  const inner = collapseDims(innerDims, [scale.strides.slice(axis + 1), zero.strides.slice(axis + 1)]);
  if (outer.shape.length > 1 || inner.shape.length > 1) return null;
  const stride = (c: typeof outer, operand: number): number => (c.shape.length ? c.strides[operand][0] : 0);
  return ctx.writeDescriptor([
    sizeOf(outerDims), x.shape[axis] ?? 1, sizeOf(innerDims), blockSize,
    stride(outer, 0), scale.strides[axis] ?? 0, stride(inner, 0),
    stride(outer, 1), zero.strides[axis] ?? 0, stride(inner, 1),
    code, range[0], range[1],
  ]);
}

/**
 * Calls `body` with the byte addresses of each matrix of a batched product (batch dims already
 * broadcast, stride 0 where repeated) and the byte offset of its output matrix.
 */
export function forEachMatrix(a: View, b: View, outMatrixBytes: number, body: (aAddress: number, bAddress: number, outOffset: number) => void, ctx: NativeContext): void {
  const batchShape = a.shape.slice(0, -2);
  const count = sizeOf(batchShape);
  const rank = batchShape.length;
  const aBytes = bytesPerElement(a.dtype);
  const bBytes = bytesPerElement(b.dtype);
  const aBase = ctx.address(a);
  const bBase = ctx.address(b);
  const index = new Array<number>(rank).fill(0);
  for (let i = 0; i < count; i++) {
    let ao = 0;
    let bo = 0;
    for (let d = 0; d < rank; d++) {
      ao += index[d] * a.strides[d];
      bo += index[d] * b.strides[d];
    }
    body(aBase + ao * aBytes, bBase + bo * bBytes, i * outMatrixBytes);
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < batchShape[d]) break;
      index[d] = 0;
    }
  }
}

export function nativeKernels(ctx: NativeContext): NativeKernels {
  const { exports } = ctx;
  const f32 = (...views: readonly View[]): boolean => views.every((v) => v.dtype === 'float32');

  const unary = <K extends keyof typeof UNARY>(op: K): NativeKernel<K> => (inputs, output) => {
    if (!f32(inputs[0])) return false;
    const desc = elementwiseDescriptor(ctx, output, inputs);
    if (desc === null) return false;
    exports.unaryF32(UNARY[op], desc, ctx.address(inputs[0]), output.buffer.ptr);
    return true;
  };

  const binary = <K extends keyof typeof BINARY>(op: K): NativeKernel<K> => (inputs, output) => {
    if (!f32(inputs[0], inputs[1])) return false;
    const desc = elementwiseDescriptor(ctx, output, inputs);
    if (desc === null) return false;
    exports.binaryF32(BINARY[op], desc, ctx.address(inputs[0]), ctx.address(inputs[1]), output.buffer.ptr);
    return true;
  };

  const reduce = <K extends keyof typeof REDUCE>(op: K): NativeKernel<K> => (inputs, output, attrs) => {
    const x = inputs[0];
    if (!f32(x)) return false;
    if (sizeOf(x.shape) === 0) return false; // empty inputs: the reference writes the identities
    if (!writeReduce(ctx.descriptorWords(), x, attrs.axes)) return false;
    exports.reduceF32(REDUCE[op], ctx.descriptor, ctx.address(x), output.buffer.ptr);
    return true;
  };

  const kernels: NativeKernels = {
    neg: unary('neg'), abs: unary('abs'), sqrt: unary('sqrt'), floor: unary('floor'), round: unary('round'),
    reciprocal: unary('reciprocal'), exp: unary('exp'), log: unary('log'), tanh: unary('tanh'), sign: unary('sign'),
    add: binary('add'), sub: binary('sub'), mul: binary('mul'), div: binary('div'), max: eightBitOr(ctx, 'max', binary('max')), min: eightBitOr(ctx, 'min', binary('min')),
    pow: binary('pow'), cmplt: binary('cmplt'), cmpeq: binary('cmpeq'),
    where: (inputs, output) => {
      const [cond, a, b] = inputs;
      if (!f32(a, b)) return false;
      const desc = elementwiseDescriptor(ctx, output, inputs);
      if (desc === null) return false;
      exports.whereF32(desc, ctx.address(cond), ctx.address(a), ctx.address(b), output.buffer.ptr);
      return true;
    },
    cast: (inputs, output, attrs) => {
      const x = inputs[0];
      const desc = elementwiseDescriptor(ctx, output, inputs);
      if (desc === null) return false;
      if (x.dtype === attrs.dtype) {
        exports.copyStrided(bytesPerElement(x.dtype), desc, ctx.address(x), output.buffer.ptr);
        return true;
      }
      const from = CAST_DTYPES[x.dtype];
      const to = CAST_DTYPES[attrs.dtype];
      if (from === undefined || to === undefined) return false;
      exports.castStrided(from, to, desc, ctx.address(x), output.buffer.ptr);
      return true;
    },
    quantize: (inputs, output, attrs) => {
      const [x, scale, zero] = inputs;
      if (!f32(x, scale) || x.shape.length === 0) return false;
      const desc = quantDescriptor(ctx, x, scale, zero, attrs.axis, attrs.blockSize, QUANT_CODES[zero.dtype]!, QUANT_RANGE[attrs.type]);
      if (desc === null) return false;
      exports.quantizeF32(desc, ctx.address(x), ctx.address(scale), ctx.address(zero), output.buffer.ptr);
      return true;
    },
    dequantize: (inputs, output, attrs) => {
      const [x, scale, zero] = inputs;
      const code = QUANT_CODES[x.dtype];
      if (!f32(scale) || code === undefined || x.shape.length === 0) return false;
      const desc = quantDescriptor(ctx, x, scale, zero, attrs.axis, attrs.blockSize, code, [0, 0]);
      if (desc === null) return false;
      exports.dequantizeF32(desc, ctx.address(x), ctx.address(scale), ctx.address(zero), output.buffer.ptr);
      return true;
    },
    matmul: (inputs, output) => {
      const [a, b] = inputs;
      if (!f32(a, b) || !exports.gemmF32 || !exports.gemmF32ScratchBytes) return false;
      const r = a.shape.length;
      const [m, k, n] = [a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]];
      const scratch = ctx.scratch(exports.gemmF32ScratchBytes(m, n, k));
      const gemm = exports.gemmF32;
      // Strides of size-1 matrix dims never move an address; make them what a contiguous layout
      // would have, so the kernel's layout tests (row vector, contiguous columns) see through them.
      const ac = k === 1 ? 1 : a.strides[r - 1];
      const ar = m === 1 ? k * ac : a.strides[r - 2];
      const bc = n === 1 ? 1 : b.strides[r - 1];
      const br = k === 1 ? n * bc : b.strides[r - 2];
      if (r === 2) {
        gemm(m, n, k, ctx.address(a), ar, ac, ctx.address(b), br, bc, output.buffer.ptr, scratch);
        return true;
      }
      forEachMatrix(a, b, m * n * 4, (pa, pb, out) => gemm(m, n, k, pa, ar, ac, pb, br, bc, output.buffer.ptr + out, scratch), ctx);
      return true;
    },
    ...integerKernels(ctx),
    conv2d: (inputs, output, attrs) => {
      const [x, w] = inputs;
      if (!f32(x, w) || !exports.conv2dF32 || !exports.conv2dF32ScratchBytes) return false;
      if (sizeOf(output.shape) === 0) return true;
      writeConv2d(ctx.descriptorWords(), x, w, output, attrs);
      const desc = ctx.descriptor;
      const scratch = ctx.scratch(exports.conv2dF32ScratchBytes(desc));
      exports.conv2dF32(desc, ctx.address(x), ctx.address(w), output.buffer.ptr, scratch);
      return true;
    },
    // Rows of any width (down to one element, as in a reflection pad built from gather) move in
    // assembly/copy.ts, which checks every index before writing.
    gather: (inputs, output, attrs) => {
      const [data, indices] = inputs;
      const axis = attrs.axis;
      if (indices.dtype !== 'int32' || !isContiguous(data.shape, data.strides) || !isContiguous(indices.shape, indices.strides)) return false;
      const dim = data.shape[axis];
      const count = sizeOf(indices.shape);
      const rowBytes = sizeOf(data.shape.slice(axis + 1)) * bytesPerElement(data.dtype);
      const outer = sizeOf(data.shape.slice(0, axis));
      const bad = exports.gatherRows(rowBytes, outer, dim, ctx.address(indices), count, ctx.address(data), output.buffer.ptr);
      if (bad >= 0) {
        const v = new Int32Array(ctx.memory.buffer, ctx.address(indices), count)[bad];
        throw new MinnowError('OUT_OF_RANGE', `gather: index ${v} at position ${bad} is out of range for axis ${axis} of size ${dim}`);
      }
      return true;
    },
    pad: (inputs, output, attrs) => {
      const x = inputs[0];
      const rank = x.shape.length;
      if (rank === 0 || !isContiguous(x.shape, x.strides)) return false;
      const bpe = bytesPerElement(x.dtype);
      const rowBytes = x.shape[rank - 1] * bpe;
      if (rowBytes < MIN_ROW_BYTES) return false;
      if (!Object.is(attrs.value, 0)) viewArray(output.dtype, ctx.memory.buffer, output.buffer.ptr, output.buffer.length).fill(attrs.value);
      const outStrides = contiguousStrides(output.shape);
      const bytes = new Uint8Array(ctx.memory.buffer);
      const rows = sizeOf(x.shape.slice(0, -1));
      const index = new Array<number>(rank - 1).fill(0);
      let src = ctx.address(x);
      for (let r = 0; r < rows; r++) {
        let at = attrs.pads[rank - 1][0];
        for (let d = 0; d < rank - 1; d++) at += (index[d] + attrs.pads[d][0]) * outStrides[d];
        bytes.copyWithin(output.buffer.ptr + at * bpe, src, src + rowBytes);
        src += rowBytes;
        for (let d = rank - 2; d >= 0; d--) {
          if (++index[d] < x.shape[d]) break;
          index[d] = 0;
        }
      }
      return true;
    },
    sum: reduce('sum'),
    reduceMax: reduce('reduceMax'),
    spmm: nativeSpmm(ctx),
  };
  return kernels;
}
