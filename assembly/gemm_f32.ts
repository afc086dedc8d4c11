// Float32 GEMM, C = A x B, in the BLIS layout: pack a KC x NC panel of B and an MC x KC block of A
// into scratch in micro-panel order, then run a register-tiled SIMD micro-kernel over MR x NR tiles.
// Packing reads any strides (transposed, broadcast, padded views), so the kernel only ever sees
// contiguous memory.
//
// Tile shapes, chosen by measurement on V8 x64 (15 allocatable XMM registers, no load folding
// into SIMD arithmetic; Zen 4 at ~3.65 GHz, 128-bit peak 58 GFLOP/s):
// - relaxed build: 6x8, 12 accumulators + 2 B vectors + 1 broadcast A = 15 registers, one
//   vfmadd231ps per product. ~53 GFLOP/s; 5x8 and 4x8 were slower (51, 48).
// - SIMD128 build: mul + add needs a temporary, so 6x8 spills an accumulator (27 GFLOP/s); 5x8
//   with A packed pre-splatted (each value stored 4 times, so every A operand is one plain
//   v128.load with a folded offset instead of lea + vbroadcastss) reaches ~43; 5x8 with
//   load32_splat ~41, 4x8 ~42, 3x12 ~40. Unrolling the k loop makes binaryen nest the two steps'
//   expressions, V8 then hoists the loads and spills: every unrolled variant was slower.
//   The kernels are fragile in the same way: folding the accumulate branch into one shared store
//   sequence (C loaded into the accumulators, then stored) made V8 hoist all A loads and spill,
//   halving both builds; keep the two store branches separate.
// KC = 256 keeps a B micro-panel (8 KiB) in L1 while A micro-panels stream from L2; MC and KC
// changed results by under 3% between 128 and 512, as the kernel is compute bound; NC of 256 to
// 1024 was 2-10% slower than 4096 at n = 512..2048.
// Thin products (a few rows of A or columns of B) skip packing and run in gemm_thin.ts: they are
// memory bound, and a 5x8 / 6x8 tile would be mostly idle (1x1024x1024: 535 -> 148 us).
import { at, imin, madd } from './simd';

import { gemmThinF32, gemmThinScratchBytes } from './gemm_thin';

/** Columns of a packed B micro-panel: gemmF32Block reads B as ceil(nc / 8) panels of kc x 8 floats. */
export const GEMM_F32_NR: i32 = 8;
/** Largest k block (rows of a packed B panel) gemmF32 uses; callers packing B themselves follow it. */
export const GEMM_F32_KC: i32 = 256;
const NR: i32 = GEMM_F32_NR;
const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 5;
/** Floats stored per A value in the packed A block: the SIMD128 kernel reads them pre-splatted. */
const A_SPLAT: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 4;
const KC: i32 = GEMM_F32_KC;
const MC: i32 = 120; // a multiple of both MRs
const NC: i32 = 4096;

@inline function roundUp(x: i32, r: i32): i32 {
  return (x + r - 1) / r * r;
}

/** Splits `total` into equal blocks of at most `max`, so no block is a thin remainder. */
@inline function blockSize(total: i32, max: i32, unit: i32): i32 {
  const blocks = (total + max - 1) / max;
  return imin(max, roundUp((total + blocks - 1) / blocks, unit));
}

/** 6x8 tile, relaxed build: A packed one float per value, broadcast on load. */
function kernel6x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const apEnd = ap + (<usize>kc * 24);
  while (ap < apEnd) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap); c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4); c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8); c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12); c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16); c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.load32_splat(ap, 20); c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    ap += 24;
    bp += 32;
  }
  const row = <usize>ldc << 2;
  if (accumulate) {
    v128.store(c, f32x4.add(v128.load(c), c00)); v128.store(c, f32x4.add(v128.load(c, 16), c01), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c10)); v128.store(c, f32x4.add(v128.load(c, 16), c11), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c20)); v128.store(c, f32x4.add(v128.load(c, 16), c21), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c30)); v128.store(c, f32x4.add(v128.load(c, 16), c31), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c40)); v128.store(c, f32x4.add(v128.load(c, 16), c41), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c50)); v128.store(c, f32x4.add(v128.load(c, 16), c51), 16); c += row;
  } else {
    v128.store(c, c00); v128.store(c, c01, 16); c += row;
    v128.store(c, c10); v128.store(c, c11, 16); c += row;
    v128.store(c, c20); v128.store(c, c21, 16); c += row;
    v128.store(c, c30); v128.store(c, c31, 16); c += row;
    v128.store(c, c40); v128.store(c, c41, 16); c += row;
    v128.store(c, c50); v128.store(c, c51, 16); c += row;
  }
}

