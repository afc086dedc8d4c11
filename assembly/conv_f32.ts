// Float32 conv2d (ONNX Conv: NCHW input, OIHW weight, no bias, stride, zero padding, dilation,
// groups), four ways:
// - 1x1, stride 1, no padding, contiguous rows: a plain gemmF32 per (batch, group), reading the
//   input in place as B [C/g, H*W];
// - one input channel per group (depthwise) with a small kernel or channel multiplier: a direct
//   kernel over a zero-padded copy of the channel, SIMD over output columns; as a GEMM it would
//   have k = kH*kW and m = O/groups, far too small for the 5x8 / 6x8 tiles (see isDepthwise);
// - a few output pixels (at most CONV_DOT_PIXELS): dot products of weight rows with patch rows
//   (conv_dot.ts), the weights read in place (a 129 -> 128 channel k3 conv over 3 pixels:
//   44 -> 11 us);
// - otherwise implicit GEMM: out[o, pix] = sum_q W[o, q] * X^[q, pix] with q = (c, kh, kw). The
//   im2col matrix X^ is never materialised: each KC x NCONV block of it is packed straight from
//   the input into gemmF32Block's micro-panel layout, so the input is read once per block and no
//   scratch the size of the patch matrix is needed.
//
// Descriptor (32 i32 at `desc`):
//   [0..3] N, C, H, W   [4..7] input strides   [8..11] O, Cg, kH, kW   [12..15] weight strides
//   [16..17] outH, outW   [18..19] strideH, strideW   [20..23] pad top, left, bottom, right
//   [24..25] dilationH, dilationW   [26] groups

import { GEMM_F32_KC, GEMM_F32_NR, gemmF32, gemmF32Block, gemmF32BlockScratchBytes, gemmF32ScratchBytes } from './gemm_f32';
import { ceilDiv, copyWeights, d, floorDiv } from './conv_common';
import { at, imax, imin } from './simd';
import { CONV_DOT_PIXELS, convDot, convDotScratchBytes } from './conv_dot';
import { depthwiseGroup, planeCols, planeRows } from './conv_depthwise';

/** Output pixels per packed B block: 512 keeps a KC x 512 panel (512 KiB) in L2. */
const NCONV: i32 = 512;

@inline function isPointwise(desc: usize): bool {
  return d(desc, 10) == 1 && d(desc, 11) == 1 && d(desc, 18) == 1 && d(desc, 19) == 1 &&
    d(desc, 20) == 0 && d(desc, 21) == 0 && d(desc, 16) == d(desc, 2) && d(desc, 17) == d(desc, 3) &&
    d(desc, 7) == 1 && d(desc, 6) == d(desc, 3);
}

/**
 * One input channel per group (depthwise, possibly with a channel multiplier), where the direct
 * kernel wins: small kernels, or a multiplier under 4 on a large output. Large kernels with more
 * output channels per group run as products (k1x16, 16 channels per group: 26 -> 9 us; a
 * k1x256 s128 frame transform, 258 channels: 99 -> 11 us); 5x5 with 4 per group: 286 -> 174 us,
 * with 2 per group 287 -> 311 us.
 */
@inline function isDepthwise(desc: usize): bool {
  return d(desc, 9) == 1 && (d(desc, 10) * d(desc, 11) < 16 || (d(desc, 8) < 4 * d(desc, 26) && d(desc, 16) * d(desc, 17) > CONV_DOT_PIXELS));
}

/**
 * Bytes between packed B panels: at least kc rows of 8 floats, rounded to an odd number of 64-byte
 * lines. packPatches writes one row of every panel per step; with a power-of-two-rich stride
 * (kc = 192: 6 KiB) those writes fell into two L1 sets and evicted each other (0.49 -> 0.35 ms
 * of packing for the 3x3 64-channel 56x56 case).
 */
@inline function panelStride(kc: i32): i32 {
  const lines = (kc * GEMM_F32_NR * 4 + 63) >> 6;
  return (lines | 1) << 6;
}

/** k split into equal blocks of at most GEMM_F32_KC. */
@inline function kBlock(k: i32): i32 {
  const blocks = (k + GEMM_F32_KC - 1) / GEMM_F32_KC;
  return (k + blocks - 1) / blocks;
}

/** Weights flatten to a [O, Cg*kH*kW] matrix with unit column stride. */
@inline function weightsFlat(desc: usize): bool {
  return d(desc, 15) == 1 && d(desc, 14) == d(desc, 11) && d(desc, 13) == d(desc, 10) * d(desc, 11);
}

