import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { loadWasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { gradcheck } from '../helpers/gradcheck.js';

/**
 * The sparse x dense primitive (spmm, through sparseMatmul): backend-js and both WASM builds
 * against a float64 product computed here from the same CSR arrays, and against core's dense
 * matmul of the densified matrix; random CSR with empty rows, nnz 0, repeated and unsorted
 * columns, N = 1, odd N and wide N, and B contiguous, transposed, strided, reversed or broadcast.
 * Tolerance: |err| <= (row length) * 2^-22 for values in [-1, 1] (float32 accumulation on wasm),
 * 2^-24 relative for backend-js (float64 accumulation rounded once).
 */

enableRelaxedSimd();
const WASM = ['simd', 'relaxed'] as const;
for (const build of WASM) await m.init({ name: `spmm-wasm-${build}`, create: () => loadWasmBackend({ build, name: `spmm-wasm-${build}` }) });
const BACKENDS = ['js', ...WASM.map((b) => `spmm-wasm-${b}`)];

const SEED = 20260807;
const EPS = 2 ** -22;

interface Csr {
  rows: number;
  cols: number;
  values: Float32Array;
  colIndices: Int32Array;
  rowPointers: Int32Array;
}

/** A random CSR matrix: each row empty with probability 1/4, else up to `cols` entries in random column order (repeats allowed). */
function randomCsr(rows: number, cols: number, density: number, rng: m.Random): Csr {
  const pointers = [0];
  const columns: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < rows; i++) {
    if (cols > 0 && rng.uniform() >= 0.25) {
      const count = Math.round(rng.uniform() * density * cols * 1.5);
      for (let e = 0; e < count; e++) {
        columns.push(Math.floor(rng.uniform() * cols));
        values.push(rng.uniform() * 2 - 1);
      }
    }
    pointers.push(columns.length);
  }
  return { rows, cols, values: Float32Array.from(values), colIndices: Int32Array.from(columns), rowPointers: Int32Array.from(pointers) };
}

/** The product in float64 from the arrays, and the largest row length (for the tolerance). */
function referenceProduct(a: Csr, b: Float32Array, n: number): { values: Float64Array; longest: number } {
  const out = new Float64Array(a.rows * n);
  let longest = 0;
  for (let i = 0; i < a.rows; i++) {
    longest = Math.max(longest, a.rowPointers[i + 1] - a.rowPointers[i]);
    for (let p = a.rowPointers[i]; p < a.rowPointers[i + 1]; p++) {
      for (let j = 0; j < n; j++) out[i * n + j] += a.values[p] * b[a.colIndices[p] * n + j];
    }
  }
  return { values: out, longest };
}

function densify(a: Csr): Float32Array {
  const out = new Float32Array(a.rows * a.cols);
  for (let i = 0; i < a.rows; i++) for (let p = a.rowPointers[i]; p < a.rowPointers[i + 1]; p++) out[i * a.cols + a.colIndices[p]] += a.values[p];
  return out;
}

function csrOn(a: Csr, backend: string): m.CsrMatrix {
  return {
    shape: [a.rows, a.cols],
    values: m.fromArray(a.values, [a.values.length], { backend }),
    colIndices: m.fromArray(a.colIndices, [a.colIndices.length], { dtype: 'int32', backend }),
    rowPointers: m.fromArray(a.rowPointers, [a.rowPointers.length], { dtype: 'int32', backend }),
  };
}

type Layout = 'contiguous' | 'transposed' | 'strided' | 'reversed' | 'broadcast';

