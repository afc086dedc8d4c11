import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MinnowError, contiguousStrides, type BufferView, type DType, type TypedArray } from '@minnow/core';
import { createJsBackend, jsKernels } from '@minnow/backend-js';
import { elementOffsets, stridedOffsets } from '../../packages/backend-js/src/strided.js';
import { arbShape, randInt, rng, runs, size, unravel } from '../helpers/reference.js';

/** A hand-made view: arbitrary strides (negative, zero) and offset into a buffer. */
function view<B extends TypedArray>(buffer: B, dtype: DType, shape: number[], strides: number[], offset: number): BufferView<TypedArray> {
  return { buffer, dtype, shape, strides, offset };
}

function out(dtype: DType, shape: number[]): BufferView<TypedArray> {
  const backend = createJsBackend('scratch');
  return view(backend.allocate(dtype, size(shape)), dtype, shape, contiguousStrides(shape), 0);
}

/** Random strides (any sign, zero on some dims) and an offset that keeps every element in bounds. */
function randomLayout(shape: number[], rand: () => number): { strides: number[]; offset: number; length: number } {
  const strides = shape.map(() => (rand() < 0.2 ? 0 : randInt(rand, -7, 7)));
  let lo = 0;
  let hi = 0;
  shape.forEach((d, i) => {
    if (d === 0) return;
    const span = (d - 1) * strides[i];
    if (span < 0) lo += span;
    else hi += span;
  });
  const pad = randInt(rand, 0, 3);
  return { strides, offset: -lo + pad, length: hi - lo + 1 + 2 * pad };
}

describe('strided offsets', () => {
  it('stridedOffsets lists offset + sum(index * stride) in row-major order for any strides', () => {
    fc.assert(fc.property(arbShape(0, 4, 5), fc.integer(), (shape, s) => {
      const { strides, offset } = randomLayout(shape, rng(s));
      const got = stridedOffsets(shape, strides, offset);
      expect(got.length).toBe(size(shape));
      for (let f = 0; f < got.length; f++) {
        const idx = unravel(f, shape);
        expect(got[f]).toBe(offset + idx.reduce((a, k, d) => a + k * strides[d], 0));
      }
    }), runs(1301, 200));
  });

  it('elementOffsets is null exactly for contiguous layouts', () => {
    expect(elementOffsets([2, 3], [3, 1], 5)).toBeNull();
    expect(elementOffsets([2, 1, 3], [3, 99, 1], 0)).toBeNull();
    expect(elementOffsets([], [], 4)).toBeNull();
    expect(Array.from(elementOffsets([2, 3], [1, 2], 0)!)).toEqual([0, 2, 4, 1, 3, 5]);
    expect(Array.from(elementOffsets([3], [-1], 2)!)).toEqual([2, 1, 0]);
    expect(Array.from(elementOffsets([2, 2], [0, 1], 1)!)).toEqual([1, 2, 1, 2]);
  });
});