export function conv2dF32ScratchBytes(desc: usize): i32 {
  const O = d(desc, 8), groups = d(desc, 26);
  const og = O / groups;
  const k = d(desc, 9) * d(desc, 10) * d(desc, 11);
  const pixels = d(desc, 16) * d(desc, 17);
  if (d(desc, 0) <= 0 || O <= 0 || pixels <= 0 || k <= 0) return 0;
  if (isPointwise(desc)) return gemmF32ScratchBytes(og, pixels, k);
  if (isDepthwise(desc)) return (planeRows(desc) * planeCols(desc)) << 2;
  if (pixels <= CONV_DOT_PIXELS) return convDotScratchBytes(desc, weightsFlat(desc));
  const kc = kBlock(k);
  const nc = imin((pixels + 7) & ~7, NCONV);
  const weights = weightsFlat(desc) ? 0 : (og * k + 3) & ~3;
  return panelStride(kc) * (nc >> 3) + (weights << 2) + gemmF32BlockScratchBytes(og, kc);
}

/** out is contiguous [N, O, outH, outW], overwritten. */
export function conv2dF32(desc: usize, x: usize, w: usize, out: usize, scratch: usize): void {
  const N = d(desc, 0), O = d(desc, 8), Cg = d(desc, 9), kH = d(desc, 10), kW = d(desc, 11);
  const groups = d(desc, 26);
  const og = O / groups;
  const pixels = d(desc, 16) * d(desc, 17);
  const k = Cg * kH * kW;
  if (N <= 0 || O <= 0 || pixels <= 0) return;
  if (k <= 0) {
    memory.fill(out, 0, <usize>N * <usize>O * <usize>pixels << 2);
    return;
  }
  const xs0 = d(desc, 4), xs1 = d(desc, 5), ws0 = d(desc, 12);
  if (isPointwise(desc)) {
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        gemmF32(og, pixels, Cg, at(w, g * og * ws0), ws0, d(desc, 13), at(x, n * xs0 + g * Cg * xs1), xs1, 1,
          at(out, (n * O + g * og) * pixels), scratch);
      }
    }
    return;
  }
  if (isDepthwise(desc)) {
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        depthwiseGroup(desc, at(x, n * xs0 + g * xs1), at(w, g * og * ws0), at(out, (n * O + g * og) * pixels), og, scratch);
      }
    }
    return;
  }
  const flat = weightsFlat(desc);
  if (pixels <= CONV_DOT_PIXELS) {
    convDot(desc, x, w, out, scratch, flat);
    return;
  }
  const xLimit = tensorEnd(x, desc, 0, 4);
  const kcMax = kBlock(k);
  const ncMax = imin((pixels + 7) & ~7, NCONV);
  const pb = scratch;
  const wcopy = pb + <usize>(panelStride(kcMax) * (ncMax >> 3));
  const blockScratch = wcopy + (flat ? 0 : <usize>((og * k + 3) & ~3) << 2);
  for (let g = 0; g < groups; g++) {
    let a = at(w, g * og * ws0);
    let aRowStride = ws0;
    if (!flat) {
      copyWeights(desc, a, og, wcopy);
      a = wcopy;
      aRowStride = k;
    }
    for (let n = 0; n < N; n++) {
      const xg = at(x, n * xs0 + g * Cg * xs1);
      const og0 = at(out, (n * O + g * og) * pixels);
      for (let jc = 0; jc < pixels; jc += ncMax) {
        const nc = imin(ncMax, pixels - jc);
        for (let pc = 0; pc < k; pc += kcMax) {
          const kc = imin(kcMax, k - pc);
          packPatches(desc, xg, pc, kc, jc, nc, pb, panelStride(kc), xLimit);
          gemmF32Block(og, nc, kc, at(a, pc), aRowStride, 1, pb, panelStride(kc), at(og0, jc), pixels, pc > 0, blockScratch);
        }
      }
    }
  }
}

/** One past the last byte of the 4-D tensor at `base` with dims at desc[dims..] and strides at desc[strides..]. */
function tensorEnd(base: usize, desc: usize, dims: i32, strides: i32): usize {
  let last = 0;
  for (let i = 0; i < 4; i++) {
    const extent = (d(desc, dims + i) - 1) * d(desc, strides + i);
    if (extent > 0) last += extent;
  }
  return at(base, last + 1);
}

// Spans are written in increasing pixel order, each panel with whole 8-lane stores: lanes past a
// span's end may receive junk that the next span overwrites; lanes before its start, which an
// earlier span already wrote, are kept with a lane mask.

/** Lanes lo..lo+3 of a mask selecting lanes >= start. */
@inline function lanesFrom(start: i32, lo: i32): v128 {
  return i32x4.ge_s(i32x4(lo, lo + 1, lo + 2, lo + 3), i32x4.splat(start));
}

