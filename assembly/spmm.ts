// Sparse x dense float32 product: C [m, n] = A [m, k] x B [k, n], A in CSR form (values and
// column indices per stored entry, row pointers per row), B a strided dense matrix. The work is
// one multiply-add per stored entry per column of B, in one of two forms:
//
// - n = 1 (a sparse matrix-vector product, a pruned Linear layer at batch 1): each row is a dot
//   product of its values with the entries of x its columns pick, gathered one by one (WASM has
//   no gather instruction); four partial sums break the add latency chain.
// - n > 1: C row i = sum over row i's entries of value * B row col, SIMD along the row: tiles of
//   up to 32 columns (8 vectors) stay in registers across the whole row of A, so each stored
//   entry costs one splat and one load plus one multiply-add per vector of B's row. B's rows must
//   be contiguous; when they are not (a transposed view: x^T for a Linear layer), B is first
//   copied to the scratch block as row-major [k, n].
//
// Core checks every index before a kernel runs (packages/core/src/ops/sparse.ts), so none is
// checked here. Pointers are byte addresses; strides are in elements and may be negative or zero.
import { at, madd } from './simd';

/** Scratch bytes spmmF32 needs: room for a row-major copy of B unless its rows are already contiguous. */
export function spmmF32ScratchBytes(n: i32, k: i32, bColStride: i32): i32 {
  return n > 1 && bColStride != 1 ? n * k * 4 : 0;
}

/** C[i] = sum over row i of values[p] * x[cols[p] * xs]: the n = 1 product. */
function spmvF32(m: i32, values: usize, cols: usize, rowPtr: usize, x: usize, xs: i32, c: usize): void {
  let start = load<i32>(rowPtr);
  for (let i = 0; i < m; i++) {
    const end = load<i32>(rowPtr + ((<usize>(i + 1)) << 2));
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    let p = start;
    for (; p + 4 <= end; p += 4) {
      const v = values + (<usize>p << 2);
      const j = cols + (<usize>p << 2);
      s0 += load<f32>(v) * load<f32>(at(x, load<i32>(j) * xs));
      s1 += load<f32>(v, 4) * load<f32>(at(x, load<i32>(j, 4) * xs));
      s2 += load<f32>(v, 8) * load<f32>(at(x, load<i32>(j, 8) * xs));
      s3 += load<f32>(v, 12) * load<f32>(at(x, load<i32>(j, 12) * xs));
    }
    for (; p < end; p++) s0 += load<f32>(values + (<usize>p << 2)) * load<f32>(at(x, load<i32>(cols + (<usize>p << 2)) * xs));
    store<f32>(c + (<usize>i << 2), (s0 + s1) + (s2 + s3));
    start = end;
  }
}

/**
 * W vectors (4W columns, W a constant 1..8 after inlining) of one row of C: sum over entries
 * p in [start, end) of values[p] * B[cols[p], 0 .. 4W), B row-major with row stride ldb.
 */
@inline function rowTile(W: i32, start: i32, end: i32, values: usize, cols: usize, b: usize, ldb: i32, dst: usize): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (let p = start; p < end; p++) {
    const a = v128.load32_splat(values + (<usize>p << 2));
    const row = at(b, load<i32>(cols + (<usize>p << 2)) * ldb);
    s0 = madd(a, v128.load(row), s0);
    if (W > 1) s1 = madd(a, v128.load(row, 16), s1);
    if (W > 2) s2 = madd(a, v128.load(row, 32), s2);
    if (W > 3) s3 = madd(a, v128.load(row, 48), s3);
    if (W > 4) s4 = madd(a, v128.load(row, 64), s4);
    if (W > 5) s5 = madd(a, v128.load(row, 80), s5);
    if (W > 6) s6 = madd(a, v128.load(row, 96), s6);
    if (W > 7) s7 = madd(a, v128.load(row, 112), s7);
  }
  v128.store(dst, s0);
  if (W > 1) v128.store(dst, s1, 16);
  if (W > 2) v128.store(dst, s2, 32);
  if (W > 3) v128.store(dst, s3, 48);
  if (W > 4) v128.store(dst, s4, 64);
  if (W > 5) v128.store(dst, s5, 80);
  if (W > 6) v128.store(dst, s6, 96);
  if (W > 7) v128.store(dst, s7, 112);
}

/** The n > 1 product with B row-major (row stride ldb, columns contiguous). */
function spmmRowsF32(m: i32, n: i32, values: usize, cols: usize, rowPtr: usize, b: usize, ldb: i32, c: usize): void {
  const n4 = n & ~3;
  let start = load<i32>(rowPtr);
  for (let i = 0; i < m; i++) {
    const end = load<i32>(rowPtr + ((<usize>(i + 1)) << 2));
    const out = c + ((<usize>i * <usize>n) << 2);
    let j = 0;
    for (; j + 32 <= n4; j += 32) rowTile(8, start, end, values, cols, at(b, j), ldb, at(out, j));
    const left = (n4 - j) >> 2;
    if (left >= 4) {
      rowTile(4, start, end, values, cols, at(b, j), ldb, at(out, j));
      j += 16;
    }
    const rest = (n4 - j) >> 2;
    if (rest == 3) rowTile(3, start, end, values, cols, at(b, j), ldb, at(out, j));
    else if (rest == 2) rowTile(2, start, end, values, cols, at(b, j), ldb, at(out, j));
    else if (rest == 1) rowTile(1, start, end, values, cols, at(b, j), ldb, at(out, j));
    for (j = n4; j < n; j++) {
      let s: f32 = 0;
      for (let p = start; p < end; p++) {
        s += load<f32>(values + (<usize>p << 2)) * load<f32>(at(b, load<i32>(cols + (<usize>p << 2)) * ldb + j));
      }
      store<f32>(at(out, j), s);
    }
    start = end;
  }
}

/**
 * C [m, n] (contiguous, at c) = the CSR matrix (values, cols, rowPtr) times B [k, n] at b with
 * strides (bRowStride, bColStride). `scratch` holds spmmF32ScratchBytes(n, k, bColStride) bytes.
 */
export function spmmF32(
  m: i32, n: i32, k: i32,
  values: usize, cols: usize, rowPtr: usize,
  b: usize, bRowStride: i32, bColStride: i32,
  c: usize, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (n == 1) {
    spmvF32(m, values, cols, rowPtr, b, bRowStride, c);
    return;
  }
  let rows = b;
  let ldb = bRowStride;
  if (bColStride != 1) {
    // Copy B to row-major [k, n]: O(k n), against O(nnz n) for the product itself. The inner
    // loop follows whichever of B's strides is shorter, so a transposed B is read in order.
    if (abs(bRowStride) < abs(bColStride)) {
      for (let j = 0; j < n; j++) {
        const src = at(b, j * bColStride);
        const dst = scratch + (<usize>j << 2);
        for (let r = 0; r < k; r++) store<f32>(dst + ((<usize>r * <usize>n) << 2), load<f32>(at(src, r * bRowStride)));
      }
    } else {
      for (let r = 0; r < k; r++) {
        const src = at(b, r * bRowStride);
        const dst = scratch + ((<usize>r * <usize>n) << 2);
        for (let j = 0; j < n; j++) store<f32>(dst + (<usize>j << 2), load<f32>(at(src, j * bColStride)));
      }
    }
    rows = scratch;
    ldb = n;
  }
  spmmRowsF32(m, n, values, cols, rowPtr, rows, ldb, c);
}
