// Thin int8 products: a few rows of A (a batch-1 or small-batch dense layer) times a large B.
// The packed path of gemm_i8.ts repacks all of B on every call and computes 4 rows to use one;
// here B is read in place, once per pair of A rows, in one of two forms:
//
// - rows form, B rows contiguous (column stride 1): two rows of B (k = p, p + 1) are interleaved
//   bytewise (punpcklbw / punpckhbw), widened to int16 pairs and multiplied by a splat of
//   (a'[p], a'[p+1]) with i32x4.dot_i16x8_s: 16 columns per step, 4 accumulators per row of A;
// - dot form, B columns contiguous (row stride 1, a transposed weight): 8 k's of a column of B
//   widened to int16 against 8 k's of a row of A', 4 partial sums per output, reduced at the end
//   (blocks of 4 columns, then the columns left over one by one).
//
// Only A is copied: a'[i][p] = A[i,p] - aZero[i or 0] as int16 (|a'| <= 255), padded with zeros.
// B's zero point is applied afterwards, exactly: sum_p a'_p (b_pj - z_j) = sum_p a'_p b_pj -
// z_j * sum_p a'_p, all modulo 2^32 as in gemm_i8.ts, so results match it bit for bit. A pair
// a'_p b_pj + a'_p+1 b_p+1,j lies within 2 * 255 * 255 < 2^31: dot_i16x8_s never overflows.
//
// Relaxed SIMD is not used: i32x4.relaxed_dot_i8x16_i7x16_add_s needs a 7-bit operand, which
// neither a' nor uint8 B is, and V8 11.3's Liftoff computes it wrongly (see gemm_i8.ts).

/** Rows of A up to which gemmI8 takes this path. */
export const I8_THIN_ROWS: i32 = 7;

@inline export function roundUp16(x: i32): i32 {
  return (x + 15) & ~15;
}

/**
 * Scratch bytes for the thin path: m rows of a' (k padded to 16) as int16, m int32 row sums, and
 * for one row its even/odd split copy (dotSplit4).
 */
export function gemmI8ThinScratchBytes(m: i32, k: i32): i32 {
  return m * roundUp16(max(k, 0)) * 2 + m * 4 + 16 + roundUp16(max(k, 0)) * 2;
}

@inline function loadQ(p: usize, signed: bool): i32 {
  return signed ? <i32>load<i8>(p) : <i32>load<u8>(p);
}

/** Writes a' rows (ka int16 each, zero padded) at dst and their sums after them; returns the sums' address. */
export function prepareA(
  m: i32, k: i32, a: usize, rs: i32, cs: i32, signed: bool, zero: usize, perRow: bool, dst: usize,
): usize {
  const ka = roundUp16(k);
  const sums = dst + <usize>(m * ka * 2);
  for (let i = 0; i < m; i++) {
    const z = load<i32>(zero + (perRow ? <usize>i << 2 : 0));
    const row = a + <usize>(i * rs);
    const d = dst + <usize>(i * ka * 2);
    let sum = 0;
    let p = 0;
    if (cs == 1) {
      const zv = i16x8.splat(<i16>z);
      let sv = i32x4.splat(0);
      const one = i16x8.splat(1);
      for (; p + 8 <= k; p += 8) {
        const x = signed ? v128.load8x8_s(row + <usize>p) : v128.load8x8_u(row + <usize>p);
        const y = i16x8.sub(x, zv);
        v128.store(d + (<usize>p << 1), y);
        sv = i32x4.add(sv, i32x4.dot_i16x8_s(y, one));
      }
      sum = i32x4.extract_lane(sv, 0) + i32x4.extract_lane(sv, 1) + i32x4.extract_lane(sv, 2) + i32x4.extract_lane(sv, 3);
    }
    for (; p < k; p++) {
      const y = loadQ(row + <usize>(p * cs), signed) - z;
      store<i16>(d + (<usize>p << 1), <i16>y);
      sum += y;
    }
    for (; p < ka; p++) store<i16>(d + (<usize>p << 1), 0);
    store<i32>(sums + (<usize>i << 2), sum);
  }
  return sums;
}