/** Stores v0:v1 to the 8 lanes at slot, keeping lanes below `start`. */
@inline function storeFrom(slot: usize, start: i32, v0: v128, v1: v128): void {
  v128.store(slot, v128.bitselect(v0, v128.load(slot), lanesFrom(start, 0)));
  v128.store(slot, v128.bitselect(v1, v128.load(slot, 16), lanesFrom(start, 4)), 16);
}

/** Zeroes the float of pixel `pix` if it lies in [from, to). */
@inline function zeroPixel(row0: usize, pix: i32, from: i32, to: i32, panelBytes: usize): void {
  if (pix >= from && pix < to) store<f32>(row0 + <usize>(pix >> 3) * panelBytes + (<usize>(pix & 7) << 2), 0);
}

/** Writes `count` zeros to consecutive pixels from `pix` of one packed row. */
@inline function zeroSpan(row0: usize, pix: i32, count: i32, panelBytes: usize): void {
  const end = pix + count;
  let slot = row0 + <usize>(pix >> 3) * panelBytes;
  const zero = f32x4.splat(0);
  if ((pix & 7) != 0) {
    storeFrom(slot, pix & 7, zero, zero);
    pix = (pix & ~7) + 8;
    slot += panelBytes;
  }
  for (; pix < end; pix += 8) {
    v128.store(slot, zero);
    v128.store(slot, zero, 16);
    slot += panelBytes;
  }
}

/** Input values 0..3 of a run `step` (1 or 2) floats apart from src. */
@inline function loadLo(src: usize, step: i32): v128 {
  if (step == 1) return v128.load(src);
  // Step 2: the second load ends at the last element used, never past it.
  return i32x4.shuffle(v128.load(src), v128.load(src, 12), 0, 2, 5, 7);
}

/** Input values 4..7 of a run `step` (1 or 2) floats apart from src. */
@inline function loadHi(src: usize, step: i32): v128 {
  if (step == 1) return v128.load(src, 16);
  return i32x4.shuffle(v128.load(src, 32), v128.load(src, 44), 0, 2, 5, 7);
}

/**
 * copySpan for a constant step of 1 or 2 (inlined per step so no loop tests it): vector stores
 * of whole panels; returns the first pixel it did not write.
 */
@inline function copyRun(slot: usize, pix: i32, end: i32, src: usize, step: i32, panelBytes: usize, srcLimit: usize): i32 {
  const runBytes = <usize>step << 5;
  const lane = pix & 7;
  if (lane != 0) {
    const from = src - (<usize>(lane * step) << 2);
    // A short span's head vector reads past its end: only while inside the input.
    if (from + runBytes > srcLimit) return pix;
    storeFrom(slot, lane, loadLo(from, step), loadHi(from, step));
    src = from + runBytes;
    pix += 8 - lane;
    slot += panelBytes;
  }
  for (; pix + 8 <= end; pix += 8) {
    v128.store(slot, loadLo(src, step));
    v128.store(slot, loadHi(src, step), 16);
    src += runBytes;
    slot += panelBytes;
  }
  if (pix < end && src + runBytes <= srcLimit) {
    v128.store(slot, loadLo(src, step));
    v128.store(slot, loadHi(src, step), 16);
    pix = end;
  }
  return pix;
}

/**
 * Copies `count` input values `step` floats apart, from `src`, to consecutive pixels from `pix`.
 * Vector loads may read up to 7 steps before `src` (inside linear memory: tensors live above
 * 64 KiB) and, at the span's end, past it only while below `srcLimit` (the input's end).
 */
@inline function copySpan(row0: usize, pix: i32, count: i32, src: usize, step: i32, panelBytes: usize, srcLimit: usize): void {
  const end = pix + count;
  const slot0 = row0 + <usize>(pix >> 3) * panelBytes;
  let done = pix;
  if (step == 1) {
    done = copyRun(slot0, pix, end, src, 1, panelBytes, srcLimit);
  } else if (step == 2) {
    done = copyRun(slot0, pix, end, src, 2, panelBytes, srcLimit);
  }
  if (done >= end) return;
  const stepBytes = <usize>step << 2;
  src += <usize>(done - pix) * stepBytes;
  pix = done;
  let slot = row0 + <usize>(pix >> 3) * panelBytes + (<usize>(pix & 7) << 2);
  while (pix < end) {
    store<f32>(slot, load<f32>(src));
    src += stepBytes;
    slot += 4;
    if ((++pix & 7) == 0) slot += panelBytes - 32;
  }
}

/**
 * Packs rows q in [pc, pc+kc) and columns (output pixels) in [jc, jc+nc) of the implicit im2col
 * matrix X^[q, pix] = x[c, oh*sH - padT + kh*dH, ow*sW - padL + kw*dW] (zero outside the input)
 * into GEMM_F32_NR-column micro-panels at dst, `stride` bytes apart; columns past nc in the last panel are zero.
 * xg points at the group's first input channel. Works one output row at a time, so each row
 * splits into at most three spans (zero, copy, zero) and the copy runs with vector loads.
 */
