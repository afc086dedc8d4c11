// int8 GEMM with ONNX semantics: MatMulInteger (int32 out), MatMulIntegerToFloat (fused
// dequantization to float32) and QLinearMatMul (fused requantization to int8/uint8).
//
// C[i,j] = sum_p (A[i,p] - aZero) * (B[p,j] - bZero), A and B each int8 or uint8.
//
// Zero points are subtracted while packing, into int16: (x - z) lies in [-255, 255] when z is
// representable in x's type, so i32x4.dot_i16x8_s (pmaddwd) multiplies 8 pairs exactly and sums
// them in pairs without overflow (2 * 255^2 < 2^31). The accumulators add modulo 2^32, so every
// result is the exact sum modulo 2^32 for any k: the true value whenever it fits int32, which is
// guaranteed for k <= 33025 (k * 255^2 < 2^31); beyond that, the same wrap-around as any int32
// accumulator (onnxruntime's included). No K split is needed for exactness.
//
// Packed layouts (int16 pairs over k, k padded to even with zeros):
//   A panel of MR rows: for each k-pair q, MR i32 words (a[i][2q] - za) | (a[i][2q+1] - za) << 16.
//   B strip of NR columns: for each k-pair q, NR i32 words, same pairing down a column.
// The micro-kernel splats one A word (two k's of one row) against two B vectors (4 columns x 2
// k's each), so a 4 x 8 tile keeps 8 i32x4 accumulators in registers over the whole k: no partial
// sums leave registers, which is what lets the dequantize/requantize epilogues run fused.
//
// Blocking: B is packed in slabs of up to NC columns (all of n when it fits B_SLAB_BYTES), A in
// blocks of MC rows sized to stay in L2; each B strip (k x 8) is reused from L1 across a block.
// Block sizes moved results by under 2% (the kernel is compute bound), so they are not tuned hard.
//
// Zero points must lie in their tensor's range (ONNX types them like the tensor); others would
// overflow the int16 packing. Both builds run this same code: relaxed SIMD offers nothing
// faster for 9-bit operands on x64 (relaxed_dot_i8x16_i7x16 lowers to pmaddubsw + pmaddwd, needs
// a 7-bit operand, and V8 11.3's Liftoff computes it wrongly).

import { gatherTable, packBStripTable } from './gather_i8';
import { gemmI8Short, gemmI8ShortScratchBytes, SHORT_K } from './gemm_i8_short';
import { gemmI8Thin, gemmI8ThinScratchBytes, I8_THIN_ROWS } from './gemm_i8_thin';
import { EPI_BYTES, MODE_I32, MODE_Q8, epilogueRows, prepareParams, prepareRequant, storeRow } from './epilogue_i8';

const MR: i32 = 4;
const NR: i32 = 8;
const B_SLAB_BYTES: i32 = 2 << 20;
const MIN_SLAB_COLUMNS: i32 = 256;
const A_BLOCK_BYTES: i32 = 192 << 10;
const TILE_BYTES: i32 = MR * NR * 4;

@inline function roundUpTo(x: i32, multiple: i32): i32 {
  return (x + multiple - 1) / multiple * multiple;
}

function slabColumns(n: i32, kp: i32): i32 {
  let nc = B_SLAB_BYTES / (max(kp, 1) * 4 * NR) * NR;
  if (nc < MIN_SLAB_COLUMNS) nc = MIN_SLAB_COLUMNS;
  return min(nc, roundUpTo(n, NR));
}

function blockRows(m: i32, kp: i32): i32 {
  let mc = A_BLOCK_BYTES / (max(kp, 1) * 4 * MR) * MR;
  if (mc < MR) mc = MR;
  return min(mc, roundUpTo(m, MR));
}

/** Bytes of the scale and bias tables (one per row or column, padded), the epilogue constants and an edge tile. */
function paramBytes(m: i32, n: i32): i32 {
  return roundUpTo(max(m, n), NR) * 8 + EPI_BYTES + TILE_BYTES;
}

/**
 * Products over at most SHORT_K terms (a first convolution over one channel: 9) never take the
 * packed path, whose fixed cost per tile (packing, the epilogue, the loop around a k loop of a few
 * steps) outweighs so short a sum: with B row-major they run on gemm_i8_short.ts, otherwise on the
 * thin path in chunks of rows.
 */
@inline function shortApplies(n: i32, k: i32, bColStride: i32): bool {
  return k <= SHORT_K && bColStride == 1 && n >= 16;
}

