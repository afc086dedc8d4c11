// Small helpers shared by the float32 convolution kernels (conv_f32.ts, conv_depthwise.ts).
// Descriptor layout: see conv_f32.ts.

import { at } from './simd';

@inline export function d(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

/** Smallest integer t with t * s >= v, for s > 0 and any sign of v. */
@inline export function ceilDiv(v: i32, s: i32): i32 {
  return v >= 0 ? (v + s - 1) / s : -((-v) / s);
}

/** Largest integer t with t * s <= v, for s > 0 and any sign of v. */
@inline export function floorDiv(v: i32, s: i32): i32 {
  return v >= 0 ? v / s : -((-v + s - 1) / s);
}

/** Copies one group's weights [og, Cg, kH, kW] (any strides) to a contiguous [og, Cg*kH*kW]. */
export function copyWeights(desc: usize, w: usize, og: i32, dst: usize): void {
  const Cg = d(desc, 9), kH = d(desc, 10), kW = d(desc, 11);
  const ws0 = d(desc, 12), ws1 = d(desc, 13), ws2 = d(desc, 14), ws3 = d(desc, 15);
  for (let o = 0; o < og; o++) {
    for (let c = 0; c < Cg; c++) {
      for (let kh = 0; kh < kH; kh++) {
        const src = at(w, o * ws0 + c * ws1 + kh * ws2);
        for (let kw = 0; kw < kW; kw++) {
          store<f32>(dst, load<f32>(at(src, kw * ws3)));
          dst += 4;
        }
      }
    }
  }
}
