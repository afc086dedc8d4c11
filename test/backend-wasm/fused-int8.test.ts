import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { applyView, both, layoutArb, realise, values } from '../parity/arbitraries.js';
import { EXACT, expectParity } from '../parity/compare.js';
import { SEED } from '../parity/profile.js';
import { WASM_BUILDS, initWasmBuilds } from './wasm-setup.js';

/**
 * matmulIntegerScaled, the integer product with its epilogue fused (assembly/gemm_i8.ts and
 * epilogue_i8.ts: the packed path's tiles and the thin path's rows): backend-js's reference
 * against the formula written out here, then both WASM builds against backend-js bit for bit,
 * over shapes, layouts, zero points, scale/bias forms, output types, ties and saturation.
 */

await initWasmBuilds();

type IntType = 'int8' | 'uint8';
type OutType = m.ScaledOutputType;
const range = (t: IntType): [number, number] => (t === 'int8' ? [-128, 127] : [0, 255]);

interface Case {
  mm: number; n: number; k: number; aType: IntType; bType: IntType; perRowZero: boolean; perColZero: boolean;
  params: 'scalar' | 'rows' | 'columns'; withBias: boolean; type: OutType; scaleKind: 'small' | 'ties' | 'saturating';
  aLayout: Parameters<typeof realise>[1]; bLayout: Parameters<typeof realise>[1]; batch: readonly number[]; seed: number;
}

/** Inputs of one case: a, b, their zero points, scale, bias, output zero point (host data). */
function inputs(c: Case) {
  const rng = new m.Random(c.seed);
  const a = realise([...c.batch, c.mm, c.k], c.aLayout);
  const b = realise([...c.batch, c.k, c.n], c.bLayout);
  const len = c.params === 'scalar' ? 1 : c.params === 'rows' ? c.mm : c.n;
  // A one-element parameter as [1] where it could be per row or column: core takes it as a scalar.
  const shape = c.params === 'scalar' ? [] : [len];
  // 'ties' scales are powers of two, so many y land exactly on .5; 'saturating' ones push past 8 bits.
  const scale = Float32Array.from({ length: len }, () => {
    if (c.scaleKind === 'ties') return 2 ** -(1 + rng.int(4));
    if (c.scaleKind === 'saturating') return Math.fround(0.05 + rng.uniform());
    return Math.fround(1e-4 + rng.uniform() * 3e-3);
  });
  const bias = Int32Array.from({ length: len }, () => rng.int(20001) - 10000);
  const outZero = c.type === 'int8' ? Int8Array.of(rng.int(256) - 128) : Uint8Array.of(rng.int(256));
  return {
    list: [
      { data: values(m.sizeOf(a.base), rng, range(c.aType), c.aType), shape: a.base, dtype: c.aType, view: a.view },
      { data: values(m.sizeOf(b.base), rng, range(c.bType), c.bType), shape: b.base, dtype: c.bType, view: b.view },
      { data: values(c.perRowZero ? c.mm : 1, rng, range(c.aType), c.aType), shape: c.perRowZero ? [c.mm] : [], dtype: c.aType },
      { data: values(c.perColZero ? c.n : 1, rng, range(c.bType), c.bType), shape: c.perColZero ? [c.n] : [], dtype: c.bType },
      { data: scale, shape, dtype: 'float32' as const },
      { data: bias, shape, dtype: 'int32' as const },
      { data: c.type === 'float32' ? Int32Array.of(0) : outZero, shape: [], dtype: c.type === 'float32' ? 'int32' as const : c.type },
    ],
  };
}

const run = (c: Case) => ([a, b, za, zb, scale, bias, zy]: m.Tensor[]): m.Tensor => m.matmulIntegerScaled(a, b, {
  aZero: za, bZero: zb, scale, bias: c.withBias ? bias : undefined, type: c.type, outZero: c.type === 'float32' ? undefined : zy, perRow: c.params === 'rows',
});

const describeCase = (c: Case): string =>
  `${c.aType} ${c.aLayout} [${[...c.batch, c.mm, c.k]}] x ${c.bType} ${c.bLayout} [${[...c.batch, c.k, c.n]}] -> ${c.type}, params ${c.params}, ${c.scaleKind}${c.withBias ? ', bias' : ''}`;

const caseArb = (maxM: number, maxN: number, maxK: number): fc.Arbitrary<Case> => fc.record({
  mm: fc.integer({ min: 1, max: maxM }), n: fc.integer({ min: 1, max: maxN }), k: fc.integer({ min: 0, max: maxK }),
  aType: fc.constantFrom<IntType>('int8', 'uint8'), bType: fc.constantFrom<IntType>('int8', 'uint8'),
  perRowZero: fc.boolean(), perColZero: fc.boolean(), params: fc.constantFrom<Case['params']>('scalar', 'rows', 'columns'),
  withBias: fc.boolean(), type: fc.constantFrom<OutType>('float32', 'int8', 'uint8'),
  scaleKind: fc.constantFrom<Case['scaleKind']>('small', 'ties', 'saturating'),
  aLayout: layoutArb, bLayout: layoutArb, batch: fc.constantFrom<number[]>([], [2]), seed: fc.integer(),
});

