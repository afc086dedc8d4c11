import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { rng } from '../helpers/reference.js';
import { gemm, gemmInteger } from '../../packages/backend-js/src/kernels/gemm.js';
import type { NumericArray } from '../../packages/backend-js/src/kernels/gemm.js';

// ---------------------------------------------------------------------------------------------
// Operand layouts: how a rows x cols logical matrix sits in its storage array.
// ---------------------------------------------------------------------------------------------

type LayoutKind = 'row' | 'col' | 'bcastRow' | 'bcastCol' | 'padded' | 'paddedCol';
const LAYOUTS: readonly LayoutKind[] = ['row', 'col', 'bcastRow', 'bcastCol', 'padded', 'paddedCol'];

interface Layout { offset: number; rs: number; cs: number; size: number }

function layout(kind: LayoutKind, rows: number, cols: number): Layout {
  switch (kind) {
    case 'row': return { offset: 0, rs: cols, cs: 1, size: rows * cols };
    case 'col': return { offset: 0, rs: 1, cs: rows, size: rows * cols };
    case 'bcastRow': return { offset: 0, rs: 0, cs: 1, size: cols }; // every row the same
    case 'bcastCol': return { offset: 0, rs: 1, cs: 0, size: rows }; // every column the same
    case 'padded': return { offset: 3, rs: cols + 5, cs: 1, size: 3 + rows * (cols + 5) };
    case 'paddedCol': return { offset: 2, rs: 1, cs: rows + 3, size: 2 + (rows + 3) * cols };
  }
}

type ElemType = 'f32' | 'f64' | 'i32' | 'i8' | 'u8';


function randomArray(type: ElemType, size: number, rand: () => number): NumericArray {
  switch (type) {
    case 'f32': return Float32Array.from({ length: size }, () => (rand() * 2 - 1) * (rand() < 0.1 ? 1000 : 1));
    case 'f64': return Float64Array.from({ length: size }, () => (rand() * 2 - 1) * (rand() < 0.1 ? 1e6 : 1));
    // |x| <= 2^20: products reach 2^40, sums (k <= 70) stay < 2^53 so float64 is exact, but they
    // exceed 2^31, which exercises the ToInt32 wrap on store.
    case 'i32': return Int32Array.from({ length: size }, () => Math.floor(rand() * 2 ** 21) - 2 ** 20);
    case 'i8': return Int8Array.from({ length: size }, () => Math.floor(rand() * 256) - 128);
    case 'u8': return Uint8Array.from({ length: size }, () => Math.floor(rand() * 256));
  }
}

// ---------------------------------------------------------------------------------------------
// Reference: naive float64 triple loop reading through the same stride conventions.
// ---------------------------------------------------------------------------------------------

interface Ref { sum: Float64Array; sumAbs: Float64Array }

function reference(
  m: number, n: number, k: number,
  a: ArrayLike<number>, la: Layout, aZero: ArrayLike<number> | null,
  b: ArrayLike<number>, lb: Layout, bZero: ArrayLike<number> | null,
): Ref {
  const sum = new Float64Array(m * n);
  const sumAbs = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const za = aZero === null ? 0 : aZero.length > 1 ? aZero[i] : aZero[0];
    for (let j = 0; j < n; j++) {
      const zb = bZero === null ? 0 : bZero.length > 1 ? bZero[j] : bZero[0];
      let s = 0, sa = 0;
      for (let p = 0; p < k; p++) {
        const prod = (a[la.offset + i * la.rs + p * la.cs] - za) * (b[lb.offset + p * lb.rs + j * lb.cs] - zb);
        s += prod;
        sa += Math.abs(prod);
      }
      sum[i * n + j] = s;
      sumAbs[i * n + j] = sa;
    }
  }
  return { sum, sumAbs };
}

const C_OFFSET = 2;
const SENTINEL = 77;

/** Output array with C_OFFSET leading and 3 trailing sentinels; the C region is pre-filled with junk. */
function makeOutput(type: 'f32' | 'f64' | 'i32', m: number, n: number): Float32Array | Float64Array | Int32Array {
  const len = C_OFFSET + m * n + 3;
  const c = type === 'f32' ? new Float32Array(len) : type === 'f64' ? new Float64Array(len) : new Int32Array(len);
  c.fill(SENTINEL);
  c.fill(-999, C_OFFSET, C_OFFSET + m * n); // must be overwritten, not accumulated into
  return c;
}