@inline function dotAdd(acc: v128, a: v128, b: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(a, b));
}

@inline function load8x8(p: usize, signed: bool): v128 {
  return signed ? v128.load8x8_s(p) : v128.load8x8_u(p);
}

@inline function widenLow(v: v128, signed: bool): v128 {
  return signed ? i16x8.extend_low_i8x16_s(v) : i16x8.extend_low_i8x16_u(v);
}

@inline function widenHigh(v: v128, signed: bool): v128 {
  return signed ? i16x8.extend_high_i8x16_s(v) : i16x8.extend_high_i8x16_u(v);
}

/** acc - z * s for 4 columns: z the B zero points of these columns (per column or splat). */
@inline function correct(acc: v128, zb: usize, perCol: bool, j: i32, s: i32): v128 {
  const z = perCol ? v128.load(zb + (<usize>j << 2)) : i32x4.splat(load<i32>(zb));
  return i32x4.sub(acc, i32x4.mul(z, i32x4.splat(s)));
}

/**
 * Rows form, R = 1 or 2 rows of a' (at pa, `ka` int16 apart) times B with rows `brs` bytes apart,
 * columns j0 .. j0 + 16 * blocks; C rows `ldc` int32 apart.
 */
@inline function rowsBlock16(
  R: i32, kq: i32, pa: usize, ka: i32, b: usize, brs: i32, signed: bool, j: i32,
  zb: usize, perCol: bool, s0: i32, s1: i32, c: usize, ldc: i32, oddK: bool,
): void {
  let c00 = i32x4.splat(0), c01 = c00, c02 = c00, c03 = c00;
  let c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  const pa1 = pa + (<usize>ka << 1);
  let row = b + <usize>j;
  const step = <usize>brs;
  for (let q = 0; q < kq; q++, row += 2 * step) {
    const r0 = v128.load(row), r1 = v128.load(row + step);
    const lo = i8x16.shuffle(r0, r1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const hi = i8x16.shuffle(r0, r1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const qa = <usize>q << 2;
    const x0 = v128.load32_splat(pa + qa);
    const x1 = R > 1 ? v128.load32_splat(pa1 + qa) : x0;
    let y = widenLow(lo, signed);
    c00 = dotAdd(c00, x0, y); if (R > 1) c10 = dotAdd(c10, x1, y);
    y = widenHigh(lo, signed);
    c01 = dotAdd(c01, x0, y); if (R > 1) c11 = dotAdd(c11, x1, y);
    y = widenLow(hi, signed);
    c02 = dotAdd(c02, x0, y); if (R > 1) c12 = dotAdd(c12, x1, y);
    y = widenHigh(hi, signed);
    c03 = dotAdd(c03, x0, y); if (R > 1) c13 = dotAdd(c13, x1, y);
  }
  if (oddK) {
    // The last k alone: its partner row is zero (never read).
    const r0 = v128.load(row);
    const zero = i32x4.splat(0);
    const lo = i8x16.shuffle(r0, zero, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const hi = i8x16.shuffle(r0, zero, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const qa = <usize>kq << 2;
    const x0 = v128.load32_splat(pa + qa);
    const x1 = R > 1 ? v128.load32_splat(pa1 + qa) : x0;
    let y = widenLow(lo, signed);
    c00 = dotAdd(c00, x0, y); if (R > 1) c10 = dotAdd(c10, x1, y);
    y = widenHigh(lo, signed);
    c01 = dotAdd(c01, x0, y); if (R > 1) c11 = dotAdd(c11, x1, y);
    y = widenLow(hi, signed);
    c02 = dotAdd(c02, x0, y); if (R > 1) c12 = dotAdd(c12, x1, y);
    y = widenHigh(hi, signed);
    c03 = dotAdd(c03, x0, y); if (R > 1) c13 = dotAdd(c13, x1, y);
  }
  const d = c + (<usize>j << 2);
  v128.store(d, correct(c00, zb, perCol, j, s0));
  v128.store(d, correct(c01, zb, perCol, j + 4, s0), 16);
  v128.store(d, correct(c02, zb, perCol, j + 8, s0), 32);
  v128.store(d, correct(c03, zb, perCol, j + 12, s0), 48);
  if (R > 1) {
    const d1 = d + (<usize>ldc << 2);
    v128.store(d1, correct(c10, zb, perCol, j, s1));
    v128.store(d1, correct(c11, zb, perCol, j + 4, s1), 16);
    v128.store(d1, correct(c12, zb, perCol, j + 8, s1), 32);
    v128.store(d1, correct(c13, zb, perCol, j + 12, s1), 48);
  }
}

// The wrappers below fix R and B's signedness as constants, so each inlined body has no branch
// left in its k loop (a run-time `signed` there costs the dot form a third of its speed).
function rowsBlock16x1(kq: i32, pa: usize, ka: i32, b: usize, brs: i32, signed: bool, j: i32, zb: usize, perCol: bool, s0: i32, c: usize, ldc: i32, oddK: bool): void {
  if (signed) rowsBlock16(1, kq, pa, ka, b, brs, true, j, zb, perCol, s0, s0, c, ldc, oddK);
  else rowsBlock16(1, kq, pa, ka, b, brs, false, j, zb, perCol, s0, s0, c, ldc, oddK);
}

function rowsBlock16x2(kq: i32, pa: usize, ka: i32, b: usize, brs: i32, signed: bool, j: i32, zb: usize, perCol: bool, s0: i32, s1: i32, c: usize, ldc: i32, oddK: bool): void {
  if (signed) rowsBlock16(2, kq, pa, ka, b, brs, true, j, zb, perCol, s0, s1, c, ldc, oddK);
  else rowsBlock16(2, kq, pa, ka, b, brs, false, j, zb, perCol, s0, s1, c, ldc, oddK);
}

/** One output by scalar dot product (any strides): columns left over by the SIMD forms. */
function scalarOutput(k: i32, pa: usize, b: usize, brs: i32, bcs: i32, signed: bool, j: i32, z: i32, s: i32): i32 {
  let acc = 0;
  const col = b + <usize>(j * bcs);
  for (let p = 0; p < k; p++) acc += <i32>load<i16>(pa + (<usize>p << 1)) * loadQ(col + <usize>(p * brs), signed);
  return acc - z * s;
}

/** Lane j of the result is the sum of the lanes of vj. */
@inline function hsum4(v0: v128, v1: v128, v2: v128, v3: v128): v128 {
  const t0 = i32x4.add(i32x4.shuffle(v0, v1, 0, 4, 1, 5), i32x4.shuffle(v0, v1, 2, 6, 3, 7));
  const t1 = i32x4.add(i32x4.shuffle(v2, v3, 0, 4, 1, 5), i32x4.shuffle(v2, v3, 2, 6, 3, 7));
  return i32x4.add(i64x2.shuffle(t0, t1, 0, 2), i64x2.shuffle(t0, t1, 1, 3));
}

/**
 * Dot form, R = 1 or 2 rows of a' times 4 columns of B (each contiguous in k, `bcs` bytes apart)
 * over the first k8 (multiple of 8) k's, then the remaining k's in scalar.
 */
@inline function dotBlock4(
  R: i32, k: i32, pa: usize, ka: i32, b: usize, bcs: i32, signed: bool, j: i32,
  zb: usize, perCol: bool, s0: i32, s1: i32, c: usize, ldc: i32,
): void {
  let c00 = i32x4.splat(0), c01 = c00, c02 = c00, c03 = c00;
  let c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  const pa1 = pa + (<usize>ka << 1);
  const b0 = b + <usize>(j * bcs), b1 = b0 + <usize>bcs, b2 = b1 + <usize>bcs, b3 = b2 + <usize>bcs;
  const k8 = k & ~7;
  // Pointers stepped, not indices recomputed: V8 then addresses each operand in one instruction.
  const stride = <usize>bcs;
  const rowBytes = <usize>ka << 1;
  let px = pa, py = b0;
  const end = pa + (<usize>k8 << 1);
  while (px < end) {
    const x0 = v128.load(px);
    const x1 = R > 1 ? v128.load(px + rowBytes) : x0;
    let y = load8x8(py, signed);
    c00 = dotAdd(c00, x0, y); if (R > 1) c10 = dotAdd(c10, x1, y);
    y = load8x8(py + stride, signed);
    c01 = dotAdd(c01, x0, y); if (R > 1) c11 = dotAdd(c11, x1, y);
    y = load8x8(py + 2 * stride, signed);
    c02 = dotAdd(c02, x0, y); if (R > 1) c12 = dotAdd(c12, x1, y);
    y = load8x8(py + 3 * stride, signed);
    c03 = dotAdd(c03, x0, y); if (R > 1) c13 = dotAdd(c13, x1, y);
    px += 16;
    py += 8;
  }
  let r0 = hsum4(c00, c01, c02, c03);
  let r1 = R > 1 ? hsum4(c10, c11, c12, c13) : r0;
  if (k8 < k) {
    // The last k % 8 products of each output.
    let t00 = 0, t01 = 0, t02 = 0, t03 = 0, t10 = 0, t11 = 0, t12 = 0, t13 = 0;
    for (let p = k8; p < k; p++) {
      const x0 = <i32>load<i16>(pa + (<usize>p << 1));
      const x1 = R > 1 ? <i32>load<i16>(pa1 + (<usize>p << 1)) : 0;
      const y0 = loadQ(b0 + <usize>p, signed), y1 = loadQ(b1 + <usize>p, signed);
      const y2 = loadQ(b2 + <usize>p, signed), y3 = loadQ(b3 + <usize>p, signed);
      t00 += x0 * y0; t01 += x0 * y1; t02 += x0 * y2; t03 += x0 * y3;
      if (R > 1) { t10 += x1 * y0; t11 += x1 * y1; t12 += x1 * y2; t13 += x1 * y3; }
    }
    r0 = i32x4.add(r0, i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(t00), 1, t01), 2, t02), 3, t03));
    if (R > 1) r1 = i32x4.add(r1, i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(t10), 1, t11), 2, t12), 3, t13));
  }
  const d = c + (<usize>j << 2);
  v128.store(d, correct(r0, zb, perCol, j, s0));
  if (R > 1) v128.store(d + (<usize>ldc << 2), correct(r1, zb, perCol, j, s1));
}

