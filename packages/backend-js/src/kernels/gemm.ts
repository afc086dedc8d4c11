/**
 * Float and integer matrix multiply for the pure-TypeScript reference backend.
 *
 * Structure (GotoBLAS / BLIS style, scaled down to what V8 rewards):
 *
 *   for jc over N in steps of NC            B panel  KC x NC, packed once per (jc, pc)
 *     for pc over K in steps of KC
 *       pack B[pc.., jc..]  (NR-wide column slivers, zero padded)
 *       for ic over M in steps of MC        A block  MC x KC, packed per (jc, pc, ic)
 *         pack A[ic.., pc..]  (MR-tall row slivers, zero padded)
 *         for jr over the B panel, ir over the A block: MR x NR micro-kernel
 *   unpack the float64 accumulator into c (rounding / ToInt32 happens here)
 *
 * Everything the micro-kernel touches is a Float64Array (packed panels and the accumulator),
 * so the hot loop stays monomorphic whatever the caller's element types are; only the pack and
 * unpack loops see the polymorphic input/output arrays. Zero padding of the panels to whole
 * MR x NR tiles means the micro-kernel never handles edges: the accumulator is allocated with
 * padded dimensions and the unpack step simply ignores the padding.
 */

export type NumericArray = Float32Array | Float64Array | Int32Array | Int8Array | Uint8Array;

/**
 * Micro-tile: MR x NR = 3 x 4. x64 V8 (TurboFan) only allocates the 16 SSE registers xmm0-15, so
 * 12 accumulators + 3 A values + 1 B value fill the register file exactly. Measured on Zen 4 /
 * Node 20: 3x4 beat 4x4 (~8% faster, accumulators spill), 2x4, 4x6, 4x8 and 8x4.
 */
const MR = 3;
const NR = 4;
/**
 * Cache blocking. Measured speed is flat within a few percent across KC 128-512 / MC 64-192 / NC
 * 256-1024 (the micro-kernel is instruction-bound in V8, not memory-bound), so these follow the
 * usual BLIS reasoning for a 32 KiB L1d / >= 512 KiB L2:
 * KC: depth of one pass. A KC x NR sliver of B (256 * 4 * 8 B = 8 KiB) stays in L1 while the
 *     micro-kernel sweeps every A sliver of the block.
 * MC: rows of A packed at once; MC x KC x 8 B = 252 KiB stays in L2. Must be a multiple of MR so a
 *     block's zero-padded rows never overlap the next block's rows in the accumulator.
 * NC: columns of B packed at once (multiple of NR); KC x NC x 8 B = 1 MiB, L2/L3 resident, and
 *     packing it is amortised over all of M.
 */
const KC = 256;
const MC = 126;
const NC = 512;

/**
 * Module-level scratch, allocated on first use, grown on demand and reused across calls.
 * The packed B panel, the packed A block and the float64 accumulator share ONE Float64Array:
 * TurboFan (Node 20) re-checks a typed array's map and reloads its base/length on every loop
 * iteration, so a micro-kernel reading one array instead of two is measurably (~4%) faster.
 * Layout: [0, B_SIZE) packed B panel, [B_SIZE, B_SIZE + A_SIZE) packed A block, then the
 * accumulator (m rounded up to MR rows, row stride ncPad).
 */
const B_SIZE = KC * NC;
const A_SIZE = MC * KC;
let buf = new Float64Array(0);

/** Zero points as seen by the pack step: none (plain gemm) or one value per tensor / row / column. */
type ZeroPoint = ArrayLike<number> | null;

/**
 * C[i, j] = sum_p A[i, p] * B[p, j] for i < m, j < n, p < k.
 * A element (i, p) is a[aOffset + i*aRowStride + p*aColStride]; B element (p, j) is b[bOffset + p*bRowStride + j*bColStride]
 * (strides may be 0 or any positive value: transposed or broadcast operands need no copy by the caller).
 * C is written row-major contiguous: element (i, j) at c[cOffset + i*n + j]; it is overwritten, not accumulated into.
 * Accumulation is in float64; the store into c rounds (Float32Array) or converts (Int32Array: exact while |sum| < 2^53, then ToInt32).
 */
