// Maximum and minimum of 8-bit integers, for MaxPool on quantized activations (fuseQuantized
// moves a QuantizeLinear above MaxPool, so the pooling compares bytes instead of floats). Same
// descriptor as elementwise.ts: 4 dims of shape, then 4 element strides per operand.
//
// Rows whose operands are contiguous or step 2 (a 2-wide pooling window's taps) run 16 lanes at a
// time (step-2 loads shuffle the even bytes of 32 together), the row's end included. Other rows
// are scalar.

export const I8_MAX: i32 = 0;
export const I8_MIN: i32 = 1;

@inline function dim(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

/** 16 bytes of a row at p with element step 1 or 2 (lane l: byte p + l * step). */
@inline function load16(p: usize, step: i32): v128 {
  if (step == 1) return v128.load(p);
  return i8x16.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

@inline function pick(op: i32, signed: bool, a: v128, b: v128): v128 {
  if (op == I8_MAX) return signed ? i8x16.max_s(a, b) : i8x16.max_u(a, b);
  return signed ? i8x16.min_s(a, b) : i8x16.min_u(a, b);
}

@inline function pickScalar(op: i32, signed: bool, a: usize, b: usize): u8 {
  const x = signed ? <i32>load<i8>(a) : <i32>load<u8>(a);
  const y = signed ? <i32>load<i8>(b) : <i32>load<u8>(b);
  return <u8>(op == I8_MAX ? max(x, y) : min(x, y));
}

/** Stores the low `count` (< 16) lanes of v at p. */
@inline function storePartial(p: usize, v: v128, count: i32): void {
  let at: usize = 0;
  if (count & 8) { v128.store64_lane(p, v, 0); v = i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0, 0, 0, 0, 0); at = 8; }
  if (count & 4) { v128.store32_lane(p + at, v, 0); v = i8x16.shuffle(v, v, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0); at += 4; }
  if (count & 2) { v128.store16_lane(p + at, v, 0); v = i8x16.shuffle(v, v, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 0); at += 2; }
  if (count & 1) v128.store8_lane(p + at, v, 0);
}

/**
 * One row. Full groups of 16 read only the row; the rest of a row (a pooled row of 12, say) is one
 * more 16-lane step whose loads may run past the row's end, into memory this row does not own
 * but that exists (below `limit`, the memory's size): those lanes are computed and not stored.
 */
@inline function row(op: i32, signed: bool, a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32, limit: usize): void {
  let i = 0;
  if ((as == 1 || as == 2) && (bs == 1 || bs == 2)) {
    for (; i + 16 <= n; i += 16) {
      v128.store(out + <usize>i, pick(op, signed, load16(a + <usize>(i * as), as), load16(b + <usize>(i * bs), bs)));
    }
    const pa = a + <usize>(i * as), pb = b + <usize>(i * bs);
    if (i < n && pa + <usize>(16 * as) <= limit && pb + <usize>(16 * bs) <= limit) {
      storePartial(out + <usize>i, pick(op, signed, load16(pa, as), load16(pb, bs)), n - i);
      return;
    }
  }
  for (; i < n; i++) store<u8>(out + <usize>i, pickScalar(op, signed, a + <usize>(i * as), b + <usize>(i * bs)));
}

/** out = max(a, b) or min(a, b) elementwise, int8 (signed) or uint8. */
export function binaryI8(op: i32, signed: bool, desc: usize, a: usize, b: usize, out: usize): void {
  // One branch here: each inlined body runs with its op and signedness as constants (pooled rows
  // are short, so a call or a branch per row would cost as much as the row).
  if (op == I8_MAX) {
    if (signed) walk(I8_MAX, true, desc, a, b, out);
    else walk(I8_MAX, false, desc, a, b, out);
  } else if (signed) {
    walk(I8_MIN, true, desc, a, b, out);
  } else {
    walk(I8_MIN, false, desc, a, b, out);
  }
}

@inline function walk(op: i32, signed: bool, desc: usize, a: usize, b: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2), n3 = dim(desc, 3);
  const a0 = dim(desc, 4), a1 = dim(desc, 5), a2 = dim(desc, 6), a3 = dim(desc, 7);
  const b0 = dim(desc, 8), b1 = dim(desc, 9), b2 = dim(desc, 10), b3 = dim(desc, 11);
  const limit = <usize>memory.size() << 16;
  let o = out;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      let pa = a + <usize>(i0 * a0 + i1 * a1);
      let pb = b + <usize>(i0 * b0 + i1 * b1);
      for (let i2 = 0; i2 < n2; i2++) {
        row(op, signed, pa, a3, pb, b3, o, n3, limit);
        pa += <usize>a2;
        pb += <usize>b2;
        o += <usize>n3;
      }
    }
  }
}