/**
 * One row of a' as 16-k groups of its 8 even then 8 odd entries (the layout dotSplit4 reads), at
 * dst, from the plain row at src (ka int16, a multiple of 16).
 */
function splitRow(src: usize, ka: i32, dst: usize): void {
  for (let p = 0; p < ka; p += 16) {
    const lo = v128.load(src + (<usize>p << 1)), hi = v128.load(src + (<usize>p << 1), 16);
    v128.store(dst + (<usize>p << 1), i8x16.shuffle(lo, hi, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29));
    v128.store(dst + (<usize>p << 1), i8x16.shuffle(lo, hi, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 16);
  }
}

/** Signed B: at most this many k per chunk, so that the even sums (kept 256 times too large) stay within int32. */
const SPLIT_CHUNK: i32 = 2048;

/**
 * Dot form for one row of A (batch 1) and 4 columns, 16 k's a step with no widening shuffles: a
 * 16-byte load of a column holds 8 (even k, odd k) byte pairs as int16 lanes; its odd bytes are
 * that lane shifted right by 8 (arithmetic for int8, logical for uint8), its even bytes the lane
 * shifted left by 8 (int8: the value times 256, exact in int16) or masked (uint8). Each goes into
 * i32x4.dot_i16x8_s against the matching half of the split a' row (splitRow). Shifts run on more
 * ports than the widening loads of dotBlock4 (m1 k784 n512: 13.5 -> 11.8 us). The int8 even sums
 * are divided by 256 (exactly) every SPLIT_CHUNK k's, before they could leave int32.
 */
@inline function dotSplit4(
  k: i32, ps: usize, pa: usize, b: usize, bcs: i32, signed: bool, j: i32, zb: usize, perCol: bool, s0: i32, c: usize,
): void {
  // Only the 4 outputs' running sums live across chunks (one vector): the inner loop needs 8
  // accumulators, 3 operands and the mask, and more than V8's 15 vector registers would spill.
  let r0 = i32x4.splat(0);
  const stride = <usize>bcs;
  const b0 = b + <usize>(j * bcs);
  const k16 = k & ~15;
  const mask = i16x8.splat(0xff);
  for (let q0 = 0; q0 < k16; q0 += SPLIT_CHUNK) {
    let e0 = i32x4.splat(0), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
    let px = ps + (<usize>q0 << 1);
    let py = b0 + <usize>q0;
    const end = ps + (<usize>min(k16, q0 + SPLIT_CHUNK) << 1);
    while (px < end) {
      const xe = v128.load(px), xo = v128.load(px, 16);
      let w = v128.load(py);
      e0 = dotAdd(e0, xe, signed ? i16x8.shl(w, 8) : v128.and(w, mask)); o0 = dotAdd(o0, xo, signed ? i16x8.shr_s(w, 8) : i16x8.shr_u(w, 8));
      w = v128.load(py + stride);
      e1 = dotAdd(e1, xe, signed ? i16x8.shl(w, 8) : v128.and(w, mask)); o1 = dotAdd(o1, xo, signed ? i16x8.shr_s(w, 8) : i16x8.shr_u(w, 8));
      w = v128.load(py + 2 * stride);
      e2 = dotAdd(e2, xe, signed ? i16x8.shl(w, 8) : v128.and(w, mask)); o2 = dotAdd(o2, xo, signed ? i16x8.shr_s(w, 8) : i16x8.shr_u(w, 8));
      w = v128.load(py + 3 * stride);
      e3 = dotAdd(e3, xe, signed ? i16x8.shl(w, 8) : v128.and(w, mask)); o3 = dotAdd(o3, xo, signed ? i16x8.shr_s(w, 8) : i16x8.shr_u(w, 8));
      px += 32;
      py += 16;
    }
    if (signed) {
      e0 = i32x4.shr_s(e0, 8); e1 = i32x4.shr_s(e1, 8); e2 = i32x4.shr_s(e2, 8); e3 = i32x4.shr_s(e3, 8);
    }
    r0 = i32x4.add(r0, hsum4(i32x4.add(e0, o0), i32x4.add(e1, o1), i32x4.add(e2, o2), i32x4.add(e3, o3)));
  }
  if (k16 < k) {
    // The last k % 16 products of each output, from the plain a' row.
    let t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    for (let p = k16; p < k; p++) {
      const x = <i32>load<i16>(pa + (<usize>p << 1));
      const col = b0 + <usize>p;
      t0 += x * loadQ(col, signed); t1 += x * loadQ(col + stride, signed);
      t2 += x * loadQ(col + 2 * stride, signed); t3 += x * loadQ(col + 3 * stride, signed);
    }
    r0 = i32x4.add(r0, i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(t0), 1, t1), 2, t2), 3, t3));
  }
  v128.store(c + (<usize>j << 2), correct(r0, zb, perCol, j, s0));
}

