import type { BufferView, Kernel, TypedArray } from '@minnow/core';
import { contiguousStrides, quantizedRange, roundHalfToEven, sizeOf } from '@minnow/core';
import { stridedOffsets, viewOffsets } from '../strided.js';
import { matmulInteger } from './linalg.js';

type Buf = TypedArray;

/**
 * Offset of the scale/zero point for each element: along `axis` the index is i / blockSize,
 * elsewhere the element's own index (params views carry stride 0 on broadcast dims).
 */
function paramOffsets(shape: readonly number[], param: BufferView<Buf>, axis: number, blockSize: number): Int32Array {
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  const rank = shape.length;
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let offset = param.offset;
    for (let d = 0; d < rank; d++) {
      const index = d === axis ? Math.floor(counter[d] / blockSize) : counter[d];
      offset += index * param.strides[d];
    }
    out[i] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      if (++counter[d] < shape[d]) break;
      counter[d] = 0;
    }
  }
  return out;
}

export const quantize: Kernel<Buf, 'quantize'> = (inputs, output, attrs) => {
  const [x, scale, zero] = inputs;
  const { min, max } = quantizedRange(attrs.type);
  const xo = viewOffsets(x);
  const so = paramOffsets(x.shape, scale, attrs.axis, attrs.blockSize);
  const zo = paramOffsets(x.shape, zero, attrs.axis, attrs.blockSize);
  // ONNX computes x / scale in the input's precision: round the quotient to float32 for float32 input.
  const narrow = x.dtype === 'float32' ? Math.fround : (v: number) => v;
  const dst = output.buffer;
  for (let i = 0; i < dst.length; i++) {
    const v = narrow(x.buffer[xo ? xo[i] : x.offset + i] / scale.buffer[so[i]]);
    // NaN maps to the zero point (it has no meaningful quantized value).
    const q = (v !== v ? 0 : roundHalfToEven(v)) + zero.buffer[zo[i]];
    dst[i] = q < min ? min : q > max ? max : q;
  }
};

export const dequantize: Kernel<Buf, 'dequantize'> = (inputs, output, attrs) => {
  const [x, scale, zero] = inputs;
  const xo = viewOffsets(x);
  const so = paramOffsets(x.shape, scale, attrs.axis, attrs.blockSize);
  const zo = paramOffsets(x.shape, zero, attrs.axis, attrs.blockSize);
  const dst = output.buffer;
  for (let i = 0; i < dst.length; i++) {
    dst[i] = (x.buffer[xo ? xo[i] : x.offset + i] - zero.buffer[zo[i]]) * scale.buffer[so[i]];
  }
};

/** A scale or bias view (scalar or 1-D) as its values in order. */
function vectorOf(view: BufferView<Buf>): number[] {
  const n = sizeOf(view.shape);
  const stride = view.shape.length === 1 ? view.strides[0] : 0;
  return Array.from({ length: n }, (_, i) => view.buffer[view.offset + i * stride]);
}

/**
 * b read as [...batch, K, N] when it has several K or N dims (bKDims, bNDims): its elements in
 * that order, copied out through its strides. A matrix view is returned as it is.
 */
function asMatrix(b: BufferView<Buf>, kDims: number, nDims: number, out: readonly number[]): BufferView<Buf> {
  if (kDims === 1 && nDims === 1) return b;
  const batch = out.slice(0, -2);
  const k = sizeOf(b.shape.slice(batch.length, batch.length + kDims));
  const shape = [...batch, k, out[out.length - 1]];
  const offsets = stridedOffsets(b.shape, b.strides, b.offset);
  const buffer = b.dtype === 'int8' ? new Int8Array(offsets.length) : new Uint8Array(offsets.length);
  for (let i = 0; i < offsets.length; i++) buffer[i] = b.buffer[offsets[i]];
  return { buffer, dtype: b.dtype, shape, strides: contiguousStrides(shape), offset: 0 };
}

/**
 * The integer product into int32 (matmulInteger's kernel), then the epilogue element by element:
 * y = f32(f32((acc + bias) | 0) * scale) (the product of two float32 values is exact in float64,
 * so one fround is float32's own multiply), then for 8-bit outputs the clamp to [qmin - z,
 * qmax - z] (NaN to the lower bound, as onnxruntime's requantization), round half to even and + z.
 */
export const matmulIntegerScaled: Kernel<Buf, 'matmulIntegerScaled'> = (inputs, output, attrs) => {
  const [a, b, aZero, bZero, scaleView, biasView, outZero] = inputs;
  const shape = output.shape;
  const r = shape.length;
  const acc = new Int32Array(sizeOf(shape));
  matmulInteger([a, asMatrix(b, attrs.bKDims, attrs.bNDims, shape), aZero, bZero], { buffer: acc, dtype: 'int32', shape, strides: contiguousStrides(shape), offset: 0 }, {});
  const scale = vectorOf(scaleView);
  const bias = vectorOf(biasView);
  const [m, n] = [shape[r - 2], shape[r - 1]];
  const index = (i: number): number => (attrs.perRow ? Math.floor(i / n) % m : i % n);
  const dst = output.buffer;
  const quantized = attrs.type !== 'float32';
  const { min, max } = quantized ? quantizedRange(attrs.type as 'int8' | 'uint8') : { min: 0, max: 0 };
  const z = quantized ? outZero.buffer[outZero.offset] : 0;
  for (let i = 0; i < acc.length; i++) {
    const c = index(i);
    let y = Math.fround(Math.fround((acc[i] + bias[bias.length === 1 ? 0 : c]) | 0) * scale[scale.length === 1 ? 0 : c]);
    if (!quantized) {
      dst[i] = y;
      continue;
    }
    if (!(y >= min - z)) y = min - z;
    else if (y > max - z) y = max - z;
    dst[i] = roundHalfToEven(y) + z;
  }
};
