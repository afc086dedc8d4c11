import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { parityCases } from '../parity/suite.js';
import { wasmParityProfile } from '../parity/profiles.js';
import { both, shapeArb, values } from '../parity/arbitraries.js';
import { EXACT, expectParity } from '../parity/compare.js';
import { SEED } from '../parity/profile.js';
import { WASM_BUILDS, initWasmBuilds } from './wasm-setup.js';

/**
 * Both WASM builds against backend-js: the backend-agnostic parity suite (test/parity/suite.ts,
 * which a browser page runs too), plus what only the WASM backend promises.
 */

const backends = await initWasmBuilds();

describe.each(WASM_BUILDS)('wasm %s build against backend-js', (build) => {
  const name = `wasm-${build}`;

  it('reports its build honestly', () => {
    const info = backends[build].info();
    expect(info.mode).toBe(build === 'simd' ? 'simd128' : 'relaxed-simd');
  });

  for (const c of parityCases(wasmParityProfile(name))) it(c.name, c.run);

  it('ops without a native kernel run the reference on linear memory, exactly (int32, float64, casts, pad, gather)', () => {
    const before = backends[build].memory();
    fc.assert(
      fc.property(shapeArb.filter((s) => s.length > 0 && s[0] > 0), fc.integer(), ([...shape], seed) => {
        const rng = new m.Random(seed);
        const i32 = values(m.sizeOf(shape), rng, [-1000, 1000], 'int32');
        const f64 = values(m.sizeOf(shape), rng, [-5, 5], 'float64');
        const idx = Int32Array.from({ length: 3 }, () => rng.int(shape[0] * 2) - shape[0]);
        const r = both(name, [{ data: i32, shape, dtype: 'int32' }, { data: f64, shape, dtype: 'float64' }, { data: idx, shape: [3], dtype: 'int32' }], ([a, b, i]) =>
          m.concat([m.cast(m.mul(a, a), 'float64'), m.exp(b), m.reshape(m.pad(b, b.shape.map(() => [1, 0] as [number, number])), [-1]), m.cast(m.gather(a, i, 0), 'float64')].map((t) => m.reshape(t, [-1])), 0),
        );
        expectParity(r.got, r.expected, EXACT, 'fallback');
      }),
      { seed: SEED, numRuns: 40 },
    );
    expect(backends[build].memory()).toEqual(before);
  });
});
