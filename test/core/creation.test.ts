import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Random, arange, encodeFloat16, encodeBFloat16, equal, fromArray, fromFloat16, fromInt4, full, ones, packInt4, permute,
  randomNormal, randomUniform, scalar, scope, slice, tensor, where, zeros, type DType, type NestedArray,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import { expectMinnowError, readValues, runs, typedArrayFor } from '../helpers/reference.js';

/** Nested arrays of a shape filled from `next`, as tensor() accepts them. */
function nested(shape: readonly number[], next: () => number): NestedArray {
  if (shape.length === 0) return next();
  return Array.from({ length: shape[0] }, () => nested(shape.slice(1), next));
}

describe('tensor()', () => {
  itNoLeaks('infers shape from nested arrays and round-trips through array()/arraySync()', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }), fc.constantFrom<DType>('float32', 'float64', 'int32', 'int8', 'uint8'), async (shape, dtype) => {
      let i = 0;
      const values = nested(shape, () => (i++ % 100));
      const t = tensor(values, { dtype });
      try {
        expect([...t.shape]).toEqual(shape);
        expect(t.dtype).toBe(dtype);
        expect(t.arraySync()).toEqual(values);
        expect(await t.array()).toEqual(values);
      } finally {
        t.dispose();
      }
    }), runs(1101, 60));
  });

  itNoLeaks('scalars, booleans, empty arrays and defaults', async () => {
    const s = scalar(3.5);
    const b = tensor([[true, false], [false, true]]);
    const e = tensor([]);
    const e2 = tensor([[], []]);
    const mixed = tensor([true, 2]);
    try {
      expect(s.shape).toEqual([]);
      expect(s.dtype).toBe('float32');
      expect(s.itemSync()).toBe(3.5);
      expect(await s.item()).toBe(3.5);
      expect(s.arraySync()).toBe(3.5);
      expect(b.dtype).toBe('bool');
      expect(b.arraySync()).toEqual([[true, false], [false, true]]);
      expect(Array.from(b.dataSync())).toEqual([1, 0, 0, 1]);
      expect([...e.shape]).toEqual([0]);
      expect([...e2.shape]).toEqual([2, 0]);
      expect(e2.arraySync()).toEqual([[], []]);
      expect(mixed.dtype).toBe('bool');
      expect(mixed.arraySync()).toEqual([true, true]);
      const t = scalar(true);
      expect(t.arraySync()).toBe(true);
      t.dispose();
    } finally {
      for (const t of [s, b, e, e2, mixed]) t.dispose();
    }
  });

  itNoLeaks('an explicit shape reshapes nested or flat values; a count mismatch is INVALID_SHAPE', () => {
    scope(() => {
      expect(tensor([1, 2, 3, 4, 5, 6], [2, 3]).arraySync()).toEqual([[1, 2, 3], [4, 5, 6]]);
      expect(tensor([[1, 2], [3, 4]], [4]).arraySync()).toEqual([1, 2, 3, 4]);
      expectMinnowError(() => tensor([1, 2, 3], [2, 2]), 'INVALID_SHAPE', '[2,2]');
    });
  });

  itNoLeaks('ragged nested arrays are MinnowError INVALID_SHAPE', () => {
    for (const bad of [[[1, 2], [3]], [1, [2]], [[1], 2], [[[1, 2]], [[3]]], [[], [1]]] as NestedArray[]) {
      expectMinnowError(() => tensor(bad), 'INVALID_SHAPE', 'ragged');
    }
  });

  itNoLeaks('typed arrays keep their dtype (Uint8Array -> uint8), or convert to an explicit dtype', () => {
    scope(() => {
      for (const [arr, dtype] of [[new Float32Array([1.5]), 'float32'], [new Float64Array([1.5]), 'float64'], [new Int32Array([-7]), 'int32'], [new Int8Array([-7]), 'int8'], [new Uint8Array([200]), 'uint8']] as const) {
        const t = tensor(arr);
        expect(t.dtype).toBe(dtype);
        expect([...t.shape]).toEqual([1]);
        expect(t.dataSync()).toBeInstanceOf(arr.constructor);
      }
      expect(Array.from(tensor(new Float64Array([1.9, -1.9, 300]), { dtype: 'int8' }).dataSync())).toEqual([1, -1, 44]);
      expect(tensor(new Int32Array([0, 5, -1]), { dtype: 'bool' }).arraySync()).toEqual([false, true, true]);
      expect(Array.from(tensor(new Int32Array([0, 5, -1]), { dtype: 'bool' }).dataSync())).toEqual([0, 1, 1]);
      expect(tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [3, 2]).arraySync()).toEqual([[1, 2], [3, 4], [5, 6]]);
    });
  });

  itNoLeaks('values are copied in: mutating the source array later does not change the tensor', () => {
    scope(() => {
      const src = new Float32Array([1, 2, 3]);
      const t = tensor(src);
      src[0] = 99;
      expect(readValues(t)).toEqual([1, 2, 3]);
    });
  });

  // BUG: a Uint8Array given with dtype 'bool' is stored as is, without normalising to 0/1
  // (ops/creation.ts fromArray: `dtype === 'bool' && values instanceof Uint8Array ? values`), so
  // bool tensors can hold 2..255: data() returns them, and equal() of two `true`s is false.
  it('bool tensors from a Uint8Array hold only 0 and 1', () => {
    scope(() => {
      const t = tensor(new Uint8Array([2, 0, 255]), { dtype: 'bool' });
      expect(Array.from(t.dataSync())).toEqual([1, 0, 1]);
      expect(equal(t, tensor([true, false, true])).arraySync()).toEqual([true, true, true]);
    });
  });

  // BUG (same root): arange(..., { dtype: 'bool' }) stores start + i * step into the bool buffer
  // unnormalised (ops/creation.ts arange), so arange(0, 4, 1, { dtype: 'bool' }) holds [0, 1, 2, 3]
  // and cast(..., 'float32') of it gives [0, 1, 2, 3].
  it("arange with dtype 'bool' holds only 0 and 1", () => {
    scope(() => {
      expect(Array.from(arange(0, 4, 1, { dtype: 'bool' }).dataSync())).toEqual([0, 1, 1, 1]);
    });
  });

  itNoLeaks('bad shapes and dtypes are MinnowErrors', () => {
    expectMinnowError(() => fromArray(new Float32Array(3), [2, 2]), 'INVALID_SHAPE', 'fromArray', '[2,2]');
    expectMinnowError(() => fromArray(new Float32Array(0), [-1]), 'INVALID_SHAPE', 'fromArray');
    expectMinnowError(() => fromArray(new Float32Array(1), [1.5] as number[]), 'INVALID_SHAPE');
    expectMinnowError(() => tensor([1], { dtype: 'float16' as DType }), 'UNSUPPORTED_DTYPE', 'float16');
    expectMinnowError(() => zeros([2, -3]), 'INVALID_SHAPE', 'full');
  });
});

