// Small helpers shared by the float32 convolution kernels (conv_f32.ts, conv_depthwise.ts).
// Descriptor layout: see conv_f32.ts.

@inline export function d(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

@inline export function at(base: usize, elems: i32): usize {
  return base + (<usize>elems << 2);
}

@inline export function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

@inline export function imax(a: i32, b: i32): i32 {
  return a > b ? a : b;
}

@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** Smallest integer t with t * s >= v, for s > 0 and any sign of v. */
@inline export function ceilDiv(v: i32, s: i32): i32 {
  return v >= 0 ? (v + s - 1) / s : -((-v) / s);
}

/** Largest integer t with t * s <= v, for s > 0 and any sign of v. */
@inline export function floorDiv(v: i32, s: i32): i32 {
  return v >= 0 ? v / s : -((-v + s - 1) / s);
}
