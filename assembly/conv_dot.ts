// Float32 conv2d with a small output (a few pixels per image: 1-D convolutions over short frames,
// the last stages of a CNN) as dot products: out[o, pix] = W[o, :] . P[pix, :], where P holds each
// output pixel's receptive field (c, kh, kw) as one contiguous row. P is small (pixels x Cg*kH*kW)
// and is built per image; the weights, the large operand, are read in place. The implicit GEMM of
// conv_f32.ts would pad the pixels to its 8-wide tiles and repack all weights on every call.
// Descriptor layout: see conv_f32.ts.

import { ceilDiv, copyWeights, d, floorDiv } from './conv_common';
import { at, imax, imin } from './simd';
import { gemmDotF32 } from './gemm_thin';

/**
 * Output pixels per image at or below which conv2dF32 runs convDot. At 16 the implicit GEMM was
 * as fast or faster on the SIMD128 build (3x3 64 -> 64 over 4x4: 54 -> 59 us by dot products).
 */
export const CONV_DOT_PIXELS: i32 = 8;

/** Bytes of scratch convDot needs: the patch rows, then a contiguous copy of one group's weights if needed. */
export function convDotScratchBytes(desc: usize, weightsFlat: bool): i32 {
  const og = d(desc, 8) / d(desc, 26);
  const k = d(desc, 9) * d(desc, 10) * d(desc, 11);
  const pixels = d(desc, 16) * d(desc, 17);
  return (pixels * k + (weightsFlat ? 0 : og * k)) << 2;
}

/**
 * Writes P[pix, q] = x[c, oh*sH - padT + kh*dH, ow*sW - padL + kw*dW] (zero outside the input),
 * q = (c*kH + kh)*kW + kw, for all output pixels pix = oh*outW + ow of one image and group (xg:
 * the group's first input channel), as contiguous rows of k = Cg*kH*kW floats at dst.
 */
function packPatchRows(desc: usize, xg: usize, dst: usize): void {
  const H = d(desc, 2), W = d(desc, 3), xs1 = d(desc, 5), xs2 = d(desc, 6), xs3 = d(desc, 7);
  const Cg = d(desc, 9), kH = d(desc, 10), kW = d(desc, 11), outH = d(desc, 16), outW = d(desc, 17);
  const sH = d(desc, 18), sW = d(desc, 19), padT = d(desc, 20), padL = d(desc, 21);
  const dH = d(desc, 24), dW = d(desc, 25);
  const tap = dW * xs3; // input elements between consecutive kw
  const rowBytes = <usize>kW << 2;
  for (let oh = 0; oh < outH; oh++) {
    const ih0 = oh * sH - padT;
    for (let ow = 0; ow < outW; ow++) {
      const iw0 = ow * sW - padL;
      // Taps whose input column is inside [0, W): [kwLo, kwHi).
      const kwLo = imin(kW, imax(0, ceilDiv(-iw0, dW)));
      const kwHi = imax(kwLo, imin(kW, floorDiv(W - 1 - iw0, dW) + 1));
      for (let c = 0; c < Cg; c++) {
        for (let kh = 0; kh < kH; kh++) {
          const ih = ih0 + kh * dH;
          if (<u32>ih >= <u32>H || kwHi == kwLo) {
            memory.fill(dst, 0, rowBytes);
          } else {
            if (kwLo > 0) memory.fill(dst, 0, <usize>kwLo << 2);
            const src = at(xg, c * xs1 + ih * xs2 + (iw0 + kwLo * dW) * xs3);
            const count = kwHi - kwLo;
            const out = dst + (<usize>kwLo << 2);
            if (tap == 1 && count >= 8) {
              memory.copy(out, src, <usize>count << 2);
            } else {
              for (let t = 0; t < count; t++) store<f32>(out + (<usize>t << 2), load<f32>(at(src, t * tap)));
            }
            if (kwHi < kW) memory.fill(dst + (<usize>kwHi << 2), 0, <usize>(kW - kwHi) << 2);
          }
          dst += rowBytes;
        }
      }
    }
  }
}

/** conv2dF32 for outputs of at most CONV_DOT_PIXELS pixels; out contiguous [N, O, outH, outW]. */
export function convDot(desc: usize, x: usize, w: usize, out: usize, scratch: usize, weightsFlat: bool): void {
  const N = d(desc, 0), O = d(desc, 8), Cg = d(desc, 9), groups = d(desc, 26);
  const og = O / groups;
  const k = Cg * d(desc, 10) * d(desc, 11);
  const pixels = d(desc, 16) * d(desc, 17);
  const xs0 = d(desc, 4), xs1 = d(desc, 5), ws0 = d(desc, 12);
  const patches = scratch;
  const wcopy = scratch + (<usize>(pixels * k) << 2);
  for (let g = 0; g < groups; g++) {
    let a = at(w, g * og * ws0);
    let lda = ws0;
    if (!weightsFlat) {
      copyWeights(desc, a, og, wcopy);
      a = wcopy;
      lda = k;
    }
    for (let n = 0; n < N; n++) {
      packPatchRows(desc, at(x, n * xs0 + g * Cg * xs1), patches);
      gemmDotF32(og, pixels, k, a, lda, patches, k, at(out, (n * O + g * og) * pixels), pixels);
    }
  }
}
