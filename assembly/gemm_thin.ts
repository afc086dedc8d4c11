// Thin float32 products: few rows of A (a row vector times a matrix, an LSTM or decoder step) or
// few columns of B (weights times a few input patches: a convolution with a small output). The
// packed 6x8 / 5x8 tiles of gemm_f32.ts would leave most of their lanes idle there and repack the
// large operand on every call; here the large operand is read in place, once, in one of two forms:
//
// - rows form, B row-major: C rows = sum_p A[i, p] * B row p, SIMD along B's rows, up to 4 rows
//   of A at a time so each B vector loaded serves them all;
// - dot form, C[i, j] = sum_p A[i, p] * Bt[j, p] with rows of A and of Bt (B's columns)
//   contiguous in p: SIMD along p. Register tiles of R x C outputs keep one vector of partial sums
//   per output and reduce four of them at the end with a 4x4 transpose-add. Columns are the outer
//   loop, so the small operand's rows stay in L1 while the large one streams past once.
//
// Only the small operand is ever copied (to contiguous rows), and only when its layout needs it.
// Measured against the packed path (Zen 4, V8, relaxed / SIMD128 builds): [1,128] x [128,512]
// with B transposed 21.8 -> 4.6 / 22.4 -> 5.6 us; [256,256] x [256,4] 45 -> 13 / 48 -> 17 us;
// [4,256] x [256,512] row-major 56 -> 22 / 56 -> 30 us. Up to 8 rows or columns it stays ahead
// ([8,256] x [256,512]^T 72 -> 51 us, [256,256] x [256,8] 44 -> 26 us); at 16 the two are even.
import { at, madd } from './simd';

/** Lane j of the result is the sum of the lanes of vj. */
@inline function hsum4(v0: v128, v1: v128, v2: v128, v3: v128): v128 {
  const t0 = f32x4.add(i32x4.shuffle(v0, v1, 0, 4, 1, 5), i32x4.shuffle(v0, v1, 2, 6, 3, 7));
  const t1 = f32x4.add(i32x4.shuffle(v2, v3, 0, 4, 1, 5), i32x4.shuffle(v2, v3, 2, 6, 3, 7));
  return f32x4.add(i64x2.shuffle(t0, t1, 0, 2), i64x2.shuffle(t0, t1, 1, 3));
}

/** Stores the first `count` lanes of v (count 1..4) at dst. */
@inline function storeLanes(dst: usize, v: v128, count: i32): void {
  if (count == 4) {
    v128.store(dst, v);
  } else {
    store<f32>(dst, f32x4.extract_lane(v, 0));
    if (count > 1) store<f32>(dst, f32x4.extract_lane(v, 1), 4);
    if (count > 2) store<f32>(dst, f32x4.extract_lane(v, 2), 8);
  }
}

/**
 * One R x C tile (R, C constants after inlining; 1x1 .. 2x4, 3x3, 4x2, 4x1): C[r, c] = A row r .
 * Bt row c over p < k. The loop holds whichever side is shorter in registers and streams the
 * other: 3x3 needs 9 accumulators + 3 A vectors + 1 B vector (+ 1 temporary for the SIMD128
 * mul + add) of V8's 15 XMM registers. 3x4 spilled (a [256,256] x [256,8] product 26 -> 42 us);
 * 3x3 instead of 2x3 for three columns: 12.3 -> 10.7 us for a 129 -> 128 channel k3 conv over 3
 * pixels.
 */