/** Throws (so fast-check reports the counterexample) on the first element out of tolerance. */
function check(c: Float32Array | Float64Array | Int32Array, ref: Ref, k: number): void {
  const mn = ref.sum.length;
  for (let i = 0; i < C_OFFSET; i++) if (c[i] !== SENTINEL) throw new Error(`wrote before cOffset at ${i}`);
  for (let i = C_OFFSET + mn; i < c.length; i++) if (c[i] !== SENTINEL) throw new Error(`wrote past the end at ${i}`);
  const eps = c instanceof Float32Array ? 2 ** -23 : 2 ** -52;
  for (let e = 0; e < mn; e++) {
    const got = c[C_OFFSET + e];
    const want = ref.sum[e];
    if (c instanceof Int32Array) {
      if (got !== (want | 0)) throw new Error(`element ${e}: got ${got}, want ${want | 0} (exact ${want})`);
    } else {
      // Float32 output: float64 accumulation then one rounding; Float64: both sides accumulate error.
      const tol = 2 * k * eps * ref.sumAbs[e] + 1e-300;
      if (!(Math.abs(got - want) <= tol)) throw new Error(`element ${e}: got ${got}, want ${want}, tol ${tol}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Sizes 0..70, biased towards 0, 1 and values around the 3x4 tile edges. */
const dim = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 11, 13, 64), fc.integer({ min: 0, max: 70 }));
const layoutArb = fc.constantFrom(...LAYOUTS);
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

interface Case { m: number; n: number; k: number; la: LayoutKind; lb: LayoutKind; seed: number }
const caseArb = (d: fc.Arbitrary<number> = dim): fc.Arbitrary<Case> =>
  fc.record({ m: d, n: d, k: d, la: layoutArb, lb: layoutArb, seed: seedArb });

function runGemm(cs: Case, ta: ElemType, tb: ElemType, tc: 'f32' | 'f64' | 'i32'): void {
  const { m, n, k } = cs;
  const rand = rng(cs.seed);
  const la = layout(cs.la, m, k), lb = layout(cs.lb, k, n);
  const a = randomArray(ta, la.size, rand), b = randomArray(tb, lb.size, rand);
  const c = makeOutput(tc, m, n);
  gemm(m, n, k, a, la.offset, la.rs, la.cs, b, lb.offset, lb.rs, lb.cs, c, C_OFFSET);
  check(c, reference(m, n, k, a, la, null, b, lb, null), k);
}

function runInteger(cs: Case, ta: 'i8' | 'u8', tb: 'i8' | 'u8', perRow: boolean, perCol: boolean): void {
  const { m, n, k } = cs;
  const rand = rng(cs.seed);
  const la = layout(cs.la, m, k), lb = layout(cs.lb, k, n);
  const a = randomArray(ta, la.size, rand) as Int8Array | Uint8Array;
  const b = randomArray(tb, lb.size, rand) as Int8Array | Uint8Array;
  // Zero points live in the operand's own value range, as in ONNX.
  const aZero = randomArray(ta, perRow ? m : 1, rand);
  const bZero = randomArray(tb, perCol ? n : 1, rand);
  const c = makeOutput('i32', m, n) as Int32Array;
  gemmInteger(m, n, k, a, la.offset, la.rs, la.cs, aZero, b, lb.offset, lb.rs, lb.cs, bZero, c, C_OFFSET);
  check(c, reference(m, n, k, a, la, aZero, b, lb, bZero), k);
}

const FC = { seed: 42 } as const;

// ---------------------------------------------------------------------------------------------

describe('gemm', () => {
  it('Float32Array in/out matches float64 reference within k-scaled float32 tolerance', () => {
    fc.assert(fc.property(caseArb(), (cs) => runGemm(cs, 'f32', 'f32', 'f32')), { ...FC, numRuns: 150 });
  });

  it('Float64Array in/out matches float64 reference tightly', () => {
    fc.assert(fc.property(caseArb(), (cs) => runGemm(cs, 'f64', 'f64', 'f64')), { ...FC, numRuns: 150 });
  });

  it('Int32Array in/out is exact (including ToInt32 wrap of sums beyond 2^31)', () => {
    fc.assert(fc.property(caseArb(), (cs) => runGemm(cs, 'i32', 'i32', 'i32')), { ...FC, numRuns: 150 });
  });

  it('mixed input and output element types', () => {
    const types: ElemType[] = ['f32', 'f64', 'i32', 'i8', 'u8'];
    const arb = fc.tuple(caseArb(), fc.constantFrom(...types), fc.constantFrom(...types), fc.constantFrom('f32', 'f64', 'i32') as fc.Arbitrary<'f32' | 'f64' | 'i32'>);
    // Int32 output truncates, so it is only compared exactly when both inputs are integers.
    const isInt = (t: ElemType): boolean => t !== 'f32' && t !== 'f64';
    fc.assert(fc.property(arb, ([cs, ta, tb, tc]) => runGemm(cs, ta, tb, tc === 'i32' && !(isInt(ta) && isInt(tb)) ? 'f64' : tc)), { ...FC, numRuns: 150 });
  });

  it('one dimension larger than a cache block (KC = 256, MC = 126)', () => {
    const big = fc.constantFrom(130, 257, 300);
    const small = fc.integer({ min: 1, max: 20 });
    const arb = fc.oneof(
      fc.record({ m: big, n: small, k: small, la: layoutArb, lb: layoutArb, seed: seedArb }),
      fc.record({ m: small, n: small, k: big, la: layoutArb, lb: layoutArb, seed: seedArb }),
      fc.record({ m: small, n: big, k: small, la: layoutArb, lb: layoutArb, seed: seedArb }),
    );
    fc.assert(fc.property(arb, (cs) => runGemm(cs, 'f32', 'f32', 'f32')), { ...FC, numRuns: 30 });
  });

  it('crosses every block boundary at once (M > MC, K > KC, N > NC = 512)', () => {
    runGemm({ m: 130, n: 530, k: 260, la: 'row', lb: 'row', seed: 1 }, 'f32', 'f32', 'f32');
    runGemm({ m: 128, n: 515, k: 300, la: 'col', lb: 'paddedCol', seed: 2 }, 'f64', 'f64', 'f64');
    runGemm({ m: 127, n: 513, k: 257, la: 'padded', lb: 'col', seed: 3 }, 'i32', 'i32', 'i32');
  });

  it('k = 0 writes zeros; m = 0 or n = 0 writes nothing', () => {
    for (const [m, n] of [[3, 5], [1, 1], [70, 9]]) {
      const c = makeOutput('f32', m, n);
      gemm(m, n, 0, new Float32Array(0), 0, 0, 1, new Float32Array(0), 0, n, 1, c, C_OFFSET);
      expect(Array.from(c.subarray(C_OFFSET, C_OFFSET + m * n)).every((v) => v === 0)).toBe(true);
      expect(c[0]).toBe(SENTINEL);
      expect(c[C_OFFSET + m * n]).toBe(SENTINEL);
    }
    const c = new Float64Array([5, 6, 7]);
    gemm(0, 4, 3, new Float64Array(0), 0, 3, 1, new Float64Array(12), 0, 4, 1, c, 0);
    gemm(4, 0, 3, new Float64Array(12), 0, 3, 1, new Float64Array(0), 0, 0, 1, c, 0);
    expect(Array.from(c)).toEqual([5, 6, 7]);
  });

  it('non-finite values stay in their own rows and columns (zero-padded tiles are discarded)', () => {
    // 1x1 output is padded to a 3x4 tile internally; 0 * Infinity in the padding must not leak.
    const c = new Float32Array(1);
    gemm(1, 1, 1, Float32Array.of(2), 0, 1, 1, Float32Array.of(Infinity), 0, 1, 1, c, 0);
    expect(c[0]).toBe(Infinity);
    const c2 = new Float64Array(4);
    gemm(2, 2, 1, Float64Array.of(Infinity, 1), 0, 1, 1, Float64Array.of(1, 2), 0, 2, 1, c2, 0);
    expect(Array.from(c2)).toEqual([Infinity, Infinity, 1, 2]);
  });

  it('Float32 store rounds the float64 sum once', () => {
    // 1 + 2^-30 - 1 (float64 accumulation) is exactly 2^-30; float32 accumulation would give 0.
    const c = new Float32Array(1);
    gemm(1, 1, 3, Float64Array.of(1, 2 ** -30, -1), 0, 3, 1, Float64Array.of(1, 1, 1), 0, 1, 1, c, 0);
    expect(c[0]).toBe(2 ** -30);
  });
});

describe('gemmInteger', () => {
  const i8u8 = fc.constantFrom('i8', 'u8') as fc.Arbitrary<'i8' | 'u8'>;

  it('is exact for int8/uint8 mixes with per-tensor, per-row and per-column zero points', () => {
    const arb = fc.tuple(caseArb(), i8u8, i8u8, fc.boolean(), fc.boolean());
    fc.assert(fc.property(arb, ([cs, ta, tb, perRow, perCol]) => runInteger(cs, ta, tb, perRow, perCol)), { ...FC, numRuns: 200 });
  });

  it('is exact across block boundaries with extreme values', () => {
    runInteger({ m: 130, n: 70, k: 600, la: 'row', lb: 'col', seed: 7 }, 'u8', 'i8', true, true);
    runInteger({ m: 9, n: 530, k: 300, la: 'padded', lb: 'row', seed: 8 }, 'i8', 'u8', false, true);
    // Worst case magnitude: (255 - 0) * (-128 - 127) summed over k = 2000 -> -130,050,000.
    const k = 2000;
    const c = new Int32Array(1);
    gemmInteger(1, 1, k, new Uint8Array(k).fill(255), 0, k, 1, [0], new Int8Array(k).fill(-128), 0, 1, 1, [127], c, 0);
    expect(c[0]).toBe(255 * -255 * k);
  });

  it('rejects zero-point arrays of the wrong length', () => {
    const a = new Int8Array(6), b = new Int8Array(6), c = new Int32Array(4);
    expect(() => gemmInteger(2, 2, 3, a, 0, 3, 1, [0, 0, 0], b, 0, 2, 1, [0], c, 0)).toThrow(RangeError);
    expect(() => gemmInteger(2, 2, 3, a, 0, 3, 1, [0], b, 0, 2, 1, [0, 0, 0], c, 0)).toThrow(RangeError);
  });
});
