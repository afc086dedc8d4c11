import fc from 'fast-check';
import * as m from '@minnow/core';
import { both, values } from './arbitraries.js';
import { EXACT, expectParity } from './compare.js';
import type { ParityCase, Settings } from './profile.js';

/**
 * Products: float32 matmul and conv2d within k*2^-22 absolute (k products of values in [-1, 1],
 * times the profile's accumulationSlack), spmm within (longest row) * 2^-22 the same way (bounded
 * by k), and matmulInteger exactly.
 */

const PRODUCT_EPS = 2 ** -22;

export function linalgCases(s: Settings): ParityCase[] {
  const cases: ParityCase[] = [];
  const slack = s.accumulationSlack;
  if (s.has('float32')) {
    cases.push({
      name: 'matmul (float32, batched, broadcast batch, transposed operands)',
      run: () =>
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 70 }),
            fc.constantFrom([], [2], [3, 1]), fc.boolean(), fc.boolean(), fc.integer(),
            (mm, n, k, batch, transA, transB, seed) => {
              const rng = new m.Random(seed);
              const aShape = [...batch, ...(transA ? [k, mm] : [mm, k])];
              const bShape = [...batch.slice(1), ...(transB ? [n, k] : [k, n])];
              const r = both(s.backend, [
                { data: values(m.sizeOf(aShape), rng, [-1, 1], 'float32'), shape: aShape, dtype: 'float32' },
                { data: values(m.sizeOf(bShape), rng, [-1, 1], 'float32'), shape: bShape, dtype: 'float32' },
              ], ([a, b]) => m.matmul(transA ? m.transpose(a) : a, transB ? m.transpose(b) : b));
              expectParity(r.got, r.expected, { rtol: 0, atol: Math.max(1, k) * PRODUCT_EPS * slack }, `matmul [${aShape.join(', ')}]${transA ? 'T' : ''} x [${bShape.join(', ')}]${transB ? 'T' : ''}`);
            },
          ),
          s.runs(80),
        ),
    });
    cases.push({
      name: 'matmul (float32, 300 x 300 x 300, crosses the cache blocks, transposed b)',
      run: () => {
        const rng = new m.Random(9);
        const n = 300;
        const r = both(s.backend, [
          { data: values(n * n, rng, [-1, 1], 'float32'), shape: [n, n], dtype: 'float32' },
          { data: values(n * n, rng, [-1, 1], 'float32'), shape: [n, n], dtype: 'float32', view: { kind: 'permute', axes: [1, 0] } },
        ], ([a, b]) => m.matmul(a, b));
        expectParity(r.got, r.expected, { rtol: 0, atol: n * PRODUCT_EPS * slack }, 'matmul 300');
      },
    });
    cases.push({
      name: 'conv2d (float32, groups, stride, dilation, asymmetric padding, permuted input)',
      run: () =>
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2, 3), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }),
            fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }),
            fc.constantFrom(1, 2), fc.constantFrom(1, 2), fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), fc.boolean(), fc.integer(),
            (batch, groups, cPer, oPer, h, w, kh, kw, stride, dilation, pads, permuted, seed) => {
              const c = groups * cPer;
              const o = groups * oPer;
              if (h + pads[0] + pads[2] < dilation * (kh - 1) + 1 || w + pads[1] + pads[3] < dilation * (kw - 1) + 1) return;
              const rng = new m.Random(seed);
              const xShape = permuted ? [batch, h, w, c] : [batch, c, h, w];
              const r = both(s.backend, [
                { data: values(m.sizeOf(xShape), rng, [-1, 1], 'float32'), shape: xShape, dtype: 'float32' },
                { data: values(o * cPer * kh * kw, rng, [-1, 1], 'float32'), shape: [o, cPer, kh, kw], dtype: 'float32' },
              ], ([x, wt]) => m.conv2d(permuted ? m.permute(x, [0, 3, 1, 2]) : x, wt, { groups, stride, dilation, padding: pads }));
              expectParity(r.got, r.expected, { rtol: 0, atol: cPer * kh * kw * PRODUCT_EPS * slack }, `conv2d x [${xShape.join(', ')}] w [${o}, ${cPer}, ${kh}, ${kw}] groups ${groups}`);
            },
          ),
          s.runs(100),
        ),
    });
  }
  if (s.has('float32', 'int32')) {
    cases.push({
      name: 'spmm (float32 CSR x dense: empty rows, nnz 0, repeated columns, N = 1 and odd N, transposed B)',
      run: () =>
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 40 }), fc.constantFrom(1, 2, 3, 5, 8, 17, 33), fc.boolean(), fc.integer(),
            (rows, k, n, transB, seed) => {
              const rng = new m.Random(seed);
              const pointers = [0];
              const columns: number[] = [];
              for (let i = 0; i < rows; i++) {
                const count = k === 0 || rng.uniform() < 0.3 ? 0 : Math.floor(rng.uniform() * k * 0.6);
                for (let e = 0; e < count; e++) columns.push(Math.floor(rng.uniform() * k));
                pointers.push(columns.length);
              }
              const nnz = columns.length;
              const r = both(s.backend, [
                { data: values(nnz, rng, [-1, 1], 'float32'), shape: [nnz], dtype: 'float32' },
                { data: Int32Array.from(columns), shape: [nnz], dtype: 'int32' },
                { data: Int32Array.from(pointers), shape: [rows + 1], dtype: 'int32' },
                { data: values(k * n, rng, [-1, 1], 'float32'), shape: transB ? [n, k] : [k, n], dtype: 'float32' },
              ], ([v, c, p, b]) => m.sparseMatmul({ shape: [rows, k], values: v, colIndices: c, rowPointers: p }, transB ? m.transpose(b) : b));
              expectParity(r.got, r.expected, { rtol: 0, atol: Math.max(1, k) * PRODUCT_EPS * slack }, `spmm [${rows}, ${k}] nnz ${nnz} x [${k}, ${n}]${transB ? 'T' : ''}`);
            },
          ),
          s.runs(60),
        ),
    });
  }
  const intTypes = (['int8', 'uint8'] as const).filter((d) => s.has(d));
  if (intTypes.length > 0 && s.has('int32')) {
    // |a - aZero| and |b - bZero| are at most 255: keep k * 255^2 within int32Limit.
    const maxK = Math.min(90, Math.floor(s.int32Limit / 255 ** 2));
    cases.push({
      name: `matmulInteger (${intTypes.join('/')} mixes, zero points per tensor/row/column, batched, exact)`,
      run: () =>
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: 33 }), fc.integer({ min: 0, max: 33 }), fc.integer({ min: 0, max: maxK }),
            fc.constantFrom(...intTypes), fc.constantFrom(...intTypes), fc.boolean(), fc.boolean(), fc.boolean(), fc.integer(),
            (mm, n, k, aType, bType, perRow, perCol, batched, seed) => {
              const rng = new m.Random(seed);
              const range = (t: m.DType): [number, number] => (t === 'int8' ? [-128, 127] : [0, 255]);
              const aShape = batched ? [2, mm, k] : [mm, k];
              const r = both(s.backend, [
                { data: values(m.sizeOf(aShape), rng, range(aType), aType), shape: aShape, dtype: aType },
                { data: values(k * n, rng, range(bType), bType), shape: [k, n], dtype: bType },
                { data: values(perRow ? mm : 1, rng, range(aType), aType), shape: perRow ? [mm] : [], dtype: aType },
                { data: values(perCol ? n : 1, rng, range(bType), bType), shape: perCol ? [n] : [], dtype: bType },
              ], ([a, b, za, zb]) => m.matmulInteger(a, b, za, zb));
              expectParity(r.got, r.expected, EXACT, `matmulInteger ${aType} [${aShape.join(', ')}] x ${bType} [${k}, ${n}]`);
            },
          ),
          s.runs(80),
        ),
    });
  }
  return cases;
}
