import type { BufferView, Kernel, TypedArray } from '@minnow/core';
import { sizeOf } from '@minnow/core';
import { gemm, gemmInteger, type NumericArray } from './gemm.js';

type Buf = TypedArray;

/**
 * Calls `body(aOffset, bOffset, cOffset)` for each matrix of a batched product whose batch dims
 * are already broadcast (stride 0 where repeated).
 */
function forEachBatch(a: BufferView<Buf>, b: BufferView<Buf>, m: number, n: number, body: (aOffset: number, bOffset: number, cOffset: number) => void): void {
  const batchShape = a.shape.slice(0, -2);
  const batches = sizeOf(batchShape);
  const rank = batchShape.length;
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < batches; i++) {
    let ao = a.offset;
    let bo = b.offset;
    for (let d = 0; d < rank; d++) {
      ao += counter[d] * a.strides[d];
      bo += counter[d] * b.strides[d];
    }
    body(ao, bo, i * m * n);
    for (let d = rank - 1; d >= 0; d--) {
      if (++counter[d] < batchShape[d]) break;
      counter[d] = 0;
    }
  }
}

export const matmul: Kernel<Buf, 'matmul'> = (inputs, output) => {
  const [a, b] = inputs;
  const r = a.shape.length;
  const m = a.shape[r - 2];
  const k = a.shape[r - 1];
  const n = b.shape[r - 1];
  const c = output.buffer as Float32Array | Float64Array | Int32Array;
  forEachBatch(a, b, m, n, (ao, bo, co) => {
    gemm(m, n, k, a.buffer, ao, a.strides[r - 2], a.strides[r - 1], b.buffer, bo, b.strides[r - 2], b.strides[r - 1], c, co);
  });
};

/** The values of a zero-point view (scalar or 1-D), in order. */
function zeroPoints(view: BufferView<Buf>): Int32Array {
  const n = sizeOf(view.shape);
  const out = new Int32Array(n);
  const stride = view.shape.length === 1 ? view.strides[0] : 0;
  for (let i = 0; i < n; i++) out[i] = view.buffer[view.offset + i * stride];
  return out;
}

export const matmulInteger: Kernel<Buf, 'matmulInteger'> = (inputs, output) => {
  const [a, b, aZero, bZero] = inputs;
  const r = a.shape.length;
  const m = a.shape[r - 2];
  const k = a.shape[r - 1];
  const n = b.shape[r - 1];
  const za = zeroPoints(aZero);
  const zb = zeroPoints(bZero);
  const c = output.buffer as Int32Array;
  forEachBatch(a, b, m, n, (ao, bo, co) => {
    gemmInteger(
      m, n, k,
      a.buffer as Int8Array | Uint8Array, ao, a.strides[r - 2], a.strides[r - 1], za,
      b.buffer as Int8Array | Uint8Array, bo, b.strides[r - 2], b.strides[r - 1], zb,
      c, co,
    );
  });
};

/**
 * conv2d as im2col + GEMM per image and group: the patch matrix [C/g * kH * kW, outH * outW]
 * (zeros where the window hangs over the padding) times the group's weights [O/g, C/g * kH * kW]
 * lands directly in the NCHW output, which is row-major [O/g, outH * outW] per group.
 */
export const conv2d: Kernel<Buf, 'conv2d'> = (inputs, output, attrs) => {
  const [x, w] = inputs;
  const [batch, , height, width] = x.shape;
  const [outChannels, groupChannels, kh, kw] = w.shape;
  const [, , outH, outW] = output.shape;
  const { stride, padding, dilation, groups } = attrs;
  const groupOut = outChannels / groups;
  const patch = groupChannels * kh * kw;
  const pixels = outH * outW;
  if (sizeOf(output.shape) === 0) return;
  const weights = denseWeights(w);
  const columns = new Float64Array(patch * pixels);
  const [xs0, xs1, xs2, xs3] = x.strides;
  const c = output.buffer as Float32Array | Float64Array;
  for (let img = 0; img < batch; img++) {
    for (let g = 0; g < groups; g++) {
      let row = 0;
      for (let ci = 0; ci < groupChannels; ci++) {
        const channelBase = x.offset + img * xs0 + (g * groupChannels + ci) * xs1;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++, row++) {
            let col = row * pixels;
            for (let oy = 0; oy < outH; oy++) {
              const iy = oy * stride[0] - padding[0] + i * dilation[0];
              const inside = iy >= 0 && iy < height;
              for (let ox = 0; ox < outW; ox++, col++) {
                const ix = ox * stride[1] - padding[1] + j * dilation[1];
                columns[col] = inside && ix >= 0 && ix < width ? x.buffer[channelBase + iy * xs2 + ix * xs3] : 0;
              }
            }
          }
        }
      }
      const outOffset = (img * outChannels + g * groupOut) * pixels;
      gemm(groupOut, pixels, patch, weights, g * groupOut * patch, patch, 1, columns, 0, pixels, 1, c, outOffset);
    }
  }
};

/** The weight tensor as a dense [O, C/g * kH * kW] row-major array (weights are small; one copy). */
function denseWeights(w: BufferView<Buf>): NumericArray {
  const [o, cg, kh, kw] = w.shape;
  const out = new Float64Array(o * cg * kh * kw);
  const [s0, s1, s2, s3] = w.strides;
  let p = 0;
  for (let a = 0; a < o; a++) for (let b = 0; b < cg; b++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
    out[p++] = w.buffer[w.offset + a * s0 + b * s1 + i * s2 + j * s3];
  }
  return out;
}
