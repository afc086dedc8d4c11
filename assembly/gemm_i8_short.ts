// Short int8 products: at most SHORT_K terms per output (a first convolution over one channel has
// 9), any number of rows of A, B row-major (rows contiguous, 16 columns or more).
//
// Per block of 16 columns, B's k rows are widened once into int16 pairs (k-pair q: four vectors
// of (b[2q][j], b[2q+1][j]), the last pair's partner zero for odd k) in scratch; then every row of
// A runs its k-pairs against them (a splat of (a'[2q], a'[2q+1]) and i32x4.dot_i16x8_s) and the
// epilogue (epilogue_i8.ts) takes the 16 accumulators straight from registers. The packed path
// would pack B and run a tile loop around a k loop of a few steps; the thin path widens B again for
// every pair of rows and writes its accumulators out for a separate epilogue pass.
//
// A is prepared as in gemm_i8_thin.ts (a' = A - aZero as int16, row sums for B's zero point,
// applied after the sum: acc - zb_j * sum_i), so results equal the other paths bit for bit.

import { MODE_F32, MODE_I32, MODE_Q8, storeOne, storeRow } from './epilogue_i8';
import { gemmI8ThinScratchBytes, prepareA, roundUp16 } from './gemm_i8_thin';

/** Products over at most this many terms take this path (or the thin one, for a few rows). */
export const SHORT_K: i32 = 16;
const MAX_PAIRS: i32 = SHORT_K / 2;

/** Scratch: m rows of a' and their sums, then the widened block of B. */
export function gemmI8ShortScratchBytes(m: i32, k: i32): i32 {
  return roundUp16(gemmI8ThinScratchBytes(m, k)) + MAX_PAIRS * 64;
}

@inline function loadQ(p: usize, signed: bool): i32 {
  return signed ? <i32>load<i8>(p) : <i32>load<u8>(p);
}

