// Float32 elementwise kernels over strided operands.
//
// Descriptor (i32 at `desc`), always 4 dims (the JS side collapses and pads with leading 1s):
//   [0..3]  shape
//   [4..7]  strides of operand 0 (elements)
//   [8..11] strides of operand 1
//   [12..15] strides of operand 2
// The output is contiguous. Operand pointers already include their view offset.
// The innermost dim runs as SIMD when an operand's stride there is 1 (or 0: broadcast, splatted).

export const UNARY_NEG: i32 = 0;
export const UNARY_ABS: i32 = 1;
export const UNARY_SQRT: i32 = 2;
export const UNARY_FLOOR: i32 = 3;
export const UNARY_ROUND: i32 = 4;
export const UNARY_RECIPROCAL: i32 = 5;
export const UNARY_EXP: i32 = 6;
export const UNARY_LOG: i32 = 7;
export const UNARY_TANH: i32 = 8;
export const UNARY_SIGN: i32 = 9;

export const BINARY_ADD: i32 = 0;
export const BINARY_SUB: i32 = 1;
export const BINARY_MUL: i32 = 2;
export const BINARY_DIV: i32 = 3;
export const BINARY_MAX: i32 = 4;
export const BINARY_MIN: i32 = 5;
export const BINARY_POW: i32 = 6;
export const BINARY_LT: i32 = 7;
export const BINARY_EQ: i32 = 8;

@inline function dim(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

@inline function signF32(x: f32): f32 {
  return x > 0 ? 1 : x < 0 ? -1 : x; // keeps NaN and signed zero, as Math.sign does
}

@inline function unaryScalar(op: i32, x: f32): f32 {
  switch (op) {
    case UNARY_NEG: return -x;
    case UNARY_ABS: return Mathf.abs(x);
    case UNARY_SQRT: return Mathf.sqrt(x);
    case UNARY_FLOOR: return Mathf.floor(x);
    case UNARY_ROUND: return f32.nearest(x); // ties to even, as ONNX Round
    case UNARY_RECIPROCAL: return <f32>1 / x;
    case UNARY_EXP: return Mathf.exp(x);
    case UNARY_LOG: return Mathf.log(x);
    case UNARY_TANH: return Mathf.tanh(x);
    default: return signF32(x);
  }
}

/** Ops with a SIMD form; the transcendental ones run the scalar path lane by lane. */
@inline function unaryHasSimd(op: i32): bool {
  return op <= UNARY_RECIPROCAL;
}

@inline function unaryVector(op: i32, x: v128): v128 {
  switch (op) {
    case UNARY_NEG: return f32x4.neg(x);
    case UNARY_ABS: return f32x4.abs(x);
    case UNARY_SQRT: return f32x4.sqrt(x);
    case UNARY_FLOOR: return f32x4.floor(x);
    case UNARY_ROUND: return f32x4.nearest(x);
    default: return f32x4.div(f32x4.splat(1), x);
  }
}

@inline function unaryRow(op: i32, x: usize, xs: i32, out: usize, n: i32): void {
  let i = 0;
  if (xs == 1 && unaryHasSimd(op)) {
    for (; i + 4 <= n; i += 4) {
      v128.store(out + (<usize>i << 2), unaryVector(op, v128.load(x + (<usize>i << 2))));
    }
  }
  for (; i < n; i++) {
    store<f32>(out + (<usize>i << 2), unaryScalar(op, load<f32>(x + (<usize>(i * xs) << 2))));
  }
}

export function unaryF32(op: i32, desc: usize, x: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2), n3 = dim(desc, 3);
  const s0 = dim(desc, 4), s1 = dim(desc, 5), s2 = dim(desc, 6), s3 = dim(desc, 7);
  let o = out;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const base = x + (<usize>(i0 * s0 + i1 * s1 + i2 * s2) << 2);
        // A constant op after inlining lets the optimiser drop the switch from the row loop.
        switch (op) {
          case UNARY_NEG: unaryRow(UNARY_NEG, base, s3, o, n3); break;
          case UNARY_ABS: unaryRow(UNARY_ABS, base, s3, o, n3); break;
          case UNARY_SQRT: unaryRow(UNARY_SQRT, base, s3, o, n3); break;
          case UNARY_FLOOR: unaryRow(UNARY_FLOOR, base, s3, o, n3); break;
          case UNARY_ROUND: unaryRow(UNARY_ROUND, base, s3, o, n3); break;
          case UNARY_RECIPROCAL: unaryRow(UNARY_RECIPROCAL, base, s3, o, n3); break;
          case UNARY_EXP: unaryRow(UNARY_EXP, base, s3, o, n3); break;
          case UNARY_LOG: unaryRow(UNARY_LOG, base, s3, o, n3); break;
          case UNARY_TANH: unaryRow(UNARY_TANH, base, s3, o, n3); break;
          default: unaryRow(UNARY_SIGN, base, s3, o, n3);
        }
        o += <usize>n3 << 2;
      }
    }
  }
}

@inline function binaryScalar(op: i32, a: f32, b: f32): f32 {
  switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    case BINARY_MAX: return f32.max(a, b);
    case BINARY_MIN: return f32.min(a, b);
    default: return Mathf.pow(a, b);
  }
}

@inline function binaryVector(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case BINARY_ADD: return f32x4.add(a, b);
    case BINARY_SUB: return f32x4.sub(a, b);
    case BINARY_MUL: return f32x4.mul(a, b);
    case BINARY_DIV: return f32x4.div(a, b);
    case BINARY_MAX: return f32x4.max(a, b);
    default: return f32x4.min(a, b);
  }
}

