import { describe, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { both, layoutArb, realise, values } from '../parity/arbitraries.js';
import { EXACT, expectParity } from '../parity/compare.js';
import { SEED } from '../parity/profile.js';
import { WASM_BUILDS, initWasmBuilds } from './wasm-setup.js';

/**
 * The thin int8 product (assembly/gemm_i8_thin.ts: M <= 7, B read in place, B's zero point
 * applied after the sum) against backend-js, bit for bit: rows form (B row-major, 16 columns a
 * step, odd k), dot form (B's columns contiguous, k % 8 in scalar), the scalar fallback (narrow
 * or strided B), M = 1..7 and the packed path just past it (M = 8, 9).
 */

await initWasmBuilds();

type IntType = 'int8' | 'uint8';
const range = (t: IntType): [number, number] => (t === 'int8' ? [-128, 127] : [0, 255]);

describe.each(WASM_BUILDS)('wasm %s build: thin matmulInteger', (build) => {
  const name = `wasm-${build}`;

  const check = (mm: number, n: number, k: number, aType: IntType, bType: IntType, perRow: boolean, perCol: boolean, aLayout: Parameters<typeof realise>[1], bLayout: Parameters<typeof realise>[1], batch: number[], seed: number): void => {
    const rng = new m.Random(seed);
    const aShape = [...batch, mm, k];
    const bShape = [...batch, k, n];
    const a = realise(aShape, aLayout);
    const b = realise(bShape, bLayout);
    const r = both(name, [
      { data: values(m.sizeOf(a.base), rng, range(aType), aType), shape: a.base, dtype: aType, view: a.view },
      { data: values(m.sizeOf(b.base), rng, range(bType), bType), shape: b.base, dtype: bType, view: b.view },
      { data: values(perRow ? mm : 1, rng, range(aType), aType), shape: perRow ? [mm] : [], dtype: aType },
      { data: values(perCol ? n : 1, rng, range(bType), bType), shape: perCol ? [n] : [], dtype: bType },
    ], ([x, y, za, zb]) => m.matmulInteger(x, y, za, zb));
    expectParity(r.got, r.expected, EXACT, `matmulInteger ${aType} ${aLayout} [${aShape.join(', ')}] x ${bType} ${bLayout} [${bShape.join(', ')}] zero points ${perRow ? 'per row' : 'per tensor'} / ${perCol ? 'per column' : 'per tensor'}`);
  };

  it('M = 1..9, every layout of A and B, int8 and uint8, zero points per tensor / row / column', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 300 }),
        fc.constantFrom<IntType>('int8', 'uint8'), fc.constantFrom<IntType>('int8', 'uint8'), fc.boolean(), fc.boolean(),
        layoutArb, layoutArb, fc.constantFrom<number[]>([], [2]), fc.integer(),
        (mm, n, k, aType, bType, perRow, perCol, aLayout, bLayout, batch, seed) =>
          check(mm, n, k, aType, bType, perRow, perCol, aLayout, bLayout, batch, seed),
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('dense-layer sizes: [1..7, 784] x [784, 512] and [1..7, 512] x [512, 256] row-major and transposed', () => {
    let seed = 11;
    for (const [k, n] of [[784, 512], [512, 256], [257, 33]]) {
      for (let mm = 1; mm <= 7; mm += 3) {
        for (const bLayout of ['contiguous', 'transposed'] as const) {
          check(mm, n, k, 'uint8', 'int8', false, true, 'contiguous', bLayout, [], seed++);
          check(mm, n, k, 'int8', 'uint8', true, false, 'contiguous', bLayout, [], seed++);
        }
      }
    }
  });

  it('batch 1 against a transposed weight (the split dot form): k past one 2048-term chunk, and extreme values', () => {
    let seed = 41;
    for (const k of [2048, 2063, 5000, 9216]) {
      for (const [aType, bType] of [['uint8', 'int8'], ['int8', 'int8'], ['uint8', 'uint8']] as const) {
        check(1, 10, k, aType, bType, false, true, 'contiguous', 'transposed', [], seed++);
      }
    }
    // The largest products: |a - aZero| = 255 against -128 (int8) or 255 (uint8) in every term.
    for (const [bType, w] of [['int8', -128], ['uint8', 255]] as const) {
      const k = 6000;
      const r = both(`wasm-${build}`, [
        { data: new Uint8Array(k).fill(255), shape: [1, k], dtype: 'uint8' },
        { data: bType === 'int8' ? new Int8Array(k * 8).fill(w) : new Uint8Array(k * 8).fill(w), shape: [8, k], dtype: bType },
      ], ([x, y]) => m.matmulInteger(x, m.transpose(y)));
      expectParity(r.got, r.expected, EXACT, `extreme ${bType}`);
      if (r.expected.data[0] !== 255 * w * k) throw new Error(`reference sum ${r.expected.data[0]}`);
    }
  });
});