// Two functions, each called from the column loop below: kept out of gemmI8Thin (a call site each),
// whose size otherwise costs these loops a third of their speed once inlined into it.
function dotSplit4Signed(k: i32, ps: usize, pa: usize, b: usize, bcs: i32, n4: i32, zb: usize, perCol: bool, s0: i32, c: usize): void {
  for (let j = 0; j < n4; j += 4) dotSplit4(k, ps, pa, b, bcs, true, j, zb, perCol, s0, c);
}

function dotSplit4Unsigned(k: i32, ps: usize, pa: usize, b: usize, bcs: i32, n4: i32, zb: usize, perCol: bool, s0: i32, c: usize): void {
  for (let j = 0; j < n4; j += 4) dotSplit4(k, ps, pa, b, bcs, false, j, zb, perCol, s0, c);
}

function dotBlock4x1(k: i32, pa: usize, ka: i32, b: usize, bcs: i32, signed: bool, j: i32, zb: usize, perCol: bool, s0: i32, c: usize, ldc: i32): void {
  if (signed) dotBlock4(1, k, pa, ka, b, bcs, true, j, zb, perCol, s0, s0, c, ldc);
  else dotBlock4(1, k, pa, ka, b, bcs, false, j, zb, perCol, s0, s0, c, ldc);
}

