import { describe, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { both, layoutArb, realise, values, type Input } from '../parity/arbitraries.js';
import { EXACT, expectParity } from '../parity/compare.js';
import { SEED } from '../parity/profile.js';
import { WASM_BUILDS, initWasmBuilds } from './wasm-setup.js';

/**
 * maximum / minimum on int8 and uint8 (assembly/elementwise_i8.ts: 16 lanes for contiguous and
 * step-2 rows, scalar otherwise) against backend-js, over layouts and shapes, including the
 * strided taps MaxPool reads (2x2 windows, stride 2) and rows just around the 16-lane edges.
 */

await initWasmBuilds();

type IntType = 'int8' | 'uint8';
const range = (t: IntType): [number, number] => (t === 'int8' ? [-128, 127] : [0, 255]);

describe.each(WASM_BUILDS)('wasm %s build: 8-bit maximum and minimum', (build) => {
  const name = `wasm-${build}`;

  it('match backend-js over shapes and layouts', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }), fc.constantFrom<IntType>('int8', 'uint8'),
      fc.constantFrom('max', 'min'), layoutArb, layoutArb, fc.integer(),
      (shape, dtype, op, aLayout, bLayout, seed) => {
        const rng = new m.Random(seed);
        const [a, b] = [realise(shape, aLayout), realise(shape, bLayout)];
        const inputs: Input[] = [a, b].map((r) => ({ data: values(m.sizeOf(r.base), rng, range(dtype), dtype), shape: r.base, dtype, view: r.view }));
        const r = both(name, inputs, ([x, y]) => (op === 'max' ? m.maximum(x, y) : m.minimum(x, y)));
        expectParity(r.got, r.expected, EXACT, `${op} ${dtype} [${shape}] ${aLayout} / ${bLayout}`);
      },
    ), { seed: SEED, numRuns: 300 });
  });

  it('MaxPool taps: step-2 views of [N, C, H, W] against each other and against a contiguous running maximum', () => {
    for (const [h, w] of [[24, 24], [2, 34], [5, 33], [8, 64], [3, 17]]) {
      for (const dtype of ['uint8', 'int8'] as const) {
        const rng = new m.Random(h * 100 + w);
        const base = { data: values(2 * 3 * h * w, rng, range(dtype), dtype), shape: [2, 3, h, w], dtype };
        const r = both(name, [base], ([x]) => {
          const tap = (dy: number, dx: number) => m.slice(x, [0, 0, dy, dx], [2, 3, h - 1 + dy - ((h - 1) % 2), w - 1 + dx - ((w - 1) % 2)], [1, 1, 2, 2]);
          const first = m.maximum(tap(0, 0), tap(0, 1));
          return m.maximum(m.maximum(first, tap(1, 0)), tap(1, 1));
        });
        expectParity(r.got, r.expected, EXACT, `MaxPool 2x2 taps ${dtype} [2, 3, ${h}, ${w}]`);
      }
    }
  });
});