describe('matmulIntegerScaled: the reference', () => {
  it('is the int32 product, + bias, times scale in float32, then rounded half to even, + z and saturated', () => {
    fc.assert(fc.property(caseArb(9, 20, 80), (c) => {
      m.scope(() => {
        const ts = inputs(c).list.map((i) => applyView(m.fromArray(i.data, [...i.shape], { dtype: i.dtype, backend: 'js' }), i.view ?? { kind: 'none' }));
        const [a, b, za, zb, scale, bias, zy] = ts;
        const got = run(c)(ts).dataSync();
        const acc = m.matmulInteger(a, b, za, zb).dataSync();
        const s = scale.dataSync();
        const bi = bias.dataSync();
        const z = zy.dataSync()[0];
        const [lo, hi] = c.type === 'int8' ? [-128, 127] : [0, 255];
        for (let i = 0; i < acc.length; i++) {
          const p = c.params === 'scalar' ? 0 : c.params === 'rows' ? Math.floor(i / c.n) % c.mm : i % c.n;
          const sum = (acc[i] + (c.withBias ? bi[p] : 0)) | 0;
          const y = Math.fround(Math.fround(sum) * s[p]);
          const expected = c.type === 'float32' ? y : Math.min(hi, Math.max(lo, m.roundHalfToEven(y) + z));
          expect(got[i], `${describeCase(c)} [${i}]`).toBe(expected);
        }
      });
    }), { seed: SEED, numRuns: 150 });
  });

  it('equals dequantize (bias as a negated zero point) then quantize by 1, where the accumulator is below 2^24', () => {
    fc.assert(fc.property(caseArb(6, 12, 40).filter((c) => c.params !== 'rows' || c.batch.length === 0), (c) => {
      m.scope(() => {
        const ts = inputs(c).list.map((i) => applyView(m.fromArray(i.data, [...i.shape], { dtype: i.dtype, backend: 'js' }), i.view ?? { kind: 'none' }));
        const [a, b, za, zb, scale, bias, zy] = ts;
        const got = run(c)(ts).dataSync();
        const acc = m.matmulInteger(a, b, za, zb);
        const axis = c.params === 'rows' ? acc.rank - 2 : acc.rank - 1;
        const negated = m.neg(c.withBias ? bias : m.full(bias.shape, 0, { dtype: 'int32', backend: 'js' }));
        const y = c.params === 'scalar' || scale.size === 1 ? m.dequantize(acc, m.reshape(scale, []), m.reshape(negated, [])) : m.dequantize(acc, scale, negated, { axis });
        const expected = c.type === 'float32' ? y : m.quantize(y, m.full([], 1, { backend: 'js' }), zy, c.type);
        expect(Array.from(got)).toEqual(Array.from(expected.dataSync()));
      });
    }), { seed: SEED + 1, numRuns: 100 });
  });

  it('NaN (an infinite scale times 0) saturates to the lowest value; infinities to the bounds', () => {
    m.scope(() => {
      const a = m.fromArray(Uint8Array.of(0, 3), [1, 2], { dtype: 'uint8', backend: 'js' });
      const b = m.fromArray(Int8Array.of(1, -1, 1, 1), [2, 2], { dtype: 'int8', backend: 'js' });
      const scale = m.fromArray(Float32Array.of(Infinity), [], { backend: 'js' });
      const zy = m.fromArray(Uint8Array.of(7), [], { dtype: 'uint8', backend: 'js' });
      const bias = m.fromArray(Int32Array.of(-3, 0), [2], { dtype: 'int32', backend: 'js' });
      // acc = [3, 3]; + bias = [0, 3]; * Inf = [NaN, Inf].
      expect(Array.from(m.matmulIntegerScaled(a, b, { scale, bias, outZero: zy, type: 'uint8' }).dataSync())).toEqual([0, 255]);
    });
  });

  it('refuses mismatched parameters with clear errors', () => {
    m.scope(() => {
      const a = m.zeros([2, 3], { dtype: 'uint8', backend: 'js' });
      const b = m.zeros([3, 4], { dtype: 'int8', backend: 'js' });
      const scale = m.ones([3], { backend: 'js' });
      expect(() => m.matmulIntegerScaled(a, b, { scale, type: 'float32' })).toThrow(/scale must be a scalar or have shape \[4\]/);
      expect(() => m.matmulIntegerScaled(a, b, { scale, type: 'float32', perRow: true })).toThrow(/scale must be a scalar or have shape \[2\]/);
      expect(() => m.matmulIntegerScaled(a, b, { scale: m.ones([], { backend: 'js' }), type: 'int8', outZero: m.zeros([], { dtype: 'uint8', backend: 'js' }) })).toThrow(/outZero must be a int8 scalar/);
      expect(() => m.matmulIntegerScaled(a, b, { scale: m.ones([], { dtype: 'int32', backend: 'js' }), type: 'float32' })).toThrow(/scale must be float32/);
    });
  });
});

