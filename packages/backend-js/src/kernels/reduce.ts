import type { BufferView, Kernel, TypedArray } from '@minnow/core';
import { contiguousStrides, sizeOf } from '@minnow/core';
import { stridedOffsets, viewOffsets } from '../strided.js';

type Buf = TypedArray;

/**
 * Reductions walk the input once; each element's output slot comes from the output's strides with
 * 0 on reduced axes. Accumulation is in float64 (exact for int sums below 2^53).
 */
function reduceInto(input: BufferView<Buf>, output: BufferView<Buf>, axes: readonly number[], init: number, step: (acc: number, v: number) => number): void {
  const outStrides = contiguousStrides(output.shape).map((s, d) => (axes.includes(d) ? 0 : s));
  const outSlots = stridedOffsets(input.shape, outStrides, 0);
  const inOffsets = viewOffsets(input);
  const acc = new Float64Array(sizeOf(output.shape)).fill(init);
  const src = input.buffer;
  const n = outSlots.length;
  for (let i = 0; i < n; i++) {
    const slot = outSlots[i];
    acc[slot] = step(acc[slot], src[inOffsets ? inOffsets[i] : input.offset + i]);
  }
  output.buffer.set(acc);
}

export const sum: Kernel<Buf, 'sum'> = (inputs, output, attrs) => {
  reduceInto(inputs[0], output, attrs.axes, 0, (acc, v) => acc + v);
};

export const reduceMax: Kernel<Buf, 'reduceMax'> = (inputs, output, attrs) => {
  // NaN wins: once acc is NaN neither comparison replaces it.
  reduceInto(inputs[0], output, attrs.axes, -Infinity, (acc, v) => (v > acc || v !== v ? v : acc));
};