/** B [k, n] with logical values `b` (row-major), laid out as `layout` over its storage. */
function denseOn(b: Float32Array, k: number, n: number, layout: Layout, backend: string): m.Tensor {
  const t = (data: Float32Array, shape: number[]) => m.fromArray(data, shape, { backend });
  switch (layout) {
    case 'contiguous':
      return t(b, [k, n]);
    case 'transposed': {
      const stored = new Float32Array(k * n);
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) stored[j * k + i] = b[i * n + j];
      return m.transpose(t(stored, [n, k]));
    }
    case 'strided': {
      const stored = new Float32Array(4 * k * n);
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) stored[2 * i * 2 * n + 2 * j] = b[i * n + j];
      return m.slice(t(stored, [2 * k, 2 * n]), [0, 0], [2 * k, 2 * n], [2, 2]);
    }
    case 'reversed': {
      const stored = new Float32Array(k * n);
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) stored[(k - 1 - i) * n + (n - 1 - j)] = b[i * n + j];
      return m.slice(t(stored, [k, n]), [k - 1, n - 1], [null, null], [-1, -1]);
    }
    case 'broadcast':
      // Every row of B the same: a [1, n] row expanded to [k, n] (stride 0 down the rows).
      return m.expand(t(b.slice(0, n), [1, n]), [k, n]);
  }
}

/** The logical values a layout realises (broadcast repeats row 0). */
function logical(b: Float32Array, k: number, n: number, layout: Layout): Float32Array {
  if (layout !== 'broadcast') return b;
  const out = new Float32Array(k * n);
  for (let i = 0; i < k; i++) out.set(b.subarray(0, n), i * n);
  return out;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= atol + rtol * Math.abs(want[i]))) throw new Error(`${what}: element ${i} is ${got[i]}, want ${want[i]} (|err| ${err} > ${atol} + ${rtol} * |want|)`);
  }
}

/** Runs `fn` and fails when it leaves tensors or `backend` buffers alive. */
function leakFree<T>(backend: string, fn: () => T): T {
  const tensors = m.liveTensors();
  const buffers = m.getBackend(backend).memory().buffers;
  const out = fn();
  expect(m.liveTensors() - tensors, 'live tensors').toBe(0);
  expect(m.getBackend(backend).memory().buffers - buffers, `${backend} buffers`).toBe(0);
  return out;
}

describe('spmm: sparse x dense on js and wasm against a float64 reference and dense matmul', () => {
  const nArb = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 33, 40, 47), fc.integer({ min: 1, max: 70 }));
  const layoutArb = fc.constantFrom<Layout>('contiguous', 'transposed', 'strided', 'reversed', 'broadcast');

  for (const backend of BACKENDS) {
    it(`${backend}: random CSR (empty rows, nnz 0, repeated columns) x dense of every layout`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 14 }), fc.integer({ min: 0, max: 40 }), nArb, fc.double({ min: 0, max: 1, noNaN: true }), layoutArb, fc.integer(),
          (rows, cols, n, density, layout, seed) => {
            const rng = new m.Random(seed);
            const a = randomCsr(rows, cols, density, rng);
            const stored = Float32Array.from({ length: cols * n }, () => rng.uniform() * 2 - 1);
            const b = logical(stored, cols, n, layout);
            const { values: want, longest } = referenceProduct(a, b, n);
            const got = leakFree(backend, () =>
              m.scope(() => {
                const out = m.sparseMatmul(csrOn(a, backend), denseOn(stored, cols, n, layout, backend));
                expect(out.shape).toEqual([rows, n]);
                expect(out.dtype).toBe('float32');
                return out.dataSync();
              }),
            );
            const what = `${backend} [${rows}, ${cols}] nnz ${a.values.length} x [${cols}, ${n}] ${layout}`;
            if (backend === 'js') expectClose(got, want, 0, 2 ** -24, what);
            else expectClose(got, want, Math.max(1, longest) * EPS, 0, what);
          },
        ),
        { seed: SEED, numRuns: 150 },
      );
    });

    it(`${backend}: equals dense matmul of the densified matrix (N = 1 as a vector, and wide N)`, () => {
      const rng = new m.Random(5);
      for (const [rows, cols, n, density] of [[37, 29, 1, 0.3], [64, 50, 33, 0.1], [5, 300, 8, 0.05], [20, 20, 1, 0]] as const) {
        const a = randomCsr(rows, cols, density, rng);
        const b = Float32Array.from({ length: cols * n }, () => rng.uniform() * 2 - 1);
        const [sparse, dense] = leakFree(backend, () =>
          m.scope(() => {
            const x = n === 1 ? m.fromArray(b, [cols], { backend }) : m.fromArray(b, [cols, n], { backend });
            const s = m.sparseMatmul(csrOn(a, backend), x);
            const d = m.matmul(m.fromArray(densify(a), [rows, cols], { backend }), x);
            expect(s.shape).toEqual(d.shape);
            return [s.dataSync(), d.dataSync()];
          }),
        );
        expectClose(sparse, dense, cols * 2 * EPS, 0, `${backend} [${rows}, ${cols}] x [${cols}, ${n}]`);
      }
    });
  }

  it('a pruned Linear-sized product (256 x 512 at 90% sparsity, batch 1 and 32) agrees across backends', () => {
    const rng = new m.Random(11);
    const a = randomCsr(256, 512, 0.1, rng);
    for (const n of [1, 32]) {
      const x = Float32Array.from({ length: 512 * n }, () => rng.uniform() * 2 - 1);
      const { values: want, longest } = referenceProduct(a, x, n);
      for (const backend of BACKENDS) {
        // x^T, as SparseLinear passes it: [in, batch] with strides [1, in].
        const got = leakFree(backend, () => m.scope(() => m.sparseMatmul(csrOn(a, backend), denseOn(x, 512, n, 'transposed', backend)).dataSync()));
        expectClose(got, want, longest * EPS, 0, `${backend} n ${n}`);
      }
    }
  });
});