describe('zeros, ones, full, arange', () => {
  itNoLeaks('fill every dtype, including empty shapes', () => {
    scope(() => {
      for (const dtype of ['float32', 'float64', 'int32', 'int8', 'uint8', 'bool'] as DType[]) {
        expect(readValues(zeros([2, 2], { dtype }))).toEqual([0, 0, 0, 0]);
        expect(readValues(ones([3], { dtype }))).toEqual([1, 1, 1]);
        expect(zeros([2, 0, 3], { dtype }).size).toBe(0);
        expect(zeros([], { dtype }).shape).toEqual([]);
      }
      expect(readValues(full([2], -2.5))).toEqual([-2.5, -2.5]);
      expect(readValues(full([2], 300, { dtype: 'int8' }))).toEqual([44, 44]);
      expect(full([2], 7, { dtype: 'bool' }).arraySync()).toEqual([true, true]);
      expect(Number.isNaN(full([1], NaN).itemSync())).toBe(true);
    });
  });

  itNoLeaks('arange follows numpy: one argument, negative and fractional steps, empty ranges, dtypes', () => {
    scope(() => {
      expect(readValues(arange(5))).toEqual([0, 1, 2, 3, 4]);
      expect(readValues(arange(2, 5))).toEqual([2, 3, 4]);
      expect(readValues(arange(5, 0, -2))).toEqual([5, 3, 1]);
      expect(readValues(arange(0, 1, 0.25, { dtype: 'float64' }))).toEqual([0, 0.25, 0.5, 0.75]);
      expect(arange(0, 1, 0.1).size).toBe(10);
      expect(arange(3, 3).size).toBe(0);
      expect(arange(3, 0).size).toBe(0);
      expect(arange(0, 4, 1, { dtype: 'int32' }).dtype).toBe('int32');
      expectMinnowError(() => arange(0, 1, 0), 'INVALID_ARGUMENT', 'arange');
      expectMinnowError(() => arange(0, Infinity), 'INVALID_ARGUMENT', 'arange');
    });
  });
});