/** 5x8 tile, SIMD128 build: A packed pre-splatted, 16 bytes per value. */
function kernel5x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00;
  const apEnd = ap + (<usize>kc * 80);
  while (ap < apEnd) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load(ap); c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load(ap, 16); c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load(ap, 32); c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load(ap, 48); c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load(ap, 64); c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    ap += 80;
    bp += 32;
  }
  const row = <usize>ldc << 2;
  if (accumulate) {
    v128.store(c, f32x4.add(v128.load(c), c00)); v128.store(c, f32x4.add(v128.load(c, 16), c01), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c10)); v128.store(c, f32x4.add(v128.load(c, 16), c11), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c20)); v128.store(c, f32x4.add(v128.load(c, 16), c21), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c30)); v128.store(c, f32x4.add(v128.load(c, 16), c31), 16); c += row;
    v128.store(c, f32x4.add(v128.load(c), c40)); v128.store(c, f32x4.add(v128.load(c, 16), c41), 16); c += row;
  } else {
    v128.store(c, c00); v128.store(c, c01, 16); c += row;
    v128.store(c, c10); v128.store(c, c11, 16); c += row;
    v128.store(c, c20); v128.store(c, c21, 16); c += row;
    v128.store(c, c30); v128.store(c, c31, 16); c += row;
    v128.store(c, c40); v128.store(c, c41, 16); c += row;
  }
}

@inline function microKernel(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, accumulate: bool): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    kernel6x8(kc, ap, bp, c, ldc, accumulate);
  } else {
    kernel5x8(kc, ap, bp, c, ldc, accumulate);
  }
}

/**
 * Packs B(p, j), p < kc, j < nc (at src + 4*(p*rs + j*cs)) into NR-column micro-panels, each
 * kc rows of NR floats; columns past nc are zero.
 */
function packB(kc: i32, nc: i32, src: usize, rs: i32, cs: i32, dst: usize): void {
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const nr = imin(NR, nc - j0);
    const col = at(src, j0 * cs);
    if (nr == NR && cs == 1) {
      for (let p = 0; p < kc; p++) {
        const s = at(col, p * rs);
        v128.store(dst, v128.load(s));
        v128.store(dst, v128.load(s, 16), 16);
        dst += NR << 2;
      }
    } else if (nr == NR && rs == 1) {
      // Columns contiguous in p (B transposed): 4x4 transposes, 4 rows of the panel at a time.
      const cs4 = <usize>cs << 2;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const s = col + (<usize>p << 2);
        for (let h = 0; h < 2; h++) {
          const s0 = s + <usize>(4 * h) * cs4;
          const r0 = v128.load(s0), r1 = v128.load(s0 + cs4), r2 = v128.load(s0 + 2 * cs4), r3 = v128.load(s0 + 3 * cs4);
          const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
          const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
          const d = dst + (<usize>h << 4);
          v128.store(d, i64x2.shuffle(t0, t2, 0, 2));
          v128.store(d, i64x2.shuffle(t0, t2, 1, 3), 32);
          v128.store(d, i64x2.shuffle(t1, t3, 0, 2), 64);
          v128.store(d, i64x2.shuffle(t1, t3, 1, 3), 96);
        }
        dst += NR << 4;
      }
      for (; p < kc; p++) {
        const s = col + (<usize>p << 2);
        for (let jj = 0; jj < NR; jj++) store<f32>(dst + (<usize>jj << 2), load<f32>(s + <usize>jj * cs4));
        dst += NR << 2;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        const s = at(col, p * rs);
        let jj = 0;
        for (; jj < nr; jj++) store<f32>(dst + (<usize>jj << 2), load<f32>(at(s, jj * cs)));
        for (; jj < NR; jj++) store<f32>(dst + (<usize>jj << 2), 0);
        dst += NR << 2;
      }
    }
  }
}