describe('spmm: malformed CSR is refused before any kernel runs', () => {
  const base = (): Csr => ({ rows: 3, cols: 4, values: Float32Array.of(1, 2, 3, 4), colIndices: Int32Array.of(0, 3, 1, 2), rowPointers: Int32Array.of(0, 2, 2, 4) });
  const cases: [string, (c: Csr) => void, RegExp][] = [
    ['rowPointers decreasing', (c) => (c.rowPointers = Int32Array.of(0, 3, 2, 4)), /rowPointers decreases at row 1: 3 then 2/],
    ['rowPointers not starting at 0', (c) => (c.rowPointers = Int32Array.of(1, 2, 2, 4)), /rowPointers\[0\] is 1, must be 0/],
    ['rowPointers not ending at nnz', (c) => (c.rowPointers = Int32Array.of(0, 2, 2, 3)), /rowPointers\[3\] is 3, must be nnz = 4/],
    ['a column past the end', (c) => (c.colIndices = Int32Array.of(0, 4, 1, 2)), /colIndices\[1\] is 4, out of range for 4 columns/],
    ['a negative column', (c) => (c.colIndices = Int32Array.of(0, 1, -1, 2)), /colIndices\[2\] is -1/],
    ['colIndices shorter than values', (c) => (c.colIndices = Int32Array.of(0, 1, 2)), /colIndices has 3 entries but values has 4/],
    ['rowPointers of the wrong length', (c) => (c.rowPointers = Int32Array.of(0, 2, 4)), /rowPointers has 3 entries; 3 rows need 4/],
  ];
  for (const backend of BACKENDS) {
    for (const [what, spoil, message] of cases) {
      it(`${backend}: ${what}`, () => {
        const c = base();
        spoil(c);
        leakFree(backend, () =>
          m.scope(() => {
            const a = csrOn(c, backend);
            const b = m.ones([4, 2], { backend });
            const buffers = m.getBackend(backend).memory().buffers;
            let error: unknown;
            try {
              m.sparseMatmul(a, b);
            } catch (e) {
              error = e;
            }
            expect(error).toBeInstanceOf(m.MinnowError);
            expect((error as m.MinnowError).code).toBe('INVALID_ARGUMENT');
            expect((error as m.MinnowError).message).toMatch(message);
            // Nothing was allocated: no output buffer, so no kernel ran.
            expect(m.getBackend(backend).memory().buffers).toBe(buffers);
          }),
        );
      });
    }
  }

  it('other faults: dtypes, dense shape, shape field', () => {
    m.scope(() => {
      const a = csrOn(base(), 'js');
      const code = (fn: () => unknown): string => {
        try {
          fn();
        } catch (e) {
          if (e instanceof m.MinnowError) return e.code;
          throw e;
        }
        return 'none';
      };
      expect(code(() => m.sparseMatmul(a, m.ones([5, 2])))).toBe('SHAPE_MISMATCH');
      expect(code(() => m.sparseMatmul(a, m.ones([4, 2], { dtype: 'float64' })))).toBe('DTYPE_MISMATCH');
      expect(code(() => m.sparseMatmul(a, m.ones([2, 4, 2])))).toBe('INVALID_SHAPE');
      expect(code(() => m.sparseMatmul({ ...a, colIndices: m.cast(a.colIndices, 'float32') }, m.ones([4, 2])))).toBe('UNSUPPORTED_DTYPE');
      expect(code(() => m.sparseMatmul({ ...a, values: m.cast(a.values, 'int32') }, m.ones([4, 2])))).toBe('UNSUPPORTED_DTYPE');
      expect(code(() => m.sparseMatmul({ ...a, shape: [3, -1] as unknown as [number, number] }, m.ones([4, 2])))).toBe('INVALID_ARGUMENT');
      expect(code(() => m.sparseMatmul({ ...a, values: 'x' as unknown as m.Tensor }, m.ones([4, 2])))).toBe('INVALID_ARGUMENT');
    });
  });

  it('a checked matrix is checked again after assign() gives its indices new storage', () => {
    m.scope(() => {
      const a = csrOn(base(), 'js');
      const b = m.ones([4, 1]);
      expect(Array.from(m.sparseMatmul(a, b).dataSync())).toEqual([3, 0, 7]);
      a.colIndices.assign(m.fromArray(Int32Array.of(0, 9, 1, 2), [4], { dtype: 'int32' }));
      expect(() => m.sparseMatmul(a, b)).toThrow(/colIndices\[1\] is 9/);
    });
  });
});

