import type { BufferView, Kernel, TypedArray } from '@minnow/core';
import { quantizedRange, roundHalfToEven, sizeOf } from '@minnow/core';
import { viewOffsets } from '../strided.js';

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
