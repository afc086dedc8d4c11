// Depthwise float32 convolution (one input channel per group): the channel is copied once into a
// zero-padded plane, then a register kernel walks it with the weights held in registers.
// Descriptor layout: see conv_f32.ts.

import { d } from './conv_common';
import { at, imax, imin, madd } from './simd';

/** Rows of the padded plane: every input row the output rows read, padding included. */
@inline export function planeRows(desc: usize): i32 {
  return (d(desc, 16) - 1) * d(desc, 18) + (d(desc, 10) - 1) * d(desc, 24) + 1;
}

/** Columns (a multiple of 4) of the padded plane: covers the last 4-wide output run's reads. */
@inline export function planeCols(desc: usize): i32 {
  const outW4 = (d(desc, 17) + 3) & ~3;
  return ((outW4 - 1) * d(desc, 19) + (d(desc, 11) - 1) * d(desc, 25) + 1 + 3) & ~3;
}

/** Copies input channel xc into the padded plane: plane[r, col] = x[r - padT, col - padL] or 0. */
function padPlane(desc: usize, xc: usize, plane: usize): void {
  const H = d(desc, 2), W = d(desc, 3), xs2 = d(desc, 6), xs3 = d(desc, 7);
  const padT = d(desc, 20), padL = d(desc, 21);
  const rows = planeRows(desc), cols = planeCols(desc);
  const c0 = imax(0, padL), c1 = imin(cols, W + padL); // plane columns inside the input
  for (let r = 0; r < rows; r++) {
    const dst = plane + (<usize>(r * cols) << 2);
    for (let col = 0; col < cols; col += 4) v128.store(dst + (<usize>col << 2), f32x4.splat(0));
    const ih = r - padT;
    if (<u32>ih >= <u32>H || c1 <= c0) continue;
    const src = at(xc, ih * xs2 + (c0 - padL) * xs3);
    let col = c0;
    if (xs3 == 1) {
      for (; col + 4 <= c1; col += 4) v128.store(dst + (<usize>col << 2), v128.load(src + (<usize>(col - c0) << 2)));
    }
    for (; col < c1; col++) store<f32>(dst + (<usize>col << 2), load<f32>(at(src, (col - c0) * xs3)));
  }
}

/** Four plane values `step` floats apart from src. */
@inline function gather4(src: usize, step: i32): v128 {
  if (step == 1) return v128.load(src);
  if (step == 2) return i32x4.shuffle(v128.load(src), v128.load(src, 12), 0, 2, 5, 7);
  const s = <usize>step << 2;
  let v = f32x4.splat(load<f32>(src));
  v = f32x4.replace_lane(v, 1, load<f32>(src + s));
  v = f32x4.replace_lane(v, 2, load<f32>(src + 2 * s));
  return f32x4.replace_lane(v, 3, load<f32>(src + 3 * s));
}

/** Stores the first `count` (1..4) lanes of v at dst. */
@inline function storePartial(dst: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(dst, v);
    return;
  }
  store<f32>(dst, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(dst, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(dst, f32x4.extract_lane(v, 2), 8);
}

/** One output channel of a depthwise conv from its padded input plane; sW == step. */
@inline function depthwiseChannel(desc: usize, plane: usize, wo: usize, out: usize, step: i32): void {
  const kH = d(desc, 10), kW = d(desc, 11), ws2 = d(desc, 14), ws3 = d(desc, 15);
  const outH = d(desc, 16), outW = d(desc, 17), sH = d(desc, 18);
  const dH = d(desc, 24), dW = d(desc, 25);
  const rowBytes = <usize>planeCols(desc) << 2;
  const dw = <usize>dW << 2, dh = <usize>dH * rowBytes;
  const run = <usize>step << 4; // plane bytes between 4-wide output runs
  if (kH == 3 && kW == 3) {
    // Weights held in registers: 9 + accumulator + operand + product fit in 15.
    const w00 = v128.load32_splat(wo), w01 = v128.load32_splat(at(wo, ws3)), w02 = v128.load32_splat(at(wo, 2 * ws3));
    const w10 = v128.load32_splat(at(wo, ws2)), w11 = v128.load32_splat(at(wo, ws2 + ws3)), w12 = v128.load32_splat(at(wo, ws2 + 2 * ws3));
    const w20 = v128.load32_splat(at(wo, 2 * ws2)), w21 = v128.load32_splat(at(wo, 2 * ws2 + ws3)), w22 = v128.load32_splat(at(wo, 2 * ws2 + 2 * ws3));
    for (let oh = 0; oh < outH; oh++) {
      let src = plane + <usize>(oh * sH) * rowBytes;
      let dst = at(out, oh * outW);
      for (let ow = 0; ow < outW; ow += 4) {
        let acc = f32x4.mul(w00, gather4(src, step));
        acc = madd(w01, gather4(src + dw, step), acc);
        acc = madd(w02, gather4(src + 2 * dw, step), acc);
        acc = madd(w10, gather4(src + dh, step), acc);
        acc = madd(w11, gather4(src + dh + dw, step), acc);
        acc = madd(w12, gather4(src + dh + 2 * dw, step), acc);
        acc = madd(w20, gather4(src + 2 * dh, step), acc);
        acc = madd(w21, gather4(src + 2 * dh + dw, step), acc);
        acc = madd(w22, gather4(src + 2 * dh + 2 * dw, step), acc);
        storePartial(dst, acc, outW - ow);
        src += run;
        dst += 16;
      }
    }
    return;
  }
  for (let oh = 0; oh < outH; oh++) {
    const rowSrc = plane + <usize>(oh * sH) * rowBytes;
    const dst = at(out, oh * outW);
    for (let ow = 0; ow < outW; ow += 4) {
      let acc = f32x4.splat(0);
      const src = rowSrc + <usize>ow * (<usize>step << 2);
      for (let kh = 0; kh < kH; kh++) {
        const r = src + <usize>kh * dh;
        const wr = at(wo, kh * ws2);
        for (let kw = 0; kw < kW; kw++) acc = madd(v128.load32_splat(at(wr, kw * ws3)), gather4(r + <usize>kw * dw, step), acc);
      }
      storePartial(dst + (<usize>ow << 2), acc, outW - ow);
    }
  }
}

/** All og output channels of one depthwise group (input channel xc) for one batch item. */
export function depthwiseGroup(desc: usize, xc: usize, w: usize, out: usize, og: i32, plane: usize): void {
  const ws0 = d(desc, 12), sW = d(desc, 19);
  const pixels = d(desc, 16) * d(desc, 17);
  padPlane(desc, xc, plane);
  for (let o = 0; o < og; o++) {
    const wo = at(w, o * ws0), dst = at(out, o * pixels);
    if (sW == 1) depthwiseChannel(desc, plane, wo, dst, 1);
    else if (sW == 2) depthwiseChannel(desc, plane, wo, dst, 2);
    else depthwiseChannel(desc, plane, wo, dst, sW);
  }
}
