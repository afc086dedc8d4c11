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

import { gemmI8Thin, gemmI8ThinScratchBytes, I8_THIN_ROWS } from './gemm_i8_thin';

const MR: i32 = 4;
const NR: i32 = 8;
const B_SLAB_BYTES: i32 = 2 << 20;
const MIN_SLAB_COLUMNS: i32 = 256;
const A_BLOCK_BYTES: i32 = 192 << 10;
const TILE_BYTES: i32 = MR * NR * 4;

const MODE_I32: i32 = 0;
const MODE_DEQUANT: i32 = 1;
const MODE_REQUANT: i32 = 2;

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

/** Scratch bytes gemmI8, gemmI8DequantF32 and gemmI8Requant need for these sizes (scratch 16-byte aligned). */
export function gemmI8ScratchBytes(m: i32, n: i32, k: i32): i32 {
  if (m <= 0 || n <= 0) return 0;
  const kp = (max(k, 0) + 1) >> 1;
  const thin = m <= I8_THIN_ROWS ? gemmI8ThinScratchBytes(m, k) : 0;
  return max(thin, kp * 4 * slabColumns(n, kp) + kp * 4 * blockRows(m, kp) + roundUpTo(n, NR) * 8 + EPI_BYTES + TILE_BYTES);
}

// ---- packing ------------------------------------------------------------------------------

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
function packLinesScalar(
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

/**
 * Four lines contiguous in k (A row-major, B column-major): 4 lines x 4 pairs per step, widened,
 * zero point subtracted and transposed into the panel. Returns the first pair left to pack.
 */
function packLines4Contiguous(
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
function packAColumnMajor(a: usize, cs: i32, signed: bool, zero: usize, perRow: bool, i0: i32, k: i32, dst: usize): i32 {
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
function packBRowMajor(b: usize, rs: i32, signed: bool, zero: usize, perCol: bool, j0: i32, k: i32, dst: usize): i32 {
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

// ---- epilogue helpers ---------------------------------------------------------------------

// Per-call constants for the epilogues, splatted once into scratch (EPI_BYTES): requantization
// bounds and rounding constants.
const EPI_LO: i32 = 0;
const EPI_HI: i32 = 16;
const EPI_MAGIC: i32 = 32;
const EPI_ZERO: i32 = 48;
const EPI_OUT_SCALE: i32 = 64;
const EPI_BYTES: i32 = 80;

/** Multipliers for one row: the column values, times this row's A scale when A is per row (`as` != 0). */
@inline function rowMultiplier(s: v128, as: usize, mode: i32, ep: usize): v128 {
  if (as == 0) return s;
  const m = f32x4.mul(f32x4.splat(load<f32>(as)), s);
  return mode == MODE_DEQUANT ? m : f32x4.div(m, v128.load(ep, EPI_OUT_SCALE));
}

/** out = f32(acc) * (aScale * bScale) (+ bias): 8 floats of one row at `d`. */
@inline function dequantRow(x0: v128, x1: v128, s0: v128, s1: v128, as: usize, bias: usize, d: usize, ep: usize): void {
  let y0 = f32x4.mul(f32x4.convert_i32x4_s(x0), rowMultiplier(s0, as, MODE_DEQUANT, ep));
  let y1 = f32x4.mul(f32x4.convert_i32x4_s(x1), rowMultiplier(s1, as, MODE_DEQUANT, ep));
  if (bias != 0) {
    y0 = f32x4.add(y0, v128.load(bias));
    y1 = f32x4.add(y1, v128.load(bias, 16));
  }
  v128.store(d, y0);
  v128.store(d, y1, 16);
}

/**
 * out = saturate(roundHalfEven(f32(acc) * multiplier) + outZero): 8 bytes of one row at `d`.
 * Clamps to [qmin - z, qmax - z] first, then rounds by adding 1.5 * 2^23 (the f32 add rounds to
 * even and leaves the integer in the low mantissa bits): onnxruntime's MlasRequantizeOutput,
 * operand order included, so a NaN clamps to qmin as there. pmax/pmin are single maxps/minps,
 * where max/min cost V8 a NaN-propagating sequence.
 */
@inline function requantRow(x0: v128, x1: v128, s0: v128, s1: v128, as: usize, signed: bool, d: usize, ep: usize): void {
  const lo = v128.load(ep, EPI_LO), hi = v128.load(ep, EPI_HI), magic = v128.load(ep, EPI_MAGIC);
  const zero = v128.load(ep, EPI_ZERO);
  let y0 = f32x4.mul(f32x4.convert_i32x4_s(x0), rowMultiplier(s0, as, MODE_REQUANT, ep));
  let y1 = f32x4.mul(f32x4.convert_i32x4_s(x1), rowMultiplier(s1, as, MODE_REQUANT, ep));
  y0 = i32x4.add(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, y0)), magic), zero);
  y1 = i32x4.add(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, y1)), magic), zero);
  const w = i16x8.narrow_i32x4_s(y0, y1);
  v128.store64_lane(d, signed ? i8x16.narrow_i16x8_s(w, w) : i8x16.narrow_i16x8_u(w, w), 0);
}