function dotBlock4x2(k: i32, pa: usize, ka: i32, b: usize, bcs: i32, signed: bool, j: i32, zb: usize, perCol: bool, s0: i32, s1: i32, c: usize, ldc: i32): void {
  if (signed) dotBlock4(2, k, pa, ka, b, bcs, true, j, zb, perCol, s0, s1, c, ldc);
  else dotBlock4(2, k, pa, ka, b, bcs, false, j, zb, perCol, s0, s1, c, ldc);
}

/** Dot form for one column j (the columns left over from blocks of 4): 8 k's a step, then k % 8 in scalar. */
function dotColumn(
  R: i32, k: i32, pa: usize, ka: i32, b: usize, bcs: i32, signed: bool, j: i32,
  zb: usize, perCol: bool, s0: i32, s1: i32, c: usize, ldc: i32,
): void {
  if (signed) dotColumnBody(R, k, pa, ka, b, bcs, true, j, zb, perCol, s0, s1, c, ldc);
  else dotColumnBody(R, k, pa, ka, b, bcs, false, j, zb, perCol, s0, s1, c, ldc);
}

@inline function dotColumnBody(
  R: i32, k: i32, pa: usize, ka: i32, b: usize, bcs: i32, signed: bool, j: i32,
  zb: usize, perCol: bool, s0: i32, s1: i32, c: usize, ldc: i32,
): void {
  let c0 = i32x4.splat(0), c1 = c0;
  const pa1 = pa + (<usize>ka << 1);
  const col = b + <usize>(j * bcs);
  const k8 = k & ~7;
  for (let p = 0; p < k8; p += 8) {
    const y = load8x8(col + <usize>p, signed);
    c0 = dotAdd(c0, v128.load(pa + (<usize>p << 1)), y);
    if (R > 1) c1 = dotAdd(c1, v128.load(pa1 + (<usize>p << 1)), y);
  }
  let t0 = i32x4.extract_lane(c0, 0) + i32x4.extract_lane(c0, 1) + i32x4.extract_lane(c0, 2) + i32x4.extract_lane(c0, 3);
  let t1 = i32x4.extract_lane(c1, 0) + i32x4.extract_lane(c1, 1) + i32x4.extract_lane(c1, 2) + i32x4.extract_lane(c1, 3);
  for (let p = k8; p < k; p++) {
    const y = loadQ(col + <usize>p, signed);
    t0 += <i32>load<i16>(pa + (<usize>p << 1)) * y;
    if (R > 1) t1 += <i32>load<i16>(pa1 + (<usize>p << 1)) * y;
  }
  const z = perCol ? load<i32>(zb + (<usize>j << 2)) : load<i32>(zb);
  store<i32>(c + (<usize>j << 2), t0 - z * s0);
  if (R > 1) store<i32>(c + (<usize>(ldc + j) << 2), t1 - z * s1);
}