// @inline so that `op` is a constant inside each specialised copy below.
@inline function binaryRow(op: i32, a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void {
  let i = 0;
  if (op != BINARY_POW) {
    if (as == 1 && bs == 1) {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(out + off, binaryVector(op, v128.load(a + off), v128.load(b + off)));
      }
    } else if (as == 1 && bs == 0) {
      const vb = v128.load32_splat(b);
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(out + off, binaryVector(op, v128.load(a + off), vb));
      }
    } else if (as == 0 && bs == 1) {
      const va = v128.load32_splat(a);
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(out + off, binaryVector(op, va, v128.load(b + off)));
      }
    }
  }
  for (; i < n; i++) {
    const r = binaryScalar(op, load<f32>(a + (<usize>(i * as) << 2)), load<f32>(b + (<usize>(i * bs) << 2)));
    store<f32>(out + (<usize>i << 2), r);
  }
}

function binaryRowAdd(a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void { binaryRow(BINARY_ADD, a, as, b, bs, out, n); }
function binaryRowSub(a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void { binaryRow(BINARY_SUB, a, as, b, bs, out, n); }
function binaryRowMul(a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void { binaryRow(BINARY_MUL, a, as, b, bs, out, n); }
function binaryRowDiv(a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void { binaryRow(BINARY_DIV, a, as, b, bs, out, n); }
function binaryRowMax(a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void { binaryRow(BINARY_MAX, a, as, b, bs, out, n); }
function binaryRowMin(a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void { binaryRow(BINARY_MIN, a, as, b, bs, out, n); }
function binaryRowPow(a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void {
  // x^2 by a broadcast exponent (variances, squared errors) is x * x, rounded once exactly as a
  // correctly rounded pow would be; Mathf.pow costs about 5 ns an element (387 elements: 1.8 us).
  if (bs == 0 && load<f32>(b) == 2) {
    binaryRowMul(a, as, a, as, out, n);
    return;
  }
  binaryRow(BINARY_POW, a, as, b, bs, out, n);
}

function compareRow(op: i32, a: usize, as: i32, b: usize, bs: i32, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const x = load<f32>(a + (<usize>(i * as) << 2));
    const y = load<f32>(b + (<usize>(i * bs) << 2));
    store<u8>(out + <usize>i, <u8>(op == BINARY_LT ? x < y : x == y));
  }
}

/** Float32 binary op; BINARY_LT and BINARY_EQ write bool bytes. */
export function binaryF32(op: i32, desc: usize, a: usize, b: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2), n3 = dim(desc, 3);
  const a0 = dim(desc, 4), a1 = dim(desc, 5), a2 = dim(desc, 6), a3 = dim(desc, 7);
  const b0 = dim(desc, 8), b1 = dim(desc, 9), b2 = dim(desc, 10), b3 = dim(desc, 11);
  const outBytes: usize = op >= BINARY_LT ? 1 : 4;
  let o = out;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const pa = a + (<usize>(i0 * a0 + i1 * a1 + i2 * a2) << 2);
        const pb = b + (<usize>(i0 * b0 + i1 * b1 + i2 * b2) << 2);
        switch (op) {
          case BINARY_ADD: binaryRowAdd(pa, a3, pb, b3, o, n3); break;
          case BINARY_SUB: binaryRowSub(pa, a3, pb, b3, o, n3); break;
          case BINARY_MUL: binaryRowMul(pa, a3, pb, b3, o, n3); break;
          case BINARY_DIV: binaryRowDiv(pa, a3, pb, b3, o, n3); break;
          case BINARY_MAX: binaryRowMax(pa, a3, pb, b3, o, n3); break;
          case BINARY_MIN: binaryRowMin(pa, a3, pb, b3, o, n3); break;
          case BINARY_POW: binaryRowPow(pa, a3, pb, b3, o, n3); break;
          default: compareRow(op, pa, a3, pb, b3, o, n3);
        }
        o += <usize>n3 * outBytes;
      }
    }
  }
}

/** out = cond ? a : b, float32; cond is bool bytes. Operands 0, 1, 2 are cond, a, b. */
export function whereF32(desc: usize, cond: usize, a: usize, b: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2), n3 = dim(desc, 3);
  const c0 = dim(desc, 4), c1 = dim(desc, 5), c2 = dim(desc, 6), c3 = dim(desc, 7);
  const a0 = dim(desc, 8), a1 = dim(desc, 9), a2 = dim(desc, 10), a3 = dim(desc, 11);
  const b0 = dim(desc, 12), b1 = dim(desc, 13), b2 = dim(desc, 14), b3 = dim(desc, 15);
  let o = out;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const pc = cond + <usize>(i0 * c0 + i1 * c1 + i2 * c2);
        const pa = a + (<usize>(i0 * a0 + i1 * a1 + i2 * a2) << 2);
        const pb = b + (<usize>(i0 * b0 + i1 * b1 + i2 * b2) << 2);
        for (let i = 0; i < n3; i++) {
          const pick = load<u8>(pc + <usize>(i * c3)) != 0;
          store<f32>(o + (<usize>i << 2), pick ? load<f32>(pa + (<usize>(i * a3) << 2)) : load<f32>(pb + (<usize>(i * b3) << 2)));
        }
        o += <usize>n3 << 2;
      }
    }
  }
}