describe('random tensors', () => {
  itNoLeaks('same seed gives the same data; different seeds differ; a shared Random continues the stream', () => {
    scope(() => {
      const a = readValues(randomNormal([100], { seed: 42 }));
      const b = readValues(randomNormal([100], { seed: 42 }));
      const c = readValues(randomNormal([100], { seed: 43 }));
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
      expect(readValues(randomUniform([50], { seed: 7 }))).toEqual(readValues(randomUniform([50], { seed: 7 })));
      const rng = new Random(9);
      const first = readValues(randomUniform([10], { seed: rng }));
      const second = readValues(randomUniform([10], { seed: rng }));
      expect(first).not.toEqual(second);
      const again = new Random(9);
      expect(readValues(randomUniform([20], { seed: again }))).toEqual([...first, ...second]);
    });
  });

  itNoLeaks('randomNormal: mean and std within sampling error over 10k samples; float64 supported', () => {
    scope(() => {
      for (const dtype of ['float32', 'float64'] as const) {
        const v = readValues(randomNormal([100, 100], { seed: 1234, mean: 2, std: 3, dtype }));
        const m = v.reduce((a, x) => a + x, 0) / v.length;
        const sd = Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1));
        expect(Math.abs(m - 2)).toBeLessThan(5 * 3 / 100); // 5 standard errors
        expect(Math.abs(sd - 3)).toBeLessThan(0.1);
        // about 68% within one std
        const inside = v.filter((x) => Math.abs(x - 2) < 3).length / v.length;
        expect(Math.abs(inside - 0.6827)).toBeLessThan(0.02);
      }
    });
  });

  itNoLeaks('randomUniform: within [low, high), mean and variance of a uniform', () => {
    scope(() => {
      const v = readValues(randomUniform([10000], { seed: 5, low: -2, high: 4, dtype: 'float64' }));
      expect(v.every((x) => x >= -2 && x < 4)).toBe(true);
      const m = v.reduce((a, x) => a + x, 0) / v.length;
      const variance = v.reduce((a, x) => a + (x - m) ** 2, 0) / v.length;
      expect(Math.abs(m - 1)).toBeLessThan(0.1);
      expect(Math.abs(variance - 3)).toBeLessThan(0.15);
    });
  });

  itNoLeaks('a seed is required and only float dtypes are allowed', () => {
    expectMinnowError(() => randomNormal([2], {} as { seed: number }), 'INVALID_ARGUMENT', 'randomNormal', 'seed');
    expectMinnowError(() => randomUniform([2], { seed: 1, dtype: 'int32' }), 'UNSUPPORTED_DTYPE', 'randomUniform');
    expectMinnowError(() => new Random(NaN), 'INVALID_ARGUMENT', 'Random');
  });
});