export function gemm(
  m: number, n: number, k: number,
  a: NumericArray, aOffset: number, aRowStride: number, aColStride: number,
  b: NumericArray, bOffset: number, bRowStride: number, bColStride: number,
  c: Float32Array | Float64Array | Int32Array, cOffset: number,
): void {
  drive(m, n, k, a, aOffset, aRowStride, aColStride, null, b, bOffset, bRowStride, bColStride, null, c, cOffset);
}

/**
 * ONNX MatMulInteger semantics: C[i, j] = sum_p (A[i,p] - aZero[i or 0]) * (B[p,j] - bZero[j or 0]) into Int32Array c.
 * a and b are Int8Array or Uint8Array (each independently); aZero has length 1 (per tensor) or m (per row);
 * bZero has length 1 or n (per column). Same stride conventions as gemm. Results must be exact int32.
 */
export function gemmInteger(
  m: number, n: number, k: number,
  a: Int8Array | Uint8Array, aOffset: number, aRowStride: number, aColStride: number, aZero: ArrayLike<number>,
  b: Int8Array | Uint8Array, bOffset: number, bRowStride: number, bColStride: number, bZero: ArrayLike<number>,
  c: Int32Array, cOffset: number,
): void {
  // Differences lie in [-255, 255], so each product is < 2^16 and float64 sums stay exact up to
  // k ~ 2^37; the final int32 store is therefore exact whenever the true result fits in int32.
  if (aZero.length !== 1 && aZero.length !== m) throw new RangeError(`gemmInteger: aZero length ${aZero.length}, expected 1 or ${m}`);
  if (bZero.length !== 1 && bZero.length !== n) throw new RangeError(`gemmInteger: bZero length ${bZero.length}, expected 1 or ${n}`);
  drive(m, n, k, a, aOffset, aRowStride, aColStride, aZero, b, bOffset, bRowStride, bColStride, bZero, c, cOffset);
}

function drive(
  m: number, n: number, k: number,
  a: NumericArray, aOffset: number, aRs: number, aCs: number, aZero: ZeroPoint,
  b: NumericArray, bOffset: number, bRs: number, bCs: number, bZero: ZeroPoint,
  c: Float32Array | Float64Array | Int32Array, cOffset: number,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    c.fill(0, cOffset, cOffset + m * n);
    return;
  }
  const accSize = roundUp(m, MR) * Math.min(NC, roundUp(n, NR));
  if (buf.length < B_SIZE + A_SIZE + accSize) buf = new Float64Array(B_SIZE + A_SIZE + accSize);
  const acc0 = B_SIZE + A_SIZE;

  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    const ncPad = roundUp(nc, NR); // row stride of acc for this column panel
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packB(buf, b, bOffset + pc * bRs + jc * bCs, bRs, bCs, bZero, jc, kc, nc);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        packA(buf, a, aOffset + ic * aRs + pc * aCs, aRs, aCs, aZero, ic, mc, kc);
        // jr outside ir: one B sliver stays hot in L1 while all A slivers of the block stream past.
        for (let jr = 0; jr < nc; jr += NR) {
          const bIdx = jr * kc;
          for (let ir = 0; ir < mc; ir += MR) {
            micro(buf, kc, B_SIZE + ir * kc, bIdx, acc0 + (ic + ir) * ncPad + jr, ncPad, pc === 0);
          }
        }
      }
    }
    // Unpack: the only place the output's element type matters (Float32 rounds, Int32 wraps).
    for (let i = 0; i < m; i++) {
      const src = acc0 + i * ncPad;
      const dst = cOffset + i * n + jc;
      for (let j = 0; j < nc; j++) c[dst + j] = buf[src + j];
    }
  }
}

/**
 * Pack an mc x kc block of A (rows ic.., already offset) into MR-row slivers: sliver s holds, for
 * each p, the MR values A[s*MR + 0..MR-1, p] - zeroPoint contiguously. Rows past mc are zero.
 */