/**
 * Packs A(i, p), i < mc, p < kc (at src + 4*(i*rs + p*cs)) into MR-row micro-panels, each kc
 * steps of MR values (A_SPLAT floats per value); rows past mc are zero.
 */
function packA(mc: i32, kc: i32, src: usize, rs: i32, cs: i32, dst: usize): void {
  const step = <usize>(MR * A_SPLAT) << 2;
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const mr = imin(MR, mc - i0);
    if (rs == 1 && mr == MR) {
      // Columns contiguous in i (A transposed): MR consecutive floats per step.
      let s = at(src, i0);
      const cs4 = <usize>cs << 2;
      for (let p = 0; p < kc; p++) {
        for (let ii = 0; ii < MR; ii++) {
          if (A_SPLAT == 4) v128.store(dst + (<usize>ii << 4), v128.load32_splat(s + (<usize>ii << 2)));
          else store<f32>(dst + (<usize>ii << 2), load<f32>(s + (<usize>ii << 2)));
        }
        s += cs4;
        dst += step;
      }
      continue;
    }
    for (let ii = 0; ii < MR; ii++) {
      const row = at(src, (i0 + ii) * rs);
      let d = dst + (<usize>(ii * A_SPLAT) << 2);
      if (ii >= mr) {
        for (let p = 0; p < kc; p++) {
          if (A_SPLAT == 4) v128.store(d, f32x4.splat(0));
          else store<f32>(d, 0);
          d += step;
        }
      } else if (cs == 1) {
        let s = row;
        let p = 0;
        if (A_SPLAT == 4) {
          for (; p + 4 <= kc; p += 4) {
            const v = v128.load(s);
            v128.store(d, i32x4.shuffle(v, v, 0, 0, 0, 0));
            v128.store(d + step, i32x4.shuffle(v, v, 1, 1, 1, 1));
            v128.store(d + 2 * step, i32x4.shuffle(v, v, 2, 2, 2, 2));
            v128.store(d + 3 * step, i32x4.shuffle(v, v, 3, 3, 3, 3));
            s += 16;
            d += 4 * step;
          }
        }
        for (; p < kc; p++) {
          if (A_SPLAT == 4) v128.store(d, v128.load32_splat(s));
          else store<f32>(d, load<f32>(s));
          s += 4;
          d += step;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          const s = at(row, p * cs);
          if (A_SPLAT == 4) v128.store(d, v128.load32_splat(s));
          else store<f32>(d, load<f32>(s));
          d += step;
        }
      }
    }
    dst += <usize>(MR * kc * A_SPLAT) << 2;
  }
}

/** Copies (or adds) the valid mr x nr corner of an MR x NR tile computed into `tile`. */
function mergeTile(tile: usize, c: usize, mr: i32, nr: i32, ldc: i32, accumulate: bool): void {
  for (let i = 0; i < mr; i++) {
    const t = tile + (<usize>(i * NR) << 2);
    const cr = at(c, i * ldc);
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      store<f32>(cr + o, accumulate ? load<f32>(cr + o) + load<f32>(t + o) : load<f32>(t + o));
    }
  }
}

/** All MR x NR tiles of an mc x nc block of C from packed A (pa) and packed B (pb). */
function macroKernel(mc: i32, nc: i32, kc: i32, pa: usize, pb: usize, panelBytes: usize, c: usize, ldc: i32, accumulate: bool, tile: usize): void {
  let bp = pb;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = imin(NR, nc - jr);
    for (let ir = 0; ir < mc; ir += MR) {
      const mr = imin(MR, mc - ir);
      const ap = pa + (<usize>(ir * kc * A_SPLAT) << 2);
      const cp = at(c, ir * ldc + jr);
      if (mr == MR && nr == NR) {
        microKernel(kc, ap, bp, cp, ldc, accumulate);
      } else {
        microKernel(kc, ap, bp, tile, NR, false);
        mergeTile(tile, cp, mr, nr, ldc, accumulate);
      }
    }
    bp += panelBytes;
  }
}