describe.each(WASM_BUILDS)('wasm %s build: matmulIntegerScaled', (build) => {
  const name = `wasm-${build}`;
  const check = (c: Case): void => {
    const r = both(name, inputs(c).list, run(c));
    expectParity(r.got, r.expected, EXACT, describeCase(c));
  };

  it('matches backend-js bit for bit: thin (M <= 7) and packed paths, every layout, every epilogue', () => {
    fc.assert(fc.property(caseArb(13, 40, 300), check), { seed: SEED, numRuns: 300 });
  });

  it('short products (k <= 16, B row-major: gemm_i8_short.ts) over rows, odd k, zero points and every epilogue', () => {
    fc.assert(fc.property(caseArb(40, 60, 16).map((c) => ({ ...c, bLayout: 'contiguous' as const })), check), { seed: SEED + 2, numRuns: 200 });
  });

  it('b as a convolution\'s patch view ([N, C, kH, kW, oH, oW], bDims {k: 3, n: 2}): equals the product over its gathered patches, on every path', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 12 }), fc.constantFrom<IntType>('int8', 'uint8'), fc.constantFrom<OutType>('float32', 'int8', 'uint8'),
      fc.boolean(), fc.integer(),
      (batch, channels, outChannels, kernel, stride, extra, xType, type, perColZero, seed) => {
        const rng = new m.Random(seed);
        const out = 1 + Math.floor(extra / stride);
        const size = (out - 1) * stride + kernel;
        const k = channels * kernel * kernel;
        const n = out * out;
        const inputs = [
          { data: values(outChannels * k, rng, [-128, 127], 'int8'), shape: [outChannels, k], dtype: 'int8' as const },
          { data: values(batch * channels * size * size, rng, range(xType), xType), shape: [batch, channels, size, size], dtype: xType },
          { data: values(perColZero ? n : 1, rng, range(xType), xType), shape: perColZero ? [n] : [], dtype: xType },
          { data: Float32Array.from({ length: outChannels }, () => Math.fround(1e-4 + rng.uniform() * 3e-3)), shape: [outChannels], dtype: 'float32' as const },
          { data: Int32Array.from({ length: outChannels }, () => rng.int(2001) - 1000), shape: [outChannels], dtype: 'int32' as const },
        ];
        const options = (zb: m.Tensor, scale: m.Tensor, bias: m.Tensor) => ({ bZero: zb, scale, bias, type, perRow: true, outZero: type === 'float32' ? undefined : m.full([], 3, { dtype: type, backend: scale.backend.name }) });
        const patches = (x: m.Tensor): m.Tensor => new m.Tensor(x.storage, [batch, channels, kernel, kernel, out, out],
          [channels * size * size, size * size, size, 1, size * stride, stride], x.offset);
        const viewed = both(name, inputs, ([w, x, zb, scale, bias]) => m.matmulIntegerScaled(w, patches(x), { ...options(zb, scale, bias), bDims: { k: 3, n: 2 } }));
        const gathered = both(name, inputs, ([w, x, zb, scale, bias]) => m.matmulIntegerScaled(w, m.reshape(m.contiguous(patches(x)), [batch, k, n]), options(zb, scale, bias)));
        expectParity(viewed.got, viewed.expected, EXACT, 'patch view');
        expectParity(viewed.got, gathered.expected, EXACT, 'patch view against gathered patches');
      },
    ), { seed: SEED + 3, numRuns: 150 });
  });

  it('dense-layer and convolution sizes', () => {
    let seed = 5;
    const base = { aType: 'uint8', bType: 'int8', perRowZero: false, perColZero: false, withBias: true, scaleKind: 'small', aLayout: 'contiguous', batch: [] } as const;
    for (const [mm, k, n] of [[1, 784, 512], [5, 512, 256], [32, 784, 512], [32, 256, 10]]) {
      for (const type of ['uint8', 'float32'] as const) check({ ...base, mm, k, n, params: 'columns', type, bLayout: 'contiguous', seed: seed++ });
      check({ ...base, mm, k, n, params: 'columns', type: 'int8', bLayout: 'transposed', seed: seed++ });
    }
    // A convolution as weights [M, K] x patches [K, P]: per-row (output channel) scale and bias.
    for (const [mm, k, n] of [[64, 288, 576], [32, 9, 676]]) {
      check({ ...base, aType: 'int8', bType: 'uint8', mm, k, n, params: 'rows', type: 'uint8', bLayout: 'contiguous', batch: [2], seed: seed++ });
    }
  });
});