@inline function storeRow(mode: i32, x0: v128, x1: v128, s0: v128, s1: v128, as: usize, bias: usize, signed: bool, d: usize, ep: usize): void {
  if (mode == MODE_I32) {
    v128.store(d, x0);
    v128.store(d, x1, 16);
  } else if (mode == MODE_DEQUANT) {
    dequantRow(x0, x1, s0, s1, as, bias, d, ep);
  } else {
    requantRow(x0, x1, s0, s1, as, signed, d, ep);
  }
}

// ---- micro-kernel -------------------------------------------------------------------------

@inline function dotAdd(acc: v128, a: v128, b: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(a, b));
}

/**
 * The MR x NR tile of A panel `pa` times B strip `pb` over kp pairs, written through the epilogue
 * `mode` as rows `ds` bytes apart from `d`. Column scales (or requant multipliers) for this
 * tile's 8 columns are at `cs`, bias at `bias` (0: none), this tile's first row A scale at `as`
 * (0: A per tensor, already folded into cs), signed output flag and constants `ep` for requant.
 *
 * The k loop is unrolled by two pairs with a conditional exit between the halves: without the
 * exit, Binaryen merges both halves into one expression per accumulator and TurboFan then loads
 * both halves' operands up front, which no longer fits V8's 15 allocatable XMM registers (the
 * accumulators spill: 65 GOP/s). Split this way each half holds 8 accumulators + 2 B vectors +
 * 4 A splats + 1 temporary = 15 (~90 GOP/s from L1; 83 not unrolled).
 */
function kernel4x8(
  pa: usize, pb: usize, kp: i32, mode: i32, d: usize, ds: usize,
  cs: usize, bias: usize, as: usize, signed: bool, ep: usize,
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
  let s0 = c00, s1 = c00;
  if (mode != MODE_I32) {
    s0 = v128.load(cs);
    s1 = v128.load(cs, 16);
  }
  const step: usize = as != 0 ? 4 : 0;
  storeRow(mode, c00, c01, s0, s1, as, bias, signed, d, ep);
  storeRow(mode, c10, c11, s0, s1, as + step, bias, signed, d + ds, ep);
  storeRow(mode, c20, c21, s0, s1, as + 2 * step, bias, signed, d + 2 * ds, ep);
  storeRow(mode, c30, c31, s0, s1, as + 3 * step, bias, signed, d + 3 * ds, ep);
}

// ---- driver -------------------------------------------------------------------------------

/** Column parameters over n padded to NR: [0, npad) scale or multiplier, [npad, 2 npad) bias. */
function prepareColumns(
  mode: i32, n: i32, npad: i32, aScale: usize, aScalePerRow: bool, bScale: usize, bScalePerCol: bool,
  bias: usize, outScale: f32, dst: usize,
): void {
  const a0 = load<f32>(aScale);
  const b0 = load<f32>(bScale);
  for (let j = 0; j < npad; j++) {
    let s: f32 = 0, bj: f32 = 0;
    if (j < n) {
      const bs = bScalePerCol ? load<f32>(bScale + (<usize>j << 2)) : b0;
      // The product before the division, each rounded to f32: onnxruntime's order.
      s = aScalePerRow ? bs : (mode == MODE_DEQUANT ? a0 * bs : a0 * bs / outScale);
      if (bias != 0) bj = load<f32>(bias + (<usize>j << 2));
    }
    store<f32>(dst + (<usize>j << 2), s);
    store<f32>(dst + (<usize>(npad + j) << 2), bj);
  }
}

function prepareRequant(outScale: f32, outZero: i32, outSigned: bool, ep: usize): void {
  const qmin = outSigned ? -128 : 0;
  const qmax = outSigned ? 127 : 255;
  v128.store(ep, f32x4.splat(<f32>(qmin - outZero)), EPI_LO);
  v128.store(ep, f32x4.splat(<f32>(qmax - outZero)), EPI_HI);
  v128.store(ep, f32x4.splat(12582912.0), EPI_MAGIC); // 1.5 * 2^23
  v128.store(ep, i32x4.splat(outZero - 0x4b400000), EPI_ZERO);
  v128.store(ep, f32x4.splat(outScale), EPI_OUT_SCALE);
}

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