describe('kernels on hand-made strided views', () => {
  it('unary and binary kernels read negative, zero and offset strides', () => {
    fc.assert(fc.property(arbShape(0, 3, 5), fc.integer(), (shape, s) => {
      const rand = rng(s);
      const la = randomLayout(shape, rand);
      const lb = randomLayout(shape, rand);
      const a = Float64Array.from({ length: la.length }, () => rand() * 10 - 5);
      const b = Float64Array.from({ length: lb.length }, () => rand() * 10 - 5);
      const va = view(a, 'float64', shape, la.strides, la.offset);
      const vb = view(b, 'float64', shape, lb.strides, lb.offset);
      const oa = stridedOffsets(shape, la.strides, la.offset);
      const ob = stridedOffsets(shape, lb.strides, lb.offset);
      const y = out('float64', shape);
      jsKernels.neg([va], y, {});
      expect(Array.from(y.buffer)).toEqual(Array.from(oa, (o) => -a[o]));
      const z = out('float64', shape);
      jsKernels.sub([va, vb], z, {});
      expect(Array.from(z.buffer)).toEqual(Array.from(oa, (o, i) => a[o] - b[ob[i]]));
      const c = out('float32', shape);
      jsKernels.cast([va], c, { dtype: 'float32' });
      expect(Array.from(c.buffer)).toEqual(Array.from(oa, (o) => Math.fround(a[o])));
    }), runs(1302, 150));
  });

  it('sum and reduceMax kernels write keep-dims outputs from strided inputs', () => {
    fc.assert(fc.property(arbShape(1, 3, 5, false), fc.integer(), (shape, s) => {
      const rand = rng(s);
      const l = randomLayout(shape, rand);
      const data = Float64Array.from({ length: l.length }, () => randInt(rand, -50, 50));
      const v = view(data, 'float64', shape, l.strides, l.offset);
      const axes = shape.map((_, i) => i).filter(() => rand() < 0.5);
      const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const offs = stridedOffsets(shape, l.strides, l.offset);
      const sums = new Array<number>(size(kept)).fill(0);
      const maxs = new Array<number>(size(kept)).fill(-Infinity);
      for (let f = 0; f < offs.length; f++) {
        const idx = unravel(f, shape).map((k, d) => (axes.includes(d) ? 0 : k));
        let slot = 0;
        for (let d = 0; d < kept.length; d++) slot = slot * kept[d] + idx[d];
        sums[slot] += data[offs[f]];
        maxs[slot] = Math.max(maxs[slot], data[offs[f]]);
      }
      const ys = out('float64', kept);
      jsKernels.sum([v], ys, { axes });
      expect(Array.from(ys.buffer)).toEqual(sums);
      const ym = out('float64', kept);
      jsKernels.reduceMax([v], ym, { axes });
      expect(Array.from(ym.buffer)).toEqual(maxs);
    }), runs(1303, 150));
  });

  it('pad kernel fills with the value and places a strided source', () => {
    const src = view(new Int8Array([9, 1, 2, 3, 4, 5, 6]), 'int8', [2, 3], [-3, 1], 4); // rows [4,5,6], [1,2,3]
    const y = out('int8', [3, 4]);
    jsKernels.pad([src], y, { pads: [[1, 0], [0, 1]], value: -1 });
    expect(Array.from(y.buffer)).toEqual([-1, -1, -1, -1, 4, 5, 6, -1, 1, 2, 3, -1]);
  });

  it('gather kernel resolves negative indices and rejects out-of-range ones with MinnowError', () => {
    const data = view(new Float32Array([0, 1, 2, 3, 4, 5]), 'float32', [3, 2], [1, 3], 0); // transposed [[0,3],[1,4],[2,5]]
    const idx = view(new Int32Array([-1, 0]), 'int32', [2], [1], 0);
    const y = out('float32', [2, 2]);
    jsKernels.gather([data, idx], y, { axis: 0 });
    expect(Array.from(y.buffer)).toEqual([2, 5, 0, 3]);
    const bad = view(new Int32Array([3]), 'int32', [1], [1], 0);
    expect(() => jsKernels.gather([data, bad], out('float32', [1, 2]), { axis: 0 })).toThrow(MinnowError);
  });

  it('quantize/dequantize kernels index blocked parameters by floor(i / blockSize) on the axis', () => {
    const x = view(new Float32Array([1, 2, 3, 4, 5]), 'float32', [5], [1], 0);
    const scale = view(new Float32Array([1, 2]), 'float32', [2], [1], 0);
    const zero = view(new Int8Array([0, 1]), 'int8', [2], [1], 0);
    const q = out('int8', [5]);
    jsKernels.quantize([x, scale, zero], q, { axis: 0, blockSize: 3, type: 'int4' });
    // block 0 (scale 1, zp 0): 1, 2, 3; block 1 (scale 2, zp 1): 4/2+1 = 3, 5/2 = 2.5 -> 2, +1 = 3
    expect(Array.from(q.buffer)).toEqual([1, 2, 3, 3, 3]);
    const d = out('float32', [5]);
    jsKernels.dequantize([q, scale, zero], d, { axis: 0, blockSize: 3 });
    expect(Array.from(d.buffer)).toEqual([1, 2, 3, 4, 4]);
  });

  it('matmul kernel handles transposed (column-major) and broadcast-batch operand views', () => {
    // a: [2, 2, 3] with batch stride 0 (same matrix twice), b: [2, 3, 2] column-major per batch
    const aData = new Float64Array([1, 2, 3, 4, 5, 6]);
    const a = view(aData, 'float64', [2, 2, 3], [0, 3, 1], 0);
    const bData = new Float64Array([1, 0, 0, 0, 1, 0, 2, 2, 2, 1, 1, 1]);
    const b = view(bData, 'float64', [2, 3, 2], [6, 1, 3], 0);
    const y = out('float64', [2, 2, 2]);
    jsKernels.matmul([a, b], y, {});
    // batch 0: b = [[1,0],[0,1],[0,0]] -> a[:, :2]; batch 1: b = [[2,1],[2,1],[2,1]]
    expect(Array.from(y.buffer)).toEqual([1, 2, 4, 5, 12, 6, 30, 15]);
  });
});

describe('js backend buffers', () => {
  it('allocate zero-fills and counts, read returns copies, write checks length, free twice is INTERNAL', async () => {
    const backend = createJsBackend('buffers-test');
    const buf = backend.allocate('int32', 4);
    expect(Array.from(buf)).toEqual([0, 0, 0, 0]);
    expect(backend.memory()).toEqual({ buffers: 1, bytes: 16 });
    backend.write(buf, new Int32Array([1, 2, 3, 4]));
    const copy = backend.readSync!(buf);
    copy[0] = 99;
    expect(Array.from(await backend.read(buf))).toEqual([1, 2, 3, 4]);
    expect(() => backend.write(buf, new Int32Array(3))).toThrow(MinnowError);
    expect(() => backend.allocate('float32', -1)).toThrow(MinnowError);
    expect(() => backend.allocate('float32', 1.5)).toThrow(MinnowError);
    backend.free(buf);
    expect(backend.memory()).toEqual({ buffers: 0, bytes: 0 });
    try {
      backend.free(buf);
      throw new Error('double free did not throw');
    } catch (err) {
      expect(err).toBeInstanceOf(MinnowError);
      expect((err as MinnowError).code).toBe('INTERNAL');
    }
    const f = backend.allocate('bool', 3);
    expect(f).toBeInstanceOf(Uint8Array);
    backend.free(f);
  });
});