describe('spmm: gradients (float64 on backend-js, central differences)', () => {
  const structure = { rows: 4, cols: 5, colIndices: Int32Array.of(4, 0, 2, 2, 1, 3, 0), rowPointers: Int32Array.of(0, 3, 3, 5, 7) };
  const withIndices = (fn: (cols: m.Tensor, rows: m.Tensor) => void): void => {
    const cols = m.fromArray(structure.colIndices, [7], { dtype: 'int32' });
    const rows = m.fromArray(structure.rowPointers, [5], { dtype: 'int32' });
    try {
      fn(cols, rows);
    } finally {
      cols.dispose();
      rows.dispose();
    }
  };

  it('d/dB and d/dvalues of sparse [4, 5] x [5, 3], and of sparse x vector', () => {
    withIndices((colIndices, rowPointers) => {
      const product = (values: m.Tensor, b: m.Tensor) => m.sparseMatmul({ shape: [4, 5], values, colIndices, rowPointers }, b);
      gradcheck(product, [{ shape: [7] }, { shape: [5, 3] }], { what: 'spmm' });
      gradcheck(product, [{ shape: [7] }, { shape: [5] }], { what: 'spmm vector' });
      gradcheck(product, [{ shape: [7] }, { shape: [5, 2], layout: { expand: false, steps: ['permute', 'slice'] } }], { what: 'spmm transposed B' });
    });
  });

  it('leaves no tensors behind after backward', () => {
    withIndices((colIndices, rowPointers) => {
      const before = m.liveTensors();
      const values = m.randomNormal([7], { seed: 3, dtype: 'float64' }).requireGrad();
      const b = m.randomNormal([5, 3], { seed: 4, dtype: 'float64' }).requireGrad();
      const y = m.sparseMatmul({ shape: [4, 5], values, colIndices, rowPointers }, b);
      const loss = m.sum(y);
      loss.backward();
      loss.dispose();
      y.dispose();
      expect(values.grad?.shape).toEqual([7]);
      expect(b.grad?.shape).toEqual([5, 3]);
      values.dispose();
      b.dispose();
      expect(m.liveTensors()).toBe(before);
    });
  });
});