function packA(
  dst: Float64Array, a: NumericArray, off: number, rs: number, cs: number, zero: ZeroPoint, ic: number, mc: number, kc: number,
): void {
  const mcPad = roundUp(mc, MR);
  const perRow = zero !== null && zero.length > 1;
  for (let i = 0; i < mcPad; i++) {
    const base = B_SIZE + (i - (i % MR)) * kc + (i % MR);
    if (i >= mc) {
      for (let p = 0; p < kc; p++) dst[base + p * MR] = 0;
      continue;
    }
    const z = zero === null ? 0 : perRow ? zero[ic + i] : zero[0];
    let src = off + i * rs;
    for (let p = 0; p < kc; p++, src += cs) dst[base + p * MR] = a[src] - z;
  }
}

/**
 * Pack a kc x nc panel of B (columns jc.., already offset) into NR-column slivers: sliver s holds,
 * for each p, the NR values B[p, s*NR + 0..NR-1] - zeroPoint contiguously. Columns past nc are zero.
 */
function packB(
  dst: Float64Array, b: NumericArray, off: number, rs: number, cs: number, zero: ZeroPoint, jc: number, kc: number, nc: number,
): void {
  const ncPad = roundUp(nc, NR);
  const perCol = zero !== null && zero.length > 1;
  for (let j = 0; j < ncPad; j++) {
    const base = (j - (j % NR)) * kc + (j % NR);
    if (j >= nc) {
      for (let p = 0; p < kc; p++) dst[base + p * NR] = 0;
      continue;
    }
    const z = zero === null ? 0 : perCol ? zero[jc + j] : zero[0];
    let src = off + j * cs;
    for (let p = 0; p < kc; p++, src += rs) dst[base + p * NR] = b[src] - z;
  }
}

/**
 * MR x NR micro-kernel over the single scratch array x:
 *   x[ci + r*ldc + s] = (first ? 0 : x[ci + r*ldc + s]) + sum_p x[ai + p*MR + r] * x[bi + p*NR + s].
 * The accumulators are locals so TurboFan keeps them in registers. The `| 0` on index arithmetic
 * is deliberate: it lets V8 use plain int32 adds instead of overflow-checked ones (~10% faster).
 */
function micro(x: Float64Array, kc: number, ai: number, bi: number, ci: number, ldc: number, first: boolean): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  const aEnd = ai + kc * MR;
  while (ai < aEnd) {
    const a0 = x[ai], a1 = x[(ai + 1) | 0], a2 = x[(ai + 2) | 0];
    let bv = x[bi];
    c00 += a0 * bv; c10 += a1 * bv; c20 += a2 * bv;
    bv = x[(bi + 1) | 0];
    c01 += a0 * bv; c11 += a1 * bv; c21 += a2 * bv;
    bv = x[(bi + 2) | 0];
    c02 += a0 * bv; c12 += a1 * bv; c22 += a2 * bv;
    bv = x[(bi + 3) | 0];
    c03 += a0 * bv; c13 += a1 * bv; c23 += a2 * bv;
    ai = (ai + MR) | 0;
    bi = (bi + NR) | 0;
  }
  const r0 = ci, r1 = ci + ldc, r2 = ci + 2 * ldc;
  if (!first) {
    // Later K passes add onto the partial sums already in the float64 accumulator.
    c00 += x[r0]; c01 += x[r0 + 1]; c02 += x[r0 + 2]; c03 += x[r0 + 3];
    c10 += x[r1]; c11 += x[r1 + 1]; c12 += x[r1 + 2]; c13 += x[r1 + 3];
    c20 += x[r2]; c21 += x[r2 + 1]; c22 += x[r2 + 2]; c23 += x[r2 + 3];
  }
  x[r0] = c00; x[r0 + 1] = c01; x[r0 + 2] = c02; x[r0 + 3] = c03;
  x[r1] = c10; x[r1 + 1] = c11; x[r1 + 2] = c12; x[r1 + 3] = c13;
  x[r2] = c20; x[r2 + 1] = c21; x[r2 + 2] = c22; x[r2 + 3] = c23;
}

function roundUp(x: number, q: number): number {
  return Math.ceil(x / q) * q;
}