@inline function thinApplies(m: i32, k: i32): bool {
  return m <= I8_THIN_ROWS || k <= SHORT_K;
}

/** Scratch for the thin path: a' rows of one chunk, then the int32 accumulators of all m rows (the epilogue runs over them after). */
function thinBytes(m: i32, n: i32, k: i32): i32 {
  return roundUpTo(gemmI8ThinScratchBytes(min(m, I8_THIN_ROWS), k), 16) + roundUpTo(m * n * 4, 16);
}

/** Scratch bytes gemmI8 and gemmI8Scaled need for these sizes (scratch 16-byte aligned). */
export function gemmI8ScratchBytes(m: i32, n: i32, k: i32): i32 {
  if (m <= 0 || n <= 0) return 0;
  const kp = (max(k, 0) + 1) >> 1;
  const thin = thinApplies(m, k) ? thinBytes(m, n, k) : 0;
  const short = k <= SHORT_K ? gemmI8ShortScratchBytes(m, k) : 0;
  return max(max(thin, short), kp * 4 * slabColumns(n, kp) + kp * 4 * blockRows(m, kp)) + paramBytes(m, n);
}

/**
 * The thin path over all m rows, I8_THIN_ROWS at a time, into int32 C [m, n] (row stride n); false
 * (nothing written) when B's layout is not one it reads.
 */
function thinChunks(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  c: usize, scratch: usize,
): bool {
  for (let i0 = 0; i0 < m; i0 += I8_THIN_ROWS) {
    const rows = min(I8_THIN_ROWS, m - i0);
    const za = aZeroPerRow ? aZero + (<usize>i0 << 2) : aZero;
    if (!gemmI8Thin(rows, n, k, a + <usize>(i0 * aRowStride), aRowStride, aColStride, aSigned, za, aZeroPerRow,
      b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, c + <usize>(i0 * n * 4), scratch)) return false;
  }
  return true;
}

// ---- packing ------------------------------------------------------------------------------
// Each packing routine is an inlined body with a wrapper that fixes the operand's signedness as a
// constant: a run-time `signed` inside their loops costs a branch per load.

@inline function loadQ(p: usize, signed: bool): i32 {
  return signed ? <i32>load<i8>(p) : <i32>load<u8>(p);
}

@inline function load8x16(p: usize, signed: bool): v128 {
  return signed ? v128.load8x8_s(p) : v128.load8x8_u(p);
}

@inline function pairWord(lo: i32, hi: i32): i32 {
  return (lo & 0xffff) | (hi << 16);
}