describe('storage-format constructors', () => {
  itNoLeaks('fromFloat16 / bfloat16 decode into float32 tensors', () => {
    scope(() => {
      const values = [0, -0, 1, -2.5, 65504, 2 ** -24, Infinity];
      const t = fromFloat16(encodeFloat16(values), [7]);
      expect(t.dtype).toBe('float32');
      expect(readValues(t)).toEqual(values);
      const bf = fromFloat16(encodeBFloat16([1, -3, 256]), [3], { format: 'bfloat16' });
      expect(readValues(bf)).toEqual([1, -3, 256]);
      expectMinnowError(() => fromFloat16(new Uint16Array(3), [2, 2]), 'INVALID_SHAPE');
    });
  });

  itNoLeaks('fromInt4 unpacks signed into int8 and unsigned into uint8, odd counts included', () => {
    scope(() => {
      const s = fromInt4(packInt4([1, -1, 7, -8, 3], true), [5], { signed: true });
      expect(s.dtype).toBe('int8');
      expect(readValues(s)).toEqual([1, -1, 7, -8, 3]);
      const u = fromInt4(packInt4([15, 0, 9, 4], false), [2, 2], { signed: false });
      expect(u.dtype).toBe('uint8');
      expect(u.arraySync()).toEqual([[15, 0], [9, 4]]);
      expectMinnowError(() => fromInt4(new Uint8Array(1), [3], { signed: true }), 'OUT_OF_RANGE', 'unpackInt4');
    });
  });
});

describe('reading data', () => {
  itNoLeaks('data()/dataSync() return fresh copies of only the view\'s elements, in row-major order', async () => {
    const base = tensor([[1, 2, 3], [4, 5, 6]]);
    const view = permute(base, [1, 0]);
    const part = slice(base, [1, -1], [2, null], [1, -2]);
    try {
      const d1 = base.dataSync();
      d1[0] = 100;
      expect(readValues(base)[0]).toBe(1);
      const d2 = await base.data();
      expect(d2).not.toBe(d1);
      expect(Array.from(await view.data())).toEqual([1, 4, 2, 5, 3, 6]);
      expect(Array.from(view.dataSync())).toEqual([1, 4, 2, 5, 3, 6]);
      expect(await view.array()).toEqual([[1, 4], [2, 5], [3, 6]]);
      expect(part.arraySync()).toEqual([[6, 4]]);
      const one = slice(part, [0, 1], [1, 2]);
      expect(await one.item()).toBe(4);
      one.dispose();
    } finally {
      base.dispose();
      view.dispose();
      part.dispose();
    }
  });

  itNoLeaks('item() on a tensor with other than one element is INVALID_SHAPE naming the shape', async () => {
    const t = zeros([2, 1]);
    try {
      expectMinnowError(() => t.itemSync(), 'INVALID_SHAPE', 'item', '[2,1]');
      await expect(t.item()).rejects.toMatchObject({ code: 'INVALID_SHAPE' });
      const one = ones([1, 1, 1]);
      expect(one.itemSync()).toBe(1);
      one.dispose();
    } finally {
      t.dispose();
    }
  });

  itNoLeaks("to('js') copies into new storage on the same backend; the source stays alive", async () => {
    const src = tensor([[1, 2], [3, 4]], { dtype: 'int32' });
    const view = permute(src, [1, 0]);
    const moved = await view.to('js');
    try {
      expect(moved.storage).not.toBe(src.storage);
      expect(moved.backend.name).toBe('js');
      expect(moved.dtype).toBe('int32');
      expect(moved.isContiguous).toBe(true);
      expect(moved.arraySync()).toEqual([[1, 3], [2, 4]]);
      expect(view.isDisposed).toBe(false);
      expect(src.arraySync()).toEqual([[1, 2], [3, 4]]);
    } finally {
      moved.dispose();
      view.dispose();
      src.dispose();
    }
  });

  itNoLeaks('bool tensors read back as booleans and select in where()', () => {
    scope(() => {
      const c = tensor([true, false]);
      expect(c.arraySync()).toEqual([true, false]);
      expect(readValues(where(c, tensor([1, 2]), tensor([3, 4])))).toEqual([1, 4]);
      expect(typedArrayFor('bool', [5, 0])).toEqual(new Uint8Array([1, 0]));
    });
  });
});