/** Bytes of scratch gemmF32Block needs for m rows of A and k blocks of up to kc. */
export function gemmF32BlockScratchBytes(m: i32, kc: i32): i32 {
  if (m <= 0 || kc <= 0) return 0;
  return (MR * NR + roundUp(blockSize(m, MC, MR), MR) * kc * A_SPLAT) << 2;
}

/**
 * C[i, j] (+)= sum_p A[i, p] * B[p, j] for i < m, j < nc, p < kc, with B already packed as
 * GEMM_F32_NR-column micro-panels: panel t, at pb + t * panelBytes, holds columns 8t..8t+7 as kc
 * rows of 8 floats (columns past nc zero); panelBytes >= 32 * kc. A(i, p) at
 * a + 4*(i*aRowStride + p*aColStride); C(i, j) at c + 4*(i*ldc + j).
 * accumulate: add to C instead of overwriting it. scratch: gemmF32BlockScratchBytes(m, kc) bytes.
 * This is gemmF32's inner step, for callers (conv2dF32) that pack B straight from another layout.
 */
export function gemmF32Block(m: i32, nc: i32, kc: i32, a: usize, aRowStride: i32, aColStride: i32, pb: usize, panelBytes: i32, c: usize, ldc: i32, accumulate: bool, scratch: usize): void {
  if (m <= 0 || nc <= 0 || kc <= 0) return;
  const mcMax = roundUp(blockSize(m, MC, MR), MR);
  const tile = scratch;
  const pa = tile + (<usize>(MR * NR) << 2);
  for (let ic = 0; ic < m; ic += mcMax) {
    const mc = imin(mcMax, m - ic);
    packA(mc, kc, at(a, ic * aRowStride), aRowStride, aColStride, pa);
    macroKernel(mc, nc, kc, pa, pb, <usize>panelBytes, at(c, ic * ldc), ldc, accumulate, tile);
  }
}

/** Bytes of scratch gemmF32 needs for these sizes (16-byte aligned start assumed). */
export function gemmF32ScratchBytes(m: i32, n: i32, k: i32): i32 {
  if (m <= 0 || n <= 0 || k <= 0) return 0;
  const kc = blockSize(k, KC, 1);
  const nc = roundUp(blockSize(n, NC, NR), NR);
  const tiled = (kc * nc << 2) + gemmF32BlockScratchBytes(m, kc);
  const thin = gemmThinScratchBytes(m, n, k);
  return thin > tiled ? thin : tiled;
}

/**
 * C[i, j] = sum_p A[i, p] * B[p, j]; A(i,p) at a + 4*(i*aRowStride + p*aColStride), B(p,j) at
 * b + 4*(p*bRowStride + j*bColStride) (strides may be anything, including 0 for broadcast, or
 * transposed); C row-major contiguous [m, n] at c, overwritten.
 */
export function gemmF32(m: i32, n: i32, k: i32, a: usize, aRowStride: i32, aColStride: i32, b: usize, bRowStride: i32, bColStride: i32, c: usize, scratch: usize): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    memory.fill(c, 0, <usize>m * <usize>n << 2);
    return;
  }
  // Thin products are memory bound and would leave most of each tile idle: no packing.
  if (gemmThinF32(m, n, k, a, aRowStride, aColStride, b, bRowStride, bColStride, c, scratch)) return;
  const kcMax = blockSize(k, KC, 1);
  const ncMax = roundUp(blockSize(n, NC, NR), NR);
  const pb = scratch;
  const blockScratch = pb + (<usize>(kcMax * ncMax) << 2);
  for (let jc = 0; jc < n; jc += ncMax) {
    const nc = imin(ncMax, n - jc);
    for (let pc = 0; pc < k; pc += kcMax) {
      const kc = imin(kcMax, k - pc);
      packB(kc, nc, at(b, pc * bRowStride + jc * bColStride), bRowStride, bColStride, pb);
      gemmF32Block(m, nc, kc, at(a, pc * aColStride), aRowStride, aColStride, pb, kc * NR << 2, at(c, jc), n, pc > 0, blockScratch);
    }
  }
}