function packPatches(desc: usize, xg: usize, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize, stride: i32, xLimit: usize): void {
  const H = d(desc, 2), W = d(desc, 3), xs1 = d(desc, 5), xs2 = d(desc, 6), xs3 = d(desc, 7);
  const kH = d(desc, 10), kW = d(desc, 11), outW = d(desc, 17);
  const sH = d(desc, 18), sW = d(desc, 19), padT = d(desc, 20), padL = d(desc, 21);
  const dH = d(desc, 24), dW = d(desc, 25);
  const panelBytes = <usize>stride;
  const step = sW * xs3;
  const khw = kH * kW;
  const ohFirst = jc / outW, ohLast = (jc + nc - 1) / outW;
  const padded = (nc + 7) & ~7;
  // Stride 1 with 'same' width over contiguous rows: pixel pix reads input offset pix + a
  // constant per q, so a q row is one long copy plus zeros at the padded borders.
  const linear = sH == 1 && sW == 1 && xs3 == 1 && xs2 == W && outW == W;
  for (let p = 0; p < kc; p++) {
    const q = pc + p;
    const c = q / khw, r = q % khw;
    const kh = r / kW, kw = r % kW;
    const ihOff = kh * dH - padT, iwOff = kw * dW - padL;
    // Output columns whose input column is inside [0, W): [owLo, owEnd).
    const owLo = imin(outW, imax(0, ceilDiv(-iwOff, sW)));
    const owEnd = imax(owLo, imin(outW, floorDiv(W - 1 - iwOff, sW) + 1));
    const xc = at(xg, c * xs1 + iwOff * xs3);
    const row0 = dst + (<usize>p << 5);
    if (linear) {
      // Output rows whose input row is inside [0, H): [ohLo, ohHi]. With no valid column the
      // copy below would read past the input's end: the whole row is zero anyway.
      const ohLo = imax(ohFirst, -ihOff), ohHi = owEnd > owLo ? imin(ohLast, H - 1 - ihOff) : ohLo - 1;
      const pixStart = imin(nc, imax(0, ohLo * outW - jc));
      const pixEnd = imax(pixStart, imin(nc, ohHi * outW + owEnd - jc));
      if (pixStart > 0) zeroSpan(row0, 0, pixStart, panelBytes);
      if (pixEnd > pixStart) {
        copySpan(row0, pixStart, pixEnd - pixStart, at(xc, (jc + pixStart) + ihOff * W), 1, panelBytes, xLimit);
        // The copy ran across row ends; zero the columns whose input column is outside the row.
        if (owLo > 0 || owEnd < outW) {
          for (let oh = ohLo; oh <= ohHi; oh++) {
            const rowPix = oh * outW - jc;
            for (let ow = 0; ow < owLo; ow++) zeroPixel(row0, rowPix + ow, pixStart, pixEnd, panelBytes);
            for (let ow = owEnd; ow < outW; ow++) zeroPixel(row0, rowPix + ow, pixStart, pixEnd, panelBytes);
          }
        }
      }
      if (padded > pixEnd) zeroSpan(row0, pixEnd, padded - pixEnd, panelBytes);
      continue;
    }
    for (let oh = ohFirst; oh <= ohLast; oh++) {
      const rowPix = oh * outW - jc; // block pixel of (oh, 0); negative for a partial first row
      const owA = imax(0, -rowPix), owB = imin(outW, nc - rowPix);
      const ih = oh * sH + ihOff;
      if (<u32>ih >= <u32>H) {
        zeroSpan(row0, rowPix + owA, owB - owA, panelBytes);
        continue;
      }
      const lo = imin(owB, imax(owA, owLo)), hi = imax(lo, imin(owB, owEnd));
      if (lo > owA) zeroSpan(row0, rowPix + owA, lo - owA, panelBytes);
      if (hi > lo) copySpan(row0, rowPix + lo, hi - lo, at(xc, ih * xs2 + lo * step), step, panelBytes, xLimit);
      if (owB > hi) zeroSpan(row0, rowPix + hi, owB - hi, panelBytes);
    }
    if (padded > nc) zeroSpan(row0, nc, padded - nc, panelBytes);
  }
}

// Depthwise path (one input channel per group): the channel is copied once into a zero-padded
// plane in scratch, so the kernel needs no bounds checks and reads any input strides the same way.
// (Splitting the plane into even and odd columns for sW = 2, so taps need no shuffle, measured
// no faster: the split cost what the shuffles did.)
