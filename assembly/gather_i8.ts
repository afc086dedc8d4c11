// int8 products whose B is given by tables instead of strides: B[k, j] = b[rows[k] + cols[j]]
// (byte offsets, int32 tables). A convolution passes its input this way, its patches as a view
// ([C, kH, kW] by [oH, oW]): row k = (c, ky, kx) and column j = (oy, ox) each become one offset,
// so B is read in place, at exactly the output's positions.
//
// The packed path packs B's strips straight from the tables (8 columns at a time: one 8-byte load
// per row when the 8 offsets run on, byte by byte when they cross a row of the output); the thin
// and short paths take B gathered into a [k, n] matrix first (gatherTable).

@inline function loadQ(p: usize, signed: bool): i32 {
  return signed ? <i32>load<i8>(p) : <i32>load<u8>(p);
}

@inline function load8x16(p: usize, signed: bool): v128 {
  return signed ? v128.load8x8_s(p) : v128.load8x8_u(p);
}

@inline function offsetAt(table: usize, i: i32): usize {
  return <usize>load<i32>(table + (<usize>i << 2));
}

/**
 * Packs `count` (<= 8) columns from j0 of the tabled B into a strip of 8 (kp k-pair groups of 8
 * int32 words, zero point subtracted, columns past `count` zero), as gemm_i8.ts's packBStrip does.
 */
export function packBStripTable(
  b: usize, rows: usize, cols: usize, signed: bool, zero: usize, perCol: bool, j0: i32, count: i32, k: i32, kp: i32, dst: usize,
): void {
  if (signed) packBody(b, rows, cols, true, zero, perCol, j0, count, k, kp, dst);
  else packBody(b, rows, cols, false, zero, perCol, j0, count, k, kp, dst);
}

@inline function packBody(
  b: usize, rows: usize, cols: usize, signed: bool, zero: usize, perCol: bool, j0: i32, count: i32, k: i32, kp: i32, dst: usize,
): void {
  let q = 0;
  const c0 = offsetAt(cols, j0);
  if (count == 8 && offsetAt(cols, j0 + 7) - c0 == 7) {
    let zv = i16x8.splat(<i16>load<i32>(zero));
    if (perCol) {
      const zp = zero + (<usize>j0 << 2);
      zv = i16x8.narrow_i32x4_s(v128.load(zp), v128.load(zp, 16));
    }
    const base = b + c0;
    for (; 2 * q + 2 <= k; q++) {
      const lo = i16x8.sub(load8x16(base + offsetAt(rows, 2 * q), signed), zv);
      const hi = i16x8.sub(load8x16(base + offsetAt(rows, 2 * q + 1), signed), zv);
      const d = dst + <usize>(q << 5);
      v128.store(d, i16x8.shuffle(lo, hi, 0, 8, 1, 9, 2, 10, 3, 11));
      v128.store(d, i16x8.shuffle(lo, hi, 4, 12, 5, 13, 6, 14, 7, 15), 16);
    }
  }
  // The rest (an odd k's last row, or columns that cross an output row) one value at a time.
  const z0 = load<i32>(zero);
  for (let l = 0; l < 8; l++) {
    let d = dst + <usize>((q << 5) + (l << 2));
    if (l >= count) {
      for (let p = q; p < kp; p++, d += 32) store<i32>(d, 0);
      continue;
    }
    const z = perCol ? load<i32>(zero + (<usize>(j0 + l) << 2)) : z0;
    const col = b + offsetAt(cols, j0 + l);
    for (let p = q; p < kp; p++, d += 32) {
      const lo = loadQ(col + offsetAt(rows, 2 * p), signed) - z;
      const hi = 2 * p + 1 < k ? loadQ(col + offsetAt(rows, 2 * p + 1), signed) - z : 0;
      store<i32>(d, (lo & 0xffff) | (hi << 16));
    }
  }
}

/** B gathered into a [k, n] row-major matrix at dst: runs of consecutive column offsets copied 16 bytes at a time. */
export function gatherTable(b: usize, rows: usize, cols: usize, k: i32, n: i32, dst: usize): void {
  for (let r = 0; r < k; r++) {
    const row = b + offsetAt(rows, r);
    const out = dst + <usize>(r * n);
    let j = 0;
    while (j < n) {
      // The run of columns from j whose offsets step by one.
      const start = offsetAt(cols, j);
      let end = j + 1;
      while (end < n && offsetAt(cols, end) == start + <usize>(end - j)) end++;
      const len = end - j;
      const src = row + start;
      const to = out + <usize>j;
      let i = 0;
      for (; i + 16 <= len; i += 16) v128.store(to + <usize>i, v128.load(src + <usize>i));
      if (i < len && len >= 16) {
        // The last 16 of the run, overlapping what was copied.
        v128.store(to + <usize>(len - 16), v128.load(src + <usize>(len - 16)));
      } else {
        for (; i < len; i++) store<u8>(to + <usize>i, load<u8>(src + <usize>i));
      }
      j = end;
    }
  }
}