/**
 * C = (A - aZero)(B - bZero) as int32 for m <= I8_THIN_ROWS when B's rows or columns are
 * contiguous; returns false (nothing written) otherwise. k >= 0, m, n > 0.
 */
export function gemmI8Thin(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32, aSigned: bool, aZero: usize, aZeroPerRow: bool,
  b: usize, bRowStride: i32, bColStride: i32, bSigned: bool, bZero: usize, bZeroPerCol: bool,
  c: usize, scratch: usize,
): bool {
  if (m > I8_THIN_ROWS) return false;
  // Under 16 columns (or 4 in the dot form) every output is a scalar dot product.
  const rowsForm = bColStride == 1 && n >= 16;
  const dotForm = !rowsForm && (bRowStride == 1 || k <= 1);
  if (!rowsForm && !dotForm && n >= 16) return false;
  const ka = roundUp16(k);
  const sums = prepareA(m, k, a, aRowStride, aColStride, aSigned, aZero, aZeroPerRow, scratch);
  const z0 = load<i32>(bZero);
  let j0 = 0;
  if (rowsForm) {
    const kq = k >> 1;
    const oddK = (k & 1) != 0;
    j0 = n & ~15;
    let i = 0;
    for (; i + 2 <= m; i += 2) {
      const pa = scratch + <usize>(i * ka * 2);
      const s0 = load<i32>(sums + (<usize>i << 2)), s1 = load<i32>(sums + (<usize>i << 2), 4);
      const ci = c + <usize>(i * n * 4);
      for (let j = 0; j < j0; j += 16) rowsBlock16x2(kq, pa, ka, b, bRowStride, bSigned, j, bZero, bZeroPerCol, s0, s1, ci, n, oddK);
    }
    if (i < m) {
      const pa = scratch + <usize>(i * ka * 2);
      const s0 = load<i32>(sums + (<usize>i << 2));
      const ci = c + <usize>(i * n * 4);
      for (let j = 0; j < j0; j += 16) rowsBlock16x1(kq, pa, ka, b, bRowStride, bSigned, j, bZero, bZeroPerCol, s0, ci, n, oddK);
    }
  } else if (dotForm) {
    const n4 = n & ~3;
    let i = 0;
    for (; i + 2 <= m; i += 2) {
      const pa = scratch + <usize>(i * ka * 2);
      const s0 = load<i32>(sums + (<usize>i << 2)), s1 = load<i32>(sums + (<usize>i << 2), 4);
      const ci = c + <usize>(i * n * 4);
      for (let j = 0; j < n4; j += 4) dotBlock4x2(k, pa, ka, b, bColStride, bSigned, j, bZero, bZeroPerCol, s0, s1, ci, n);
      for (let j = n4; j < n; j++) dotColumn(2, k, pa, ka, b, bColStride, bSigned, j, bZero, bZeroPerCol, s0, s1, ci, n);
    }
    if (i < m) {
      const pa = scratch + <usize>(i * ka * 2);
      const s0 = load<i32>(sums + (<usize>i << 2));
      const ci = c + <usize>(i * n * 4);
      // The split copy sits after the row sums (gemmI8ThinScratchBytes).
      const ps = (sums + <usize>(m * 4) + 15) & ~15;
      splitRow(pa, ka, ps);
      if (bSigned) dotSplit4Signed(k, ps, pa, b, bColStride, n4, bZero, bZeroPerCol, s0, ci);
      else dotSplit4Unsigned(k, ps, pa, b, bColStride, n4, bZero, bZeroPerCol, s0, ci);
      for (let j = n4; j < n; j++) dotColumn(1, k, pa, ka, b, bColStride, bSigned, j, bZero, bZeroPerCol, s0, s0, ci, n);
    }
    j0 = n;
  }
  for (let i = 0; i < m; i++) {
    const pa = scratch + <usize>(i * ka * 2);
    const s = load<i32>(sums + (<usize>i << 2));
    const ci = c + <usize>(i * n * 4);
    for (let j = j0; j < n; j++) {
      const z = bZeroPerCol ? load<i32>(bZero + (<usize>j << 2)) : z0;
      store<i32>(ci + (<usize>j << 2), scalarOutput(k, pa, b, bRowStride, bColStride, bSigned, j, z, s));
    }
  }
  return true;
}