function gemmDriver(
  mode: i32, m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  aScale: usize, aScalePerRow: bool, bScale: usize, bScalePerCol: bool, bias: usize,
  outScale: f32, outZero: i32, outSigned: bool, out: usize, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (k < 0) k = 0;
  const kp = (k + 1) >> 1;
  const nc = slabColumns(n, kp);
  const mc = blockRows(m, kp);
  const npad = roundUpTo(n, NR);
  const packB = scratch;
  const packA = packB + <usize>(kp * 4 * nc);
  const colParams = packA + <usize>(kp * 4 * mc);
  const ep = colParams + <usize>(npad * 8);
  const tile = ep + <usize>EPI_BYTES;
  if (mode != MODE_I32) {
    prepareColumns(mode, n, npad, aScale, aScalePerRow, bScale, bScalePerCol, bias, outScale, colParams);
    if (mode == MODE_REQUANT) prepareRequant(outScale, outZero, outSigned, ep);
  }
  const outBytes = mode == MODE_REQUANT ? 1 : 4;
  const rowBytes = <usize>(n * outBytes);
  const biasParams = mode == MODE_DEQUANT && bias != 0 ? colParams + <usize>(npad * 4) : 0;
  const stripBytes = kp * NR * 4;
  const panelBytes = kp * MR * 4;
  for (let j0 = 0; j0 < n; j0 += nc) {
    const nb = min(nc, n - j0);
    for (let s = 0; s < nb; s += NR) {
      packBStrip(b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, j0 + s, min(NR, nb - s), k, kp,
        packB + <usize>(s / NR * stripBytes));
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
        const cs = colParams + (<usize>j << 2);
        const bp = biasParams != 0 ? biasParams + (<usize>j << 2) : 0;
        for (let r = 0; r < mb; r += MR) {
          const pa = packA + <usize>(r / MR * panelBytes);
          const rows = min(MR, mb - r);
          const i = i0 + r;
          const as = mode != MODE_I32 && aScalePerRow ? aScale + (<usize>i << 2) : 0;
          const d = out + <usize>i * rowBytes + <usize>(j * outBytes);
          if (rows == MR && cols == NR) {
            kernel4x8(pa, pb, kp, mode, d, rowBytes, cs, bp, as, outSigned, ep);
          } else if (as != 0 && rows < MR) {
            // Edge rows with per-row A scales: only valid rows' scales may be read.
            kernel4x8(pa, pb, kp, MODE_I32, tile, NR * 4, cs, bp, 0, outSigned, ep);
            edgeRows(mode, tile, rows, cs, bp, as, outSigned, ep);
          } else {
            kernel4x8(pa, pb, kp, mode, tile, NR * 4, cs, bp, as, outSigned, ep);
          }
          if (rows < MR || cols < NR) {
            copyEdge(tile, d, rowBytes, rows, cols, outBytes);
          }
        }
      }
    }
  }
}

/** Applies the epilogue in place to `rows` rows of a tile buffer holding int32 (A scale per row). */
function edgeRows(mode: i32, tile: usize, rows: i32, cs: usize, bias: usize, as: usize, signed: bool, ep: usize): void {
  const s0 = v128.load(cs), s1 = v128.load(cs, 16);
  for (let r = 0; r < rows; r++) {
    const t = tile + <usize>(r * NR * 4);
    storeRow(mode, v128.load(t), v128.load(t, 16), s0, s1, as + (<usize>r << 2), bias, signed, t, ep);
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
  // A few rows of A: B is read in place, unpacked (gemm_i8_thin.ts).
  if (gemmI8Thin(m, n, max(k, 0), a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
    b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, c, scratch)) return;
  gemmDriver(MODE_I32, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
    b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, 0, false, 0, false, 0, 1, 0, false, c, scratch);
}

/** out[i,j] = f32(C[i,j]) * (aScale[i or 0] * bScale[j or 0]) (+ bias[j] when bias != 0), float32 [m, n]. */
export function gemmI8DequantF32(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  aScale: usize, aScalePerRow: bool, bScale: usize, bScalePerCol: bool, bias: usize,
  out: usize, scratch: usize,
): void {
  gemmDriver(MODE_DEQUANT, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
    b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, aScale, aScalePerRow, bScale, bScalePerCol, bias,
    1, 0, false, out, scratch);
}

/**
 * out[i,j] = saturate(roundHalfEven(f32(C[i,j]) * ((aScale * bScale) / outScale)) + outZero), int8 or
 * uint8 [m, n]: ONNX QLinearMatMul, with the multiplier rounded to f32 as onnxruntime computes it.
 */
export function gemmI8Requant(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  aScale: usize, aScalePerRow: bool, bScale: usize, bScalePerCol: bool,
  outScale: f32, outZero: i32, outSigned: bool, out: usize, scratch: usize,
): void {
  gemmDriver(MODE_REQUANT, m, n, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow,
    b, bRowStride, bColStride, bSigned, bZero, bZeroPerCol, aScale, aScalePerRow, bScale, bScalePerCol, 0,
    outScale, outZero, outSigned, out, scratch);
}
