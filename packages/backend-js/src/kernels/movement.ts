import type { Kernel, TypedArray } from '@minnow/core';
import { MinnowError, contiguousStrides, sizeOf } from '@minnow/core';
import { stridedOffsets, viewOffsets } from '../strided.js';

type Buf = TypedArray;

export const pad: Kernel<Buf, 'pad'> = (inputs, output, attrs) => {
  const x = inputs[0];
  const dst = output.buffer;
  if (!Object.is(attrs.value, 0)) dst.fill(attrs.value);
  const outStrides = contiguousStrides(output.shape);
  const base = attrs.pads.reduce((acc, [before], d) => acc + before * outStrides[d], 0);
  const targets = stridedOffsets(x.shape, outStrides, base);
  const sources = viewOffsets(x);
  for (let i = 0; i < targets.length; i++) dst[targets[i]] = x.buffer[sources ? sources[i] : x.offset + i];
};

export const gather: Kernel<Buf, 'gather'> = (inputs, output, attrs) => {
  const [data, indices] = inputs;
  const axis = attrs.axis;
  const dim = data.shape[axis];
  const outer = sizeOf(data.shape.slice(0, axis));
  const inner = sizeOf(data.shape.slice(axis + 1));
  const count = sizeOf(indices.shape);
  const dataOffsets = viewOffsets(data);
  const indexOffsets = viewOffsets(indices);
  const resolved = new Int32Array(count);
  for (let j = 0; j < count; j++) {
    const raw = indices.buffer[indexOffsets ? indexOffsets[j] : indices.offset + j];
    if (raw < -dim || raw >= dim) {
      throw new MinnowError('OUT_OF_RANGE', `gather: index ${raw} at position ${j} is out of range for axis ${axis} of size ${dim}`);
    }
    resolved[j] = raw < 0 ? raw + dim : raw;
  }
  const dst = output.buffer;
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (let j = 0; j < count; j++) {
      const logical = (a * dim + resolved[j]) * inner;
      for (let i = 0; i < inner; i++) {
        dst[o++] = data.buffer[dataOffsets ? dataOffsets[logical + i] : data.offset + logical + i];
      }
    }
  }
};
