import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { expectMinnowError, runs } from '../helpers/reference.js';
import { initGpu } from './gpu-setup.js';

// matmulIntegerScaled on the gpu backend (matmulInteger's shader, then one epilogue pass) against
// backend-js, and its refusal when the accumulator could pass what float32 textures hold exactly.

await initGpu();

type IntType = 'int8' | 'uint8';

describe('gpu backend: matmulIntegerScaled', () => {
  it('matches backend-js: float32 within float32 rounding of the same product, 8-bit outputs exactly', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 7 }),
      fc.constantFrom<IntType>('int8', 'uint8'), fc.constantFrom<IntType>('int8', 'uint8'),
      fc.constantFrom<m.ScaledOutputType>('float32', 'int8', 'uint8'), fc.boolean(), fc.integer(),
      (rows, k, cols, aType, bType, type, perRow, seed) => {
        const rng = new m.Random(seed);
        const ints = (count: number, t: IntType): number[] => Array.from({ length: count }, () => rng.int(256) - (t === 'int8' ? 128 : 0));
        const len = perRow ? rows : cols;
        const data = {
          a: ints(rows * k, aType), b: ints(k * cols, bType), za: ints(1, aType), zb: ints(cols, bType),
          scale: Array.from({ length: len }, () => Math.fround(0.001 + 0.01 * rng.uniform())), bias: Array.from({ length: len }, () => rng.int(2001) - 1000),
          zy: ints(1, type === 'int8' ? 'int8' : 'uint8'),
        };
        const run = (backend: string): m.TypedArray => m.scope(() => {
          const t = (values: number[], shape: number[], dtype: m.DType) => m.fromArray(m.allocateArray(dtype, values.length).map((_, i) => values[i]), shape, { dtype, backend });
          return m.matmulIntegerScaled(t(data.a, [rows, k], aType), t(data.b, [k, cols], bType), {
            aZero: t(data.za, [], aType), bZero: t(data.zb, [cols], bType), scale: t(data.scale, [len], 'float32'), bias: t(data.bias, [len], 'int32'),
            type, outZero: type === 'float32' ? undefined : t(data.zy, [], type), perRow,
          }).dataSync();
        });
        const got = run('gpu');
        const want = run('js');
        // The shader multiplies in float32 as the reference does; float outputs are allowed a rounding of slack.
        for (let i = 0; i < want.length; i++) {
          if (type === 'float32') expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) * 2 ** -22);
          else expect(got[i]).toBe(want[i]);
        }
      },
    ), runs(8101, 40));
  });

  it('reads b as a patch view (bDims) as backend-js does', () => {
    const rng = new m.Random(5);
    const xs = Uint8Array.from({ length: 2 * 3 * 6 * 6 }, () => rng.int(256));
    const ws = Int8Array.from({ length: 4 * 27 }, () => rng.int(255) - 127);
    const run = (backend: string): number[] => m.scope(() => {
      const x = m.fromArray(xs, [2, 3, 6, 6], { dtype: 'uint8', backend });
      const w = m.fromArray(ws, [4, 27], { dtype: 'int8', backend });
      // 3x3 patches at stride 2 over a 6x6 image: a 2x2 output.
      const patches = new m.Tensor(x.storage, [2, 3, 3, 3, 2, 2], [108, 36, 6, 1, 12, 2], x.offset);
      const scale = m.fromArray(Float32Array.of(0.01, 0.02, 0.03, 0.04), [4], { backend });
      return Array.from(m.matmulIntegerScaled(w, patches, { scale, type: 'uint8', perRow: true, bDims: { k: 3, n: 2 } }).dataSync());
    });
    expect(run('gpu')).toEqual(run('js'));
  });

  it('refuses an accumulator that could pass 2^24', () => {
    m.scope(() => {
      const on = { backend: 'gpu' } as const;
      const k = 300;
      const a = m.full([1, k], 127, { dtype: 'int8', ...on });
      const b = m.full([k, 1], -128, { dtype: 'int8', ...on });
      const za = m.tensor(-128, { dtype: 'int8', ...on });
      const zb = m.tensor(127, { dtype: 'int8', ...on });
      expectMinnowError(() => m.matmulIntegerScaled(a, b, { aZero: za, bZero: zb, scale: m.tensor(1, on), type: 'float32' }), 'PRECISION_LIMIT', 'matmulIntegerScaled');
    });
  });
});