@inline function dotTile(R: i32, C: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void {
  const a0 = a, a1 = at(a, lda), a2 = at(a, 2 * lda), a3 = at(a, 3 * lda);
  const b0 = b, b1 = at(b, ldb), b2 = at(b, 2 * ldb), b3 = at(b, 3 * ldb);
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  let s8 = s0, s9 = s0, s10 = s0;
  const k4 = <usize>(k & ~3) << 2;
  for (let o: usize = 0; o < k4; o += 16) {
    if (R <= C) {
      // Rows of A held: accumulator 4r + c.
      const x0 = v128.load(a0 + o);
      const x1 = R > 1 ? v128.load(a1 + o) : x0;
      const x2 = R > 2 ? v128.load(a2 + o) : x0;
      let y = v128.load(b0 + o);
      s0 = madd(x0, y, s0);
      if (R > 1) s4 = madd(x1, y, s4);
      if (R > 2) s8 = madd(x2, y, s8);
      if (C > 1) {
        y = v128.load(b1 + o);
        s1 = madd(x0, y, s1);
        if (R > 1) s5 = madd(x1, y, s5);
        if (R > 2) s9 = madd(x2, y, s9);
      }
      if (C > 2) {
        y = v128.load(b2 + o);
        s2 = madd(x0, y, s2);
        if (R > 1) s6 = madd(x1, y, s6);
        if (R > 2) s10 = madd(x2, y, s10);
      }
      if (C > 3) {
        y = v128.load(b3 + o);
        s3 = madd(x0, y, s3);
        if (R > 1) s7 = madd(x1, y, s7);
      }
    } else {
      // Rows of Bt held (C <= 2 < R): accumulator c * 4 + r.
      const y0 = v128.load(b0 + o);
      const y1 = C > 1 ? v128.load(b1 + o) : y0;
      let x = v128.load(a0 + o);
      s0 = madd(x, y0, s0);
      if (C > 1) s4 = madd(x, y1, s4);
      x = v128.load(a1 + o);
      s1 = madd(x, y0, s1);
      if (C > 1) s5 = madd(x, y1, s5);
      if (R > 2) {
        x = v128.load(a2 + o);
        s2 = madd(x, y0, s2);
        if (C > 1) s6 = madd(x, y1, s6);
      }
      if (R > 3) {
        x = v128.load(a3 + o);
        s3 = madd(x, y0, s3);
        if (C > 1) s7 = madd(x, y1, s7);
      }
    }
  }
  if (R <= C) {
    // Row r of the tile is hsum4 of accumulators 4r .. 4r + 3 (column c in lane c).
    storeLanes(c, hsum4(s0, s1, s2, s3), C);
    if (R > 1) storeLanes(at(c, ldc), hsum4(s4, s5, s6, s7), C);
    if (R > 2) storeLanes(at(c, 2 * ldc), hsum4(s8, s9, s10, s10), C);
  } else {
    // Column c of the tile is hsum4 of accumulators 4c .. 4c + 3 (row r in lane r).
    const col0 = hsum4(s0, s1, s2, s3);
    store<f32>(c, f32x4.extract_lane(col0, 0));
    store<f32>(at(c, ldc), f32x4.extract_lane(col0, 1));
    if (R > 2) store<f32>(at(c, 2 * ldc), f32x4.extract_lane(col0, 2));
    if (R > 3) store<f32>(at(c, 3 * ldc), f32x4.extract_lane(col0, 3));
    if (C > 1) {
      const col1 = hsum4(s4, s5, s6, s7);
      store<f32>(c, f32x4.extract_lane(col1, 0), 4);
      store<f32>(at(c, ldc), f32x4.extract_lane(col1, 1), 4);
      if (R > 2) store<f32>(at(c, 2 * ldc), f32x4.extract_lane(col1, 2), 4);
      if (R > 3) store<f32>(at(c, 3 * ldc), f32x4.extract_lane(col1, 3), 4);
    }
  }
  if ((k & 3) != 0) {
    // The last k % 4 products of each output, added in scalar.
    for (let r = 0; r < R; r++) {
      const ar = at(a, r * lda);
      for (let cc = 0; cc < C; cc++) {
        const bc = at(b, cc * ldb);
        let sum: f32 = 0;
        for (let p = k & ~3; p < k; p++) sum += load<f32>(at(ar, p)) * load<f32>(at(bc, p));
        const dst = at(c, r * ldc + cc);
        store<f32>(dst, load<f32>(dst) + sum);
      }
    }
  }
}

function tile2x4(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(2, 4, k, a, lda, b, ldb, c, ldc); }
function tile1x4(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(1, 4, k, a, lda, b, ldb, c, ldc); }
function tile2x3(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(2, 3, k, a, lda, b, ldb, c, ldc); }
function tile3x3(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(3, 3, k, a, lda, b, ldb, c, ldc); }
function tile1x3(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(1, 3, k, a, lda, b, ldb, c, ldc); }
function tile4x2(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(4, 2, k, a, lda, b, ldb, c, ldc); }
function tile1x2(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(1, 2, k, a, lda, b, ldb, c, ldc); }
function tile4x1(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(4, 1, k, a, lda, b, ldb, c, ldc); }
function tile1x1(k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void { dotTile(1, 1, k, a, lda, b, ldb, c, ldc); }

/**
 * C[i, j] = sum_p A[i, p] * Bt[j, p] for i < m, j < n: A(i, p) at a + 4*(i*lda + p), Bt(j, p) at
 * b + 4*(j*ldb + p), C(i, j) at c + 4*(i*ldc + j), overwritten.
 */
export function gemmDotF32(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32): void {
  if (m <= 0 || n <= 0) return;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const bj = at(b, j * ldb);
    let i = 0;
    for (; i + 2 <= m; i += 2) tile2x4(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
    if (i < m) tile1x4(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
  }
  const rest = n - j;
  if (rest == 0) return;
  const bj = at(b, j * ldb);
  let i = 0;
  if (rest == 3) {
    for (; i + 3 <= m; i += 3) tile3x3(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
    for (; i + 2 <= m; i += 2) tile2x3(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
    if (i < m) tile1x3(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
  } else if (rest == 2) {
    for (; i + 4 <= m; i += 4) tile4x2(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
    for (; i < m; i++) tile1x2(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
  } else {
    for (; i + 4 <= m; i += 4) tile4x1(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
    for (; i < m; i++) tile1x1(k, at(a, i * lda), lda, bj, ldb, at(c, i * ldc + j), ldc);
  }
}


/**
 * R rows of A (R = 1..4, a constant after inlining) times B, B rows contiguous (brs floats apart):
 * C(r, j) at c + 4*(r*ldc + j). Tiles of R x 16 (R <= 2) or R x 8 outputs: 8 accumulators at most,
 * holding the R broadcast A values (R <= 2) or the two B vectors (R > 2) while the other side streams.
 */
@inline function rowsTimesMatrix(R: i32, n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, brs: i32, c: usize, ldc: i32): void {
  const rowBytes = <usize>brs << 2;
  const aStep = <usize>acs << 2;
  const a1 = at(a, ars), a2 = at(a, 2 * ars), a3 = at(a, 3 * ars);
  const c1 = at(c, ldc), c2 = at(c, 2 * ldc), c3 = at(c, 3 * ldc);
  let j = 0;
  if (R <= 2) {
    for (; j + 16 <= n; j += 16) {
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
      let bp = b + (<usize>j << 2);
      let ao: usize = 0;
      for (let p = 0; p < k; p++) {
        const x0 = v128.load32_splat(a + ao);
        const x1 = R > 1 ? v128.load32_splat(a1 + ao) : x0;
        let y = v128.load(bp);
        s0 = madd(x0, y, s0);
        if (R > 1) s4 = madd(x1, y, s4);
        y = v128.load(bp, 16);
        s1 = madd(x0, y, s1);
        if (R > 1) s5 = madd(x1, y, s5);
        y = v128.load(bp, 32);
        s2 = madd(x0, y, s2);
        if (R > 1) s6 = madd(x1, y, s6);
        y = v128.load(bp, 48);
        s3 = madd(x0, y, s3);
        if (R > 1) s7 = madd(x1, y, s7);
        bp += rowBytes;
        ao += aStep;
      }
      const o = <usize>j << 2;
      v128.store(c + o, s0); v128.store(c + o, s1, 16); v128.store(c + o, s2, 32); v128.store(c + o, s3, 48);
      if (R > 1) {
        v128.store(c1 + o, s4); v128.store(c1 + o, s5, 16); v128.store(c1 + o, s6, 32); v128.store(c1 + o, s7, 48);
      }
    }
  } else {
    for (; j + 8 <= n; j += 8) {
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
      let bp = b + (<usize>j << 2);
      let ao: usize = 0;
      for (let p = 0; p < k; p++) {
        const y0 = v128.load(bp), y1 = v128.load(bp, 16);
        let x = v128.load32_splat(a + ao);
        s0 = madd(x, y0, s0); s1 = madd(x, y1, s1);
        x = v128.load32_splat(a1 + ao);
        s2 = madd(x, y0, s2); s3 = madd(x, y1, s3);
        x = v128.load32_splat(a2 + ao);
        s4 = madd(x, y0, s4); s5 = madd(x, y1, s5);
        if (R > 3) {
          x = v128.load32_splat(a3 + ao);
          s6 = madd(x, y0, s6); s7 = madd(x, y1, s7);
        }
        bp += rowBytes;
        ao += aStep;
      }
      const o = <usize>j << 2;
      v128.store(c + o, s0); v128.store(c + o, s1, 16);
      v128.store(c1 + o, s2); v128.store(c1 + o, s3, 16);
      v128.store(c2 + o, s4); v128.store(c2 + o, s5, 16);
      if (R > 3) {
        v128.store(c3 + o, s6); v128.store(c3 + o, s7, 16);
      }
    }
  }
  for (; j + 4 <= n; j += 4) {
    let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
    let bp = b + (<usize>j << 2);
    let ao: usize = 0;
    for (let p = 0; p < k; p++) {
      const y = v128.load(bp);
      s0 = madd(v128.load32_splat(a + ao), y, s0);
      if (R > 1) s1 = madd(v128.load32_splat(a1 + ao), y, s1);
      if (R > 2) s2 = madd(v128.load32_splat(a2 + ao), y, s2);
      if (R > 3) s3 = madd(v128.load32_splat(a3 + ao), y, s3);
      bp += rowBytes;
      ao += aStep;
    }
    const o = <usize>j << 2;
    v128.store(c + o, s0);
    if (R > 1) v128.store(c1 + o, s1);
    if (R > 2) v128.store(c2 + o, s2);
    if (R > 3) v128.store(c3 + o, s3);
  }
  for (; j < n; j++) {
    for (let r = 0; r < R; r++) {
      const ar = at(a, r * ars);
      let sum: f32 = 0;
      let bp = b + (<usize>j << 2);
      for (let p = 0; p < k; p++) {
        sum += load<f32>(at(ar, p * acs)) * load<f32>(bp);
        bp += rowBytes;
      }
      store<f32>(at(c, r * ldc + j), sum);
    }
  }
}

function rows1(n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, brs: i32, c: usize, ldc: i32): void { rowsTimesMatrix(1, n, k, a, ars, acs, b, brs, c, ldc); }
function rows2(n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, brs: i32, c: usize, ldc: i32): void { rowsTimesMatrix(2, n, k, a, ars, acs, b, brs, c, ldc); }
function rows3(n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, brs: i32, c: usize, ldc: i32): void { rowsTimesMatrix(3, n, k, a, ars, acs, b, brs, c, ldc); }
function rows4(n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, brs: i32, c: usize, ldc: i32): void { rowsTimesMatrix(4, n, k, a, ars, acs, b, brs, c, ldc); }

/** C rows i < m of A times a B with contiguous rows, four rows at a time. */
function fewRowsTimesMatrix(m: i32, n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, brs: i32, c: usize, ldc: i32): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) rows4(n, k, at(a, i * ars), ars, acs, b, brs, at(c, i * ldc), ldc);
  const rest = m - i;
  a = at(a, i * ars);
  c = at(c, i * ldc);
  if (rest == 1) rows1(n, k, a, ars, acs, b, brs, c, ldc);
  else if (rest == 2) rows2(n, k, a, ars, acs, b, brs, c, ldc);
  else if (rest == 3) rows3(n, k, a, ars, acs, b, brs, c, ldc);
}

/** At most this many rows of A, or columns of B, make a product thin (see the header for why 8). */
const THIN_ROWS: i32 = 8;
const THIN_COLS: i32 = 8;

/** Copies rows r < rows of M(r, p) = src[4*(r*rs + p*cs)], p < k, to dst as contiguous rows of k. */
function copyRows(rows: i32, k: i32, src: usize, rs: i32, cs: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    const s = at(src, r * rs);
    if (cs == 1) {
      memory.copy(dst, s, <usize>k << 2);
      dst += <usize>k << 2;
      continue;
    }
    for (let p = 0; p < k; p++) {
      store<f32>(dst, load<f32>(at(s, p * cs)));
      dst += 4;
    }
  }
}

/** Bytes of scratch gemmThinF32 may need for these sizes. */
export function gemmThinScratchBytes(m: i32, n: i32, k: i32): i32 {
  if (m <= 0 || n <= 0 || k <= 0) return 0;
  if (m <= THIN_ROWS) return (m * k) << 2;
  if (n <= THIN_COLS) return (n * (k > m ? k : m)) << 2;
  return 0;
}

/**
 * C = A x B for thin products (A(i,p) at a + 4*(i*ars + p*acs), B(p,j) at b + 4*(p*brs + j*bcs),
 * C row-major [m, n] at c, overwritten; k >= 1). Returns false, doing nothing, for products that
 * are not thin or whose large operand is laid out for neither form: gemmF32's packed path runs those.
 */
export function gemmThinF32(m: i32, n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, brs: i32, bcs: i32, c: usize, scratch: usize): bool {
  if (m <= THIN_ROWS) {
    if (bcs == 1) {
      fewRowsTimesMatrix(m, n, k, a, ars, acs, b, brs, c, n);
      return true;
    }
    if (brs != 1) return false;
    if (acs != 1) {
      copyRows(m, k, a, ars, acs, scratch);
      a = scratch;
      ars = k;
    }
    gemmDotF32(m, n, k, a, ars, b, bcs, c, n);
    return true;
  }
  if (n > THIN_COLS) return false;
  if (acs == 1) {
    if (brs != 1) {
      copyRows(n, k, b, bcs, brs, scratch);
      b = scratch;
      bcs = k;
    }
    gemmDotF32(m, n, k, a, ars, b, bcs, c, n);
    return true;
  }
  if (ars != 1) return false;
  // A transposed (A^T row-major [k, m]): C^T = B^T A^T in the rows form, into scratch, then transposed.
  fewRowsTimesMatrix(n, m, k, b, bcs, brs, a, acs, scratch, m);
  for (let j = 0; j < n; j++) {
    const src = at(scratch, j * m);
    for (let i = 0; i < m; i++) store<f32>(at(c, i * n + j), load<f32>(at(src, i)));
  }
  return true;
}
