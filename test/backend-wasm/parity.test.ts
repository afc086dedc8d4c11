import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { parityCases } from '../parity/suite.js';
import { wasmParityProfile } from '../parity/profiles.js';
import { both, layoutArb, realise, shapeArb, values, type Layout } from '../parity/arbitraries.js';
import { EXACT, expectParity } from '../parity/compare.js';
import { SEED } from '../parity/profile.js';
import { WASM_BUILDS, initWasmBuilds } from './wasm-setup.js';

/**
 * Both WASM builds against backend-js: the backend-agnostic parity suite (test/parity/suite.ts,
 * which a browser page runs too), plus what only the WASM backend promises.
 */

const backends = await initWasmBuilds();

/** Float32 products within k * 2^-22 absolute (values in [-1, 1]), as in test/parity/linalg.ts. */
const PRODUCT_EPS = 2 ** -22;

/** An input of `shape` laid out as `layout` (see realise), with values in [-1, 1]. */
function laidOut(shape: readonly number[], layout: Layout, rng: m.Random) {
  const { base, view } = realise(shape, layout);
  return { data: values(m.sizeOf(base), rng, [-1, 1], 'float32'), shape: base, dtype: 'float32' as const, view };
}

describe.each(WASM_BUILDS)('wasm %s build against backend-js', (build) => {
  const name = `wasm-${build}`;

  it('reports its build honestly', () => {
    const info = backends[build].info();
    expect(info.mode).toBe(build === 'simd' ? 'simd128' : 'relaxed-simd');
  });

  for (const c of parityCases(wasmParityProfile(name))) it(c.name, c.run);

  // The thin products (gemm_thin.ts): few rows of A (rows form when B is row-major, dot products
  // when B's columns are contiguous, e.g. ONNX Gemm transB) or few columns of B (dot products,
  // with A transposed through C^T = B^T A^T), k with every remainder mod 4, and any layout.
  it('matmul with few rows or few columns (M = 1..9 or N = 1..9), every layout of A and B', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 300 }), fc.boolean(),
        layoutArb, layoutArb, fc.constantFrom([], [2]), fc.integer(),
        (thin, wide, k, fewRows, aLayout, bLayout, batch, seed) => {
          const rng = new m.Random(seed);
          const [mm, n] = fewRows ? [thin, wide] : [wide, thin];
          const aShape = [...batch, mm, k];
          const bShape = [...batch, k, n];
          const r = both(name, [laidOut(aShape, aLayout, rng), laidOut(bShape, bLayout, rng)], ([a, b]) => m.matmul(a, b));
          expectParity(r.got, r.expected, { rtol: 0, atol: Math.max(1, k) * PRODUCT_EPS }, `matmul ${aLayout} [${aShape.join(', ')}] x ${bLayout} [${bShape.join(', ')}]`);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('matmul: a row vector times a transposed weight (Gemm transB) and other thin products at LSTM sizes', () => {
    const rng = new m.Random(3);
    for (const [mm, k, n, transA, transB] of [
      [1, 128, 512, false, true], [1, 257, 515, false, true], [2, 256, 131, false, true], [3, 255, 64, true, true],
      [4, 129, 517, false, false], [5, 64, 300, false, true], [8, 256, 512, false, true], [8, 33, 100, false, false],
      [1, 512, 1, false, false], [300, 257, 1, false, true], [515, 129, 3, false, false], [200, 64, 8, true, false], [6, 70, 9, true, true],
    ] as const) {
      const aShape = transA ? [k, mm] : [mm, k];
      const bShape = transB ? [n, k] : [k, n];
      const r = both(name, [
        { data: values(mm * k, rng, [-1, 1], 'float32'), shape: aShape, dtype: 'float32', view: transA ? { kind: 'permute', axes: [1, 0] } : undefined },
        { data: values(k * n, rng, [-1, 1], 'float32'), shape: bShape, dtype: 'float32', view: transB ? { kind: 'permute', axes: [1, 0] } : undefined },
      ], ([a, b]) => m.matmul(a, b));
      expectParity(r.got, r.expected, { rtol: 0, atol: k * PRODUCT_EPS }, `matmul [${mm}, ${k}]${transA ? ' (A^T)' : ''} x [${k}, ${n}]${transB ? ' (B^T)' : ''}`);
    }
  });

  // Convolutions with a small output (conv_dot.ts: dot products of weight rows and patch rows) and
  // depthwise ones with large kernels, which leave the direct depthwise kernel for the products.
  it('conv2d with few output pixels: groups, depthwise multipliers, stride, dilation, padding, long 1-D kernels, any layout', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2, 3), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }),
        fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 })), fc.constantFrom(1, 2), fc.tuple(fc.nat(2), fc.nat(3), fc.nat(2), fc.nat(3)),
        layoutArb, layoutArb, fc.integer(),
        (batch, groups, cPer, oPer, kh, kw, h, wExtra, [sH, sW], dilation, pads, xLayout, wLayout, seed) => {
          const c = groups * cPer;
          const o = groups * oPer;
          const w = dilation * (kw - 1) + 1 + wExtra - 1 - pads[1] - pads[3];
          if (w < 1 || h + pads[0] + pads[2] < dilation * (kh - 1) + 1) return;
          const rng = new m.Random(seed);
          const xShape = [batch, c, h, w];
          const wShape = [o, cPer, kh, kw];
          const r = both(name, [laidOut(xShape, xLayout, rng), laidOut(wShape, wLayout, rng)], ([x, wt]) =>
            m.conv2d(x, wt, { groups, stride: [sH, sW], dilation, padding: pads }));
          expectParity(r.got, r.expected, { rtol: 0, atol: cPer * kh * kw * PRODUCT_EPS }, `conv2d ${xLayout} x [${xShape.join(', ')}] ${wLayout} w [${wShape.join(', ')}] groups ${groups} stride ${sH},${sW} dilation ${dilation} pads ${pads.join(',')}`);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('conv2d: 1-D frame transforms and encoder layers with unit dims of any stride (Silero-like, not its sizes)', () => {
    const rng = new m.Random(5);
    const cases: { x: number[]; w: number[]; stride: [number, number]; padding: [number, number, number, number]; groups?: number; reshapeX?: boolean }[] = [
      { x: [1, 1, 1, 600], w: [130, 1, 1, 200], stride: [1, 100], padding: [0, 0, 0, 0], reshapeX: true },
      { x: [1, 1, 1, 3000], w: [40, 1, 1, 64], stride: [1, 32], padding: [0, 0, 0, 0], reshapeX: true },
      { x: [1, 65, 1, 5], w: [66, 65, 1, 3], stride: [1, 1], padding: [0, 1, 0, 1] },
      { x: [1, 66, 1, 5], w: [33, 66, 1, 3], stride: [1, 2], padding: [0, 1, 0, 1] },
      { x: [1, 33, 1, 1], w: [70, 33, 1, 3], stride: [1, 1], padding: [0, 1, 0, 1] },
      { x: [2, 70, 1, 1], w: [1, 70, 1, 1], stride: [1, 1], padding: [0, 0, 0, 0] },
      { x: [1, 8, 1, 40], w: [24, 1, 1, 17], stride: [1, 5], padding: [0, 2, 0, 0], groups: 8 },
      { x: [1, 6, 9, 9], w: [6, 1, 5, 5], stride: [2, 2], padding: [1, 1, 1, 1], groups: 6 },
    ];
    for (const t of cases) {
      const r = both(name, [
        { data: values(m.sizeOf(t.x), rng, [-1, 1], 'float32'), shape: t.reshapeX ? [t.x[3]] : t.x, dtype: 'float32', view: t.reshapeX ? { kind: 'expandTo', shape: t.x } : undefined },
        { data: values(m.sizeOf(t.w), rng, [-1, 1], 'float32'), shape: t.w, dtype: 'float32' },
      ], ([x, w]) => m.conv2d(x, w, { stride: t.stride, padding: t.padding, groups: t.groups ?? 1 }));
      expectParity(r.got, r.expected, { rtol: 0, atol: t.w[1] * t.w[2] * t.w[3] * PRODUCT_EPS }, `conv2d x [${t.x.join(', ')}] w [${t.w.join(', ')}]`);
    }
  });

  it('elementwise: more than 4 uncollapsible dims fall back, pow by 2, views stay right after memory grows', () => {
    const rng = new m.Random(11);
    const shape = [2, 3, 2, 3, 2];
    const r = both(name, [
      { data: values(72, rng, [-1, 1], 'float32'), shape, dtype: 'float32', view: { kind: 'permute', axes: [4, 2, 0, 3, 1] } },
      { data: values(72, rng, [-1, 1], 'float32'), shape: [2, 2, 2, 3, 3], dtype: 'float32' },
    ], ([a, b]) => m.add(a, b));
    expectParity(r.got, r.expected, EXACT, 'add over 5 dims');
    // pow by a broadcast 2 runs as x * x: exactly the reference, specials and overflow included.
    const specials = Float32Array.of(0, -0, 1, -1, 1.5, -3.25, 1e-30, -1e-30, 3e38, -3e38, Infinity, -Infinity, NaN, 1e19, 7);
    const xs = Float32Array.from([...specials, ...values(37, rng, [-100, 100], 'float32')]);
    const p = both(name, [
      { data: xs, shape: [2, 26], dtype: 'float32' },
      { data: Float32Array.of(2), shape: [1], dtype: 'float32' },
    ], ([x, e]) => m.concat([m.reshape(m.pow(x, e), [-1]), m.reshape(m.pow(m.transpose(x), e), [-1])], 0));
    expectParity(p.got, p.expected, EXACT, 'pow(x, 2)');
    m.scope(() => {
      const a = m.fromArray(Float32Array.of(1, 2, 3), [3], { backend: name });
      const before = m.add(a, a);
      // 64 MiB more: linear memory grows and every view made before detaches.
      m.zeros([16 * 2 ** 20], { backend: name });
      const after = m.mul(a, m.fromArray(Float32Array.of(2), [1], { backend: name }));
      expect([...after.dataSync()]).toEqual([...before.dataSync()]);
    });
  });

  it('gather with narrow rows (1 to 3 elements, the last axis, scalar indices) over every dtype, and its range check', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<m.DType>('float32', 'float64', 'int32', 'int8', 'uint8', 'bool'), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.integer(),
        (dtype, shape, axisPick, scalar, seed) => {
          const rng = new m.Random(seed);
          const axis = axisPick % shape.length;
          const dim = shape[axis];
          const idx = Int32Array.from({ length: scalar ? 1 : 7 }, () => rng.int(2 * dim) - dim);
          const r = both(name, [
            { data: values(m.sizeOf(shape), rng, dtype === 'bool' ? [0, 1] : dtype === 'uint8' ? [0, 255] : [-100, 100], dtype), shape, dtype },
            { data: idx, shape: scalar ? [] : [7], dtype: 'int32' },
          ], ([x, i]) => m.gather(x, i, axis));
          expectParity(r.got, r.expected, EXACT, `gather ${dtype} [${shape.join(', ')}] axis ${axis}`);
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
    m.scope(() => {
      const x = m.fromArray(Float32Array.of(1, 2, 3), [3], { backend: name });
      expect(() => m.gather(x, m.tensor([0, -4], { dtype: 'int32', backend: name }), 0)).toThrow(/index -4 at position 1 .* size 3/);
    });
  });

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