/** out[q] = [v0[q], v1[q], v2[q], v3[q]] for q = 0..3, stored `step` bytes apart. */
@inline function storeTransposed(dst: usize, step: usize, v0: v128, v1: v128, v2: v128, v3: v128): void {
  const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
  v128.store(dst, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(dst + step, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(dst + 2 * step, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(dst + 3 * step, i64x2.shuffle(t2, t3, 1, 3));
}

/**
 * Any strides: packs k-pairs q0.. of `count` lines (rows of A or columns of B; line l starts at
 * x + (line0 + l) * lineStride, k steps by kStride) into a panel of `width` lines, word l of each
 * `groupBytes` k-pair group; lines from `count` to `width` are zero.
 */
@inline function packLinesScalarBody(
  x: usize, lineStride: i32, kStride: i32, signed: bool, zero: usize, zeroPerLine: bool, line0: i32,
  count: i32, width: i32, k: i32, q0: i32, kp: i32, dst: usize, groupBytes: i32,
): void {
  const z0 = load<i32>(zero);
  for (let l = 0; l < width; l++) {
    let d = dst + <usize>(q0 * groupBytes + l * 4);
    if (l >= count) {
      for (let q = q0; q < kp; q++, d += <usize>groupBytes) store<i32>(d, 0);
      continue;
    }
    const z = zeroPerLine ? load<i32>(zero + (<usize>(line0 + l) << 2)) : z0;
    const base = x + <usize>((line0 + l) * lineStride);
    let p = 2 * q0;
    for (; p + 2 <= k; p += 2, d += <usize>groupBytes) {
      const lo = loadQ(base + <usize>(p * kStride), signed) - z;
      const hi = loadQ(base + <usize>((p + 1) * kStride), signed) - z;
      store<i32>(d, pairWord(lo, hi));
    }
    if (p < k) store<i32>(d, pairWord(loadQ(base + <usize>(p * kStride), signed) - z, 0));
  }
}

function packLinesScalar(x: usize, lineStride: i32, kStride: i32, signed: bool, zero: usize, zeroPerLine: bool, line0: i32, count: i32, width: i32, k: i32, q0: i32, kp: i32, dst: usize, groupBytes: i32): void {
  if (signed) packLinesScalarBody(x, lineStride, kStride, true, zero, zeroPerLine, line0, count, width, k, q0, kp, dst, groupBytes);
  else packLinesScalarBody(x, lineStride, kStride, false, zero, zeroPerLine, line0, count, width, k, q0, kp, dst, groupBytes);
}

/**
 * Four lines contiguous in k (A row-major, B column-major): 4 lines x 4 pairs per step, widened,
 * zero point subtracted and transposed into the panel. Returns the first pair left to pack.
 */
@inline function packLines4ContiguousBody(
  x: usize, lineStride: i32, signed: bool, zero: usize, zeroPerLine: bool, line0: i32,
  k: i32, dst: usize, groupBytes: i32,
): i32 {
  let z0 = load<i32>(zero), z1 = z0, z2 = z0, z3 = z0;
  if (zeroPerLine) {
    const zp = zero + (<usize>line0 << 2);
    z0 = load<i32>(zp); z1 = load<i32>(zp, 4); z2 = load<i32>(zp, 8); z3 = load<i32>(zp, 12);
  }
  const zv0 = i16x8.splat(<i16>z0), zv1 = i16x8.splat(<i16>z1), zv2 = i16x8.splat(<i16>z2), zv3 = i16x8.splat(<i16>z3);
  const x0 = x + <usize>(line0 * lineStride);
  const x1 = x0 + <usize>lineStride, x2 = x1 + <usize>lineStride, x3 = x2 + <usize>lineStride;
  const step = <usize>groupBytes;
  let q = 0;
  for (; 2 * q + 8 <= k; q += 4) {
    const p = <usize>(2 * q);
    storeTransposed(dst + <usize>(q * groupBytes), step,
      i16x8.sub(load8x16(x0 + p, signed), zv0), i16x8.sub(load8x16(x1 + p, signed), zv1),
      i16x8.sub(load8x16(x2 + p, signed), zv2), i16x8.sub(load8x16(x3 + p, signed), zv3));
  }
  return q;
}

function packLines4Contiguous(x: usize, lineStride: i32, signed: bool, zero: usize, zeroPerLine: bool, line0: i32, k: i32, dst: usize, groupBytes: i32): i32 {
  return signed ? packLines4ContiguousBody(x, lineStride, true, zero, zeroPerLine, line0, k, dst, groupBytes) : packLines4ContiguousBody(x, lineStride, false, zero, zeroPerLine, line0, k, dst, groupBytes);
}

function packAPanel(
  a: usize, rs: i32, cs: i32, signed: bool, zero: usize, perRow: bool,
  i0: i32, rows: i32, k: i32, kp: i32, dst: usize,
): void {
  let q0 = 0;
  if (cs == 1 && rows == MR) q0 = packLines4Contiguous(a, rs, signed, zero, perRow, i0, k, dst, MR * 4);
  else if (rs == 1 && rows == MR) q0 = packAColumnMajor(a, cs, signed, zero, perRow, i0, k, dst);
  if (q0 < kp) packLinesScalar(a, rs, cs, signed, zero, perRow, i0, rows, MR, k, q0, kp, dst, MR * 4);
}

/** A column-major (rows contiguous): rows i0..i0+3 of columns p and p+1 interleave into one group. */
@inline function packAColumnMajorBody(a: usize, cs: i32, signed: bool, zero: usize, perRow: bool, i0: i32, k: i32, dst: usize): i32 {
  let zv = i32x4.splat(load<i32>(zero));
  if (perRow) zv = v128.load(zero + (<usize>i0 << 2));
  zv = i16x8.shuffle(zv, zv, 0, 0, 2, 2, 4, 4, 6, 6); // (z_r, z_r) per word
  const base = a + <usize>i0;
  let q = 0;
  for (; 2 * q + 2 <= k; q++) {
    const col = base + <usize>(2 * q * cs);
    let lo = v128.load32_zero(col);
    let hi = v128.load32_zero(col + <usize>cs);
    lo = signed ? i16x8.extend_low_i8x16_s(lo) : i16x8.extend_low_i8x16_u(lo);
    hi = signed ? i16x8.extend_low_i8x16_s(hi) : i16x8.extend_low_i8x16_u(hi);
    v128.store(dst + <usize>(q << 4), i16x8.sub(i16x8.shuffle(lo, hi, 0, 8, 1, 9, 2, 10, 3, 11), zv));
  }
  return q;
}

function packAColumnMajor(a: usize, cs: i32, signed: bool, zero: usize, perRow: bool, i0: i32, k: i32, dst: usize): i32 {
  return signed ? packAColumnMajorBody(a, cs, true, zero, perRow, i0, k, dst) : packAColumnMajorBody(a, cs, false, zero, perRow, i0, k, dst);
}

function packBStrip(
  b: usize, rs: i32, cs: i32, signed: bool, zero: usize, perCol: bool,
  j0: i32, cols: i32, k: i32, kp: i32, dst: usize,
): void {
  let q0 = 0;
  if (cols == NR) {
    if (cs == 1) {
      q0 = packBRowMajor(b, rs, signed, zero, perCol, j0, k, dst);
    } else if (rs == 1) {
      q0 = packLines4Contiguous(b, cs, signed, zero, perCol, j0, k, dst, NR * 4);
      packLines4Contiguous(b, cs, signed, zero, perCol, j0 + 4, k, dst + 16, NR * 4);
    }
  }
  if (q0 < kp) packLinesScalar(b, cs, rs, signed, zero, perCol, j0, cols, NR, k, q0, kp, dst, NR * 4);
}

/** B row-major: two rows of 8 columns interleave into the 8 words of one k-pair group. */
@inline function packBRowMajorBody(b: usize, rs: i32, signed: bool, zero: usize, perCol: bool, j0: i32, k: i32, dst: usize): i32 {
  let zv = i16x8.splat(<i16>load<i32>(zero));
  if (perCol) {
    const zp = zero + (<usize>j0 << 2);
    zv = i16x8.narrow_i32x4_s(v128.load(zp), v128.load(zp, 16));
  }
  const row = b + <usize>j0;
  let q = 0;
  for (; 2 * q + 2 <= k; q++) {
    const r0 = row + <usize>(2 * q * rs);
    const lo = i16x8.sub(load8x16(r0, signed), zv);
    const hi = i16x8.sub(load8x16(r0 + <usize>rs, signed), zv);
    const d = dst + <usize>(q << 5);
    v128.store(d, i16x8.shuffle(lo, hi, 0, 8, 1, 9, 2, 10, 3, 11));
    v128.store(d, i16x8.shuffle(lo, hi, 4, 12, 5, 13, 6, 14, 7, 15), 16);
  }
  return q;
}

function packBRowMajor(b: usize, rs: i32, signed: bool, zero: usize, perCol: bool, j0: i32, k: i32, dst: usize): i32 {
  return signed ? packBRowMajorBody(b, rs, true, zero, perCol, j0, k, dst) : packBRowMajorBody(b, rs, false, zero, perCol, j0, k, dst);
}

// ---- micro-kernel -------------------------------------------------------------------------

@inline function dotAdd(acc: v128, a: v128, b: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(a, b));
}

/**
 * The MR x NR tile of A panel `pa` times B strip `pb` over kp pairs, written through the epilogue
 * `mode` (epilogue_i8.ts) as rows `ds` bytes apart from `d`. Scales and biases at `sp` and `bp`:
 * this tile's 8 columns' (perRow false) or its 4 rows' (perRow true).
 *
 * The k loop is unrolled by two pairs with a conditional exit between the halves: without the
 * exit, Binaryen merges both halves into one expression per accumulator and TurboFan then loads
 * both halves' operands up front, which no longer fits V8's 15 allocatable XMM registers (the
 * accumulators spill: 65 GOP/s). Split this way each half holds 8 accumulators + 2 B vectors +
 * 4 A splats + 1 temporary = 15 (~90 GOP/s from L1; 83 not unrolled).
 */
function kernel4x8(
  pa: usize, pb: usize, kp: i32, mode: i32, d: usize, ds: usize,
  perRow: bool, sp: usize, bp: usize, signed: bool, ep: usize,
): void {
  let c00 = i32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const end = pb + (<usize>kp << 5);
  while (pb < end) {
    let b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = dotAdd(c00, a, b0); c01 = dotAdd(c01, a, b1);
    a = v128.load32_splat(pa, 4);
    c10 = dotAdd(c10, a, b0); c11 = dotAdd(c11, a, b1);
    a = v128.load32_splat(pa, 8);
    c20 = dotAdd(c20, a, b0); c21 = dotAdd(c21, a, b1);
    a = v128.load32_splat(pa, 12);
    c30 = dotAdd(c30, a, b0); c31 = dotAdd(c31, a, b1);
    if (pb + 32 >= end) break;
    b0 = v128.load(pb, 32); b1 = v128.load(pb, 48);
    a = v128.load32_splat(pa, 16);
    c00 = dotAdd(c00, a, b0); c01 = dotAdd(c01, a, b1);
    a = v128.load32_splat(pa, 20);
    c10 = dotAdd(c10, a, b0); c11 = dotAdd(c11, a, b1);
    a = v128.load32_splat(pa, 24);
    c20 = dotAdd(c20, a, b0); c21 = dotAdd(c21, a, b1);
    a = v128.load32_splat(pa, 28);
    c30 = dotAdd(c30, a, b0); c31 = dotAdd(c31, a, b1);
    pa += 32;
    pb += 64;
  }
  if (mode == MODE_I32 || !perRow) {
    let s0 = c00, s1 = c00, b0 = c00, b1 = c00;
    if (mode != MODE_I32) {
      s0 = v128.load(sp); s1 = v128.load(sp, 16);
      b0 = v128.load(bp); b1 = v128.load(bp, 16);
    }
    storeRow(mode, c00, c01, s0, s1, b0, b1, signed, d, ep);
    storeRow(mode, c10, c11, s0, s1, b0, b1, signed, d + ds, ep);
    storeRow(mode, c20, c21, s0, s1, b0, b1, signed, d + 2 * ds, ep);
    storeRow(mode, c30, c31, s0, s1, b0, b1, signed, d + 3 * ds, ep);
  } else {
    let s = v128.load32_splat(sp), b = v128.load32_splat(bp);
    storeRow(mode, c00, c01, s, s, b, b, signed, d, ep);
    s = v128.load32_splat(sp, 4); b = v128.load32_splat(bp, 4);
    storeRow(mode, c10, c11, s, s, b, b, signed, d + ds, ep);
    s = v128.load32_splat(sp, 8); b = v128.load32_splat(bp, 8);
    storeRow(mode, c20, c21, s, s, b, b, signed, d + 2 * ds, ep);
    s = v128.load32_splat(sp, 12); b = v128.load32_splat(bp, 12);
    storeRow(mode, c30, c31, s, s, b, b, signed, d + 3 * ds, ep);
  }
}

// ---- driver -------------------------------------------------------------------------------

/** Copies `rows` x `cols` elements of `bytes` (1 or 4) bytes from the tile buffer (rows NR * 4 bytes apart) to out. */
function copyEdge(tile: usize, out: usize, rowBytes: usize, rows: i32, cols: i32, bytes: i32): void {
  for (let r = 0; r < rows; r++) {
    const t = tile + <usize>(r * NR * 4);
    const d = out + <usize>r * rowBytes;
    if (bytes == 4) {
      for (let l = 0; l < cols; l++) store<u32>(d + (<usize>l << 2), load<u32>(t + (<usize>l << 2)));
    } else {
      for (let l = 0; l < cols; l++) store<u8>(d + <usize>l, load<u8>(t + <usize>l));
    }
  }
}

/** The packed product, every tile through the epilogue `mode`; scales/biases as prepareParams laid them out (0: MODE_I32). */
function gemmDriver(
  mode: i32, m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  perRow: bool, scales: usize, biases: usize, outSigned: bool, ep: usize, out: usize, scratch: usize,
  bRows: usize = 0, bCols: usize = 0,
): void {
  if (k < 0) k = 0;
  const kp = (k + 1) >> 1;
  const nc = slabColumns(n, kp);
  const mc = blockRows(m, kp);
  const packB = scratch;
  const packA = packB + <usize>(kp * 4 * nc);
  const tile = ep + <usize>EPI_BYTES;
  const outBytes = mode == MODE_Q8 ? 1 : 4;
  const rowBytes = <usize>(n * outBytes);
  const stripBytes = kp * NR * 4;
  const panelBytes = kp * MR * 4;
  for (let j0 = 0; j0 < n; j0 += nc) {
    const nb = min(nc, n - j0);
    for (let s = 0; s < nb; s += NR) {
      const strip = packB + <usize>(s / NR * stripBytes);
      if (bRows != 0) packBStripTable(b, bRows, bCols, bSigned, bZero, bZeroPerCol, j0 + s, min(NR, nb - s), k, kp, strip);
      else packBStrip(b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, j0 + s, min(NR, nb - s), k, kp, strip);
    }
    for (let i0 = 0; i0 < m; i0 += mc) {
      const mb = min(mc, m - i0);
      for (let r = 0; r < mb; r += MR) {
        packAPanel(a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, i0 + r, min(MR, mb - r), k, kp,
          packA + <usize>(r / MR * panelBytes));
      }
      for (let s = 0; s < nb; s += NR) {
        const pb = packB + <usize>(s / NR * stripBytes);
        const cols = min(NR, nb - s);
        const j = j0 + s;
        for (let r = 0; r < mb; r += MR) {
          const pa = packA + <usize>(r / MR * panelBytes);
          const rows = min(MR, mb - r);
          const i = i0 + r;
          const at: usize = perRow ? <usize>i << 2 : <usize>j << 2;
          const d = out + <usize>i * rowBytes + <usize>(j * outBytes);
          const edge = rows < MR || cols < NR;
          kernel4x8(pa, pb, kp, mode, edge ? tile : d, edge ? <usize>(NR * 4) : rowBytes, perRow, scales + at, biases + at, outSigned, ep);
          if (edge) copyEdge(tile, d, rowBytes, rows, cols, outBytes);
        }
      }
    }
  }
}

/** C = (A - aZero) (B - bZero) as int32, C [m, n] row-major. */
export function gemmI8(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  c: usize, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const ep = scratch + <usize>(gemmI8ScratchBytes(m, n, k) - EPI_BYTES - TILE_BYTES);
  if (shortApplies(n, k, bColStride)) {
    gemmI8Short(MODE_I32, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
      b, bRowStride, bSigned, bZero, bZeroPerCol, false, 0, 0, false, ep, c, scratch);
    return;
  }
  // A few rows of A, or a short k: B is read in place, unpacked (gemm_i8_thin.ts).
  if (thinApplies(m, k) && thinChunks(m, n, max(k, 0), a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
    b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, c, scratch)) return;
  gemmDriver(MODE_I32, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
    b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, false, 0, 0, false, ep, c, scratch);
}

/**
 * matmulIntegerScaled: (A - aZero) (B - bZero) + bias, times scale, through epilogue `mode`
 * (MODE_F32: float32 out; MODE_Q8: int8/uint8 out with `outZero`), [m, n] row-major. Scale (f32)
 * and bias (i32, address 0 for none) are read at element strides (0: one value for all), one per
 * row when perRow, else one per column. With bRows != 0, B[k, j] is b[bRows[k] + bCols[j]]
 * (int32 byte-offset tables; its strides are then unused) and `gathered` has k * n bytes for it.
 */
export function gemmI8Scaled(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  mode: i32, perRow: bool, scale: usize, scaleStride: i32, bias: usize, biasStride: i32,
  outZero: i32, outSigned: bool, out: usize, scratch: usize,
  bRows: usize, bCols: usize, gathered: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (k < 0) k = 0;
  const total = gemmI8ScratchBytes(m, n, k);
  const ep = scratch + <usize>(total - EPI_BYTES - TILE_BYTES);
  const count = roundUpTo(perRow ? m : n, NR);
  const scales = ep - <usize>(count * 8);
  const biases = scales + <usize>(count * 4);
  prepareParams(perRow ? m : n, count, scale, scaleStride, bias, biasStride, scales, biases);
  if (mode == MODE_Q8) prepareRequant(outZero, outSigned, ep);
  if (bRows != 0) {
    // B given by tables (gather_i8.ts): the packed path packs straight from them; the others
    // take it gathered into a [k, n] matrix at `gathered`.
    if (!thinApplies(m, k) && !shortApplies(n, k, 1)) {
      gemmDriver(mode, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
        b, 0, 0, bSigned, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch, bRows, bCols);
      return;
    }
    gatherTable(b, bRows, bCols, k, n, gathered);
    b = gathered;
    bRowStride = n;
    bColStride = 1;
  }
  if (shortApplies(n, k, bColStride)) {
    gemmI8Short(mode, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
      b, bRowStride, bSigned, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
    return;
  }
  if (thinApplies(m, k)) {
    // The thin path finishes its accumulators in scratch; the epilogue then reads them once.
    const acc = scratch + <usize>roundUpTo(gemmI8ThinScratchBytes(min(m, I8_THIN_ROWS), k), 16);
    if (thinChunks(m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
      b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, acc, scratch)) {
      epilogueRows(mode, m, n, acc, perRow, scales, biases, outSigned, out, ep);
      return;
    }
  }
  gemmDriver(mode, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
    b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, perRow, scales, biases, outSigned, ep, out, scratch);
}
