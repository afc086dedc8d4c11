// Inline helpers every float32 kernel shares: address arithmetic, integer min/max, and the
// multiply-add that becomes one fused instruction in the relaxed-SIMD build.

/** `base` advanced by `elems` floats; `elems` may be negative (wraps in 32-bit address space). */
@inline export function at(base: usize, elems: i32): usize {
  return base + (<usize>elems << 2);
}

@inline export function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

@inline export function imax(a: i32, b: i32): i32 {
  return a > b ? a : b;
}

/** a * b + c: relaxed_madd (fused where the CPU has FMA) in the relaxed build, mul then add otherwise. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}