/** Widens k rows of 16 columns at `b` (rows `rs` bytes apart) into kq groups of 4 int16-pair vectors at `dst`. */
@inline function widenBlock(b: usize, rs: i32, k: i32, signed: bool, dst: usize): void {
  const zero = i32x4.splat(0);
  for (let q = 0; 2 * q < k; q++) {
    const r0 = v128.load(b + <usize>(2 * q * rs));
    const r1 = 2 * q + 1 < k ? v128.load(b + <usize>((2 * q + 1) * rs)) : zero;
    const lo = i8x16.shuffle(r0, r1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const hi = i8x16.shuffle(r0, r1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const d = dst + <usize>(q << 6);
    v128.store(d, signed ? i16x8.extend_low_i8x16_s(lo) : i16x8.extend_low_i8x16_u(lo));
    v128.store(d, signed ? i16x8.extend_high_i8x16_s(lo) : i16x8.extend_high_i8x16_u(lo), 16);
    v128.store(d, signed ? i16x8.extend_low_i8x16_s(hi) : i16x8.extend_low_i8x16_u(hi), 32);
    v128.store(d, signed ? i16x8.extend_high_i8x16_s(hi) : i16x8.extend_high_i8x16_u(hi), 48);
  }
}

/**
 * C = epilogue((A - aZero)(B - bZero)) for k <= SHORT_K, B row-major, n >= 16: `mode` and the
 * scale/bias tables (one per row when perRow, else per column, as prepareParams lays them out) as
 * gemm_i8.ts's driver takes them; ep holds the requantization constants.
 */
export function gemmI8Short(
  mode: i32, m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  perRow: bool, scales: usize, biases: usize, outSigned: bool, ep: usize, out: usize, scratch: usize,
): void {
  // One branch on the mode here: each inlined body has it (and B's signedness) as constants.
  if (mode == MODE_Q8) {
    if (bSigned) shortBody(MODE_Q8, true, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, b, bRowStride, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
    else shortBody(MODE_Q8, false, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, b, bRowStride, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
  } else if (mode == MODE_F32) {
    if (bSigned) shortBody(MODE_F32, true, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, b, bRowStride, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
    else shortBody(MODE_F32, false, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, b, bRowStride, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
  } else if (bSigned) {
    shortBody(MODE_I32, true, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, b, bRowStride, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
  } else {
    shortBody(MODE_I32, false, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, b, bRowStride, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
  }
}

@inline function shortBody(
  mode: i32, bSigned: bool, m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bZero: usize, bZeroPerCol: bool,
  perRow: bool, scales: usize, biases: usize, outSigned: bool, ep: usize, out: usize, scratch: usize,
): void {
  const ka = roundUp16(k);
  const sums = prepareA(m, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, scratch);
  const wide = scratch + <usize>roundUp16(gemmI8ThinScratchBytes(m, k));
  const kq = (k + 1) >> 1;
  const outBytes: usize = mode == MODE_Q8 ? 1 : 4;
  const rowBytes = <usize>n * outBytes;
  const z0 = load<i32>(bZero);
  // B's zero point matters only when some column's is not 0 (after a Relu, activations' is 0).
  let zeroB = false;
  const zeroCount = bZeroPerCol ? n : 1;
  for (let j = 0; j < zeroCount; j++) if (load<i32>(bZero + (<usize>j << 2)) != 0) zeroB = true;
  const n16 = n & ~15;
  for (let j = 0; j < n16; j += 16) {
    widenBlock(b + <usize>j, bRowStride, k, bSigned, wide);
    let z0v = i32x4.splat(z0), z1v = z0v, z2v = z0v, z3v = z0v;
    if (bZeroPerCol) {
      const zp = bZero + (<usize>j << 2);
      z0v = v128.load(zp); z1v = v128.load(zp, 16); z2v = v128.load(zp, 32); z3v = v128.load(zp, 48);
    }
    let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, b0 = i32x4.splat(0), b1 = b0, b2 = b0, b3 = b0;
    if (!perRow) {
      const sp = scales + (<usize>j << 2), bp = biases + (<usize>j << 2);
      s0 = v128.load(sp); s1 = v128.load(sp, 16); s2 = v128.load(sp, 32); s3 = v128.load(sp, 48);
      b0 = v128.load(bp); b1 = v128.load(bp, 16); b2 = v128.load(bp, 32); b3 = v128.load(bp, 48);
    }
    let pa = scratch;
    let d = out + <usize>j * outBytes;
    for (let i = 0; i < m; i++) {
      let c0 = i32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
      let pw = wide;
      for (let q = 0; q < kq; q++) {
        const x = v128.load32_splat(pa + (<usize>q << 2));
        c0 = i32x4.add(c0, i32x4.dot_i16x8_s(x, v128.load(pw)));
        c1 = i32x4.add(c1, i32x4.dot_i16x8_s(x, v128.load(pw, 16)));
        c2 = i32x4.add(c2, i32x4.dot_i16x8_s(x, v128.load(pw, 32)));
        c3 = i32x4.add(c3, i32x4.dot_i16x8_s(x, v128.load(pw, 48)));
        pw += 64;
      }
      if (zeroB) {
        const sv = v128.load32_splat(sums + (<usize>i << 2));
        c0 = i32x4.sub(c0, i32x4.mul(z0v, sv)); c1 = i32x4.sub(c1, i32x4.mul(z1v, sv));
        c2 = i32x4.sub(c2, i32x4.mul(z2v, sv)); c3 = i32x4.sub(c3, i32x4.mul(z3v, sv));
      }
      if (perRow) {
        const s = v128.load32_splat(scales + (<usize>i << 2)), bb = v128.load32_splat(biases + (<usize>i << 2));
        storeRow(mode, c0, c1, s, s, bb, bb, outSigned, d, ep);
        storeRow(mode, c2, c3, s, s, bb, bb, outSigned, d + 8 * outBytes, ep);
      } else {
        storeRow(mode, c0, c1, s0, s1, b0, b1, outSigned, d, ep);
        storeRow(mode, c2, c3, s2, s3, b2, b3, outSigned, d + 8 * outBytes, ep);
      }
      pa += <usize>(ka << 1);
      d += rowBytes;
    }
  }
  // The columns past the last block of 16, one output at a time.
  for (let i = 0; i < m; i++) {
    const pa = scratch + <usize>(i * ka * 2);
    const sum = load<i32>(sums + (<usize>i << 2));
    for (let j = n16; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += <i32>load<i16>(pa + (<usize>p << 1)) * loadQ(b + <usize>(p * bRowStride + j), bSigned);
      acc -= (bZeroPerCol ? load<i32>(bZero + (<usize>j << 2)) : z0) * sum;
      const c = perRow ? i : j;
      storeOne(mode, acc, load<f32>(scales + (<usize>c << 2)), load<i32>(biases + (<usize>c << 2)), outSigned, out + <usize>i * rowBytes + <usize>j * outBytes, ep);
    }
  }
}
