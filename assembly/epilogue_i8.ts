// The epilogues of the int8 products (matmulIntegerScaled): what happens to an int32 accumulator
// between the k loop and memory, so that no int32 matrix is ever written.
//
//   MODE_I32  store acc as it is (matmulInteger);
//   MODE_F32  y = f32(acc + bias) * scale, stored as float32 (onnxruntime's QGemm without y_scale);
//   MODE_Q8   y as above, clamped to [qmin - z, qmax - z] (a NaN to the lower bound), rounded half
//             to even, + z, stored as int8 or uint8 (onnxruntime's MlasRequantizeOutput, operand
//             order included).
//
// acc + bias wraps in int32, f32(...) rounds to nearest even (exact below 2^24), and the multiply
// is float32's: bit for bit backend-js's reference. Scale and bias are per column (vectors loaded
// with the columns) or per row (splatted): the callers pass them already laid out one per column
// (padded to a multiple of 8) or one per row (padded to a multiple of 4) by prepareParams.

export const MODE_I32: i32 = 0;
export const MODE_F32: i32 = 1;
export const MODE_Q8: i32 = 2;

// Per-call constants, splatted once into scratch (EPI_BYTES).
const EPI_LO: i32 = 0;
const EPI_HI: i32 = 16;
const EPI_MAGIC: i32 = 32;
const EPI_ZERO: i32 = 48;
export const EPI_BYTES: i32 = 64;

/** The requantization constants at `ep`: bounds, 1.5 * 2^23 (the f32 add rounds to even), and z minus the magic's bits. */
export function prepareRequant(outZero: i32, outSigned: bool, ep: usize): void {
  const qmin = outSigned ? -128 : 0;
  const qmax = outSigned ? 127 : 255;
  v128.store(ep, f32x4.splat(<f32>(qmin - outZero)), EPI_LO);
  v128.store(ep, f32x4.splat(<f32>(qmax - outZero)), EPI_HI);
  v128.store(ep, f32x4.splat(12582912.0), EPI_MAGIC);
  v128.store(ep, i32x4.splat(outZero - 0x4b400000), EPI_ZERO);
}

/**
 * Scale (f32) and bias (i32) for every row (perRow, `count` = m padded to 4) or column (`count` =
 * n padded to 8), from views with element strides (0 for a scalar); padding entries are 0. Bias
 * address 0: no bias.
 */
export function prepareParams(
  valid: i32, count: i32, scale: usize, scaleStride: i32, bias: usize, biasStride: i32, dstScale: usize, dstBias: usize,
): void {
  for (let j = 0; j < count; j++) {
    let s: f32 = 0, b: i32 = 0;
    if (j < valid) {
      s = load<f32>(scale + (<usize>(j * scaleStride) << 2));
      if (bias != 0) b = load<i32>(bias + (<usize>(j * biasStride) << 2));
    }
    store<f32>(dstScale + (<usize>j << 2), s);
    store<i32>(dstBias + (<usize>j << 2), b);
  }
}

/** 8 accumulators of one row (x0, x1) through the epilogue to `d`: scales s0, s1 and biases b0, b1 lane by lane. */
@inline export function storeRow(mode: i32, x0: v128, x1: v128, s0: v128, s1: v128, b0: v128, b1: v128, signed: bool, d: usize, ep: usize): void {
  if (mode == MODE_I32) {
    v128.store(d, x0);
    v128.store(d, x1, 16);
    return;
  }
  let y0 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(x0, b0)), s0);
  let y1 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(x1, b1)), s1);
  if (mode == MODE_F32) {
    v128.store(d, y0);
    v128.store(d, y1, 16);
    return;
  }
  // pmax/pmin are single maxps/minps (max/min cost V8 a NaN-propagating sequence); pmax(lo, NaN) is lo.
  const lo = v128.load(ep, EPI_LO), hi = v128.load(ep, EPI_HI), magic = v128.load(ep, EPI_MAGIC);
  const zero = v128.load(ep, EPI_ZERO);
  y0 = i32x4.add(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, y0)), magic), zero);
  y1 = i32x4.add(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, y1)), magic), zero);
  const w = i16x8.narrow_i32x4_s(y0, y1);
  v128.store64_lane(d, signed ? i8x16.narrow_i16x8_s(w, w) : i8x16.narrow_i16x8_u(w, w), 0);
}

/** One accumulator through the epilogue to `d`. */
@inline export function storeOne(mode: i32, acc: i32, s: f32, b: i32, signed: bool, d: usize, ep: usize): void {
  if (mode == MODE_I32) {
    store<i32>(d, acc);
    return;
  }
  let y = <f32>(acc + b) * s;
  if (mode == MODE_F32) {
    store<f32>(d, y);
    return;
  }
  const lo = f32x4.extract_lane(v128.load(ep, EPI_LO), 0);
  const hi = f32x4.extract_lane(v128.load(ep, EPI_HI), 0);
  if (!(y >= lo)) y = lo;
  else if (y > hi) y = hi;
  const q = <i32>f32.nearest(y) + (i32x4.extract_lane(v128.load(ep, EPI_ZERO), 0) + 0x4b400000);
  store<u8>(d, <u8>q);
}

/**
 * The epilogue over an int32 matrix [m, n] at `acc` (row-major) into `out`: for the products that
 * finish their accumulators in memory (the thin path). Params as prepareParams lays them out.
 */
export function epilogueRows(
  mode: i32, m: i32, n: i32, acc: usize, perRow: bool, scales: usize, biases: usize, signed: bool, out: usize, ep: usize,
): void {
  // One branch here, so that each inlined body below runs with its mode and layout as constants.
  if (mode == MODE_F32) {
    if (perRow) epilogueBody(MODE_F32, true, m, n, acc, scales, biases, signed, out, ep);
    else epilogueBody(MODE_F32, false, m, n, acc, scales, biases, signed, out, ep);
  } else if (perRow) {
    epilogueBody(MODE_Q8, true, m, n, acc, scales, biases, signed, out, ep);
  } else {
    epilogueBody(MODE_Q8, false, m, n, acc, scales, biases, signed, out, ep);
  }
}

@inline function epilogueBody(
  mode: i32, perRow: bool, m: i32, n: i32, acc: usize, scales: usize, biases: usize, signed: bool, out: usize, ep: usize,
): void {
  const outBytes: usize = mode == MODE_F32 ? 4 : 1;
  const n8 = n & ~7;
  for (let i = 0; i < m; i++) {
    const src = acc + (<usize>(i * n) << 2);
    const dst = out + <usize>(i * n) * outBytes;
    let rs = f32x4.splat(0), rb = i32x4.splat(0);
    if (perRow) {
      rs = v128.load32_splat(scales + (<usize>i << 2));
      rb = v128.load32_splat(biases + (<usize>i << 2));
    }
    for (let j = 0; j < n8; j += 8) {
      const x0 = v128.load(src + (<usize>j << 2)), x1 = v128.load(src + (<usize>j << 2), 16);
      if (perRow) {
        storeRow(mode, x0, x1, rs, rs, rb, rb, signed, dst + <usize>j * outBytes, ep);
      } else {
        const p = <usize>j << 2;
        storeRow(mode, x0, x1, v128.load(scales + p), v128.load(scales + p, 16), v128.load(biases + p), v128.load(biases + p, 16), signed, dst + <usize>j * outBytes, ep);
      }
    }
    for (let j = n8; j < n; j++) {
      const c = perRow ? i : j;
      storeOne(mode, load<i32>(src + (<usize>j << 2)), load<f32>(scales + (<usize>c << 2)), load<i32>(biases + (<usize>c << 2)), signed, dst + <usize>j * outBytes, ep);
    }
  }
}
