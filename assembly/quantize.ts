// QuantizeLinear / DequantizeLinear for float32, with per-tensor, per-axis and blocked
// parameters. The JS side presents x (contiguous) as [outer, D, inner] around the quantization
// axis; the parameter (scale, zero point) for element (o, a, i) sits at
// o*ps0 + (a / blockSize)*ps1 + i*ps2 (elements). Runs that share one parameter use SIMD.
//
// Descriptor (i32): [0] outer, [1] D, [2] inner, [3] blockSize, [4..6] scale strides,
// [7..9] zero-point strides, [10] quantized dtype code, [11] qmin, [12] qmax.

export const Q_I8: i32 = 0;
export const Q_U8: i32 = 1;
export const Q_I32: i32 = 2;

@inline function dim(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

@inline function loadQ(code: i32, p: usize, index: i32): i32 {
  if (code == Q_I8) return <i32>load<i8>(p + <usize>index);
  if (code == Q_U8) return <i32>load<u8>(p + <usize>index);
  return load<i32>(p + (<usize>index << 2));
}

/**
 * Four codes: clamping before rounding is exact because the bounds are integers; NaN becomes 0 in
 * the saturating conversion, so NaN quantizes to the zero point.
 */
@inline function quantize4(x: v128, vs: v128, vlo: v128, vhi: v128, vz: v128): v128 {
  const v = f32x4.nearest(f32x4.min(f32x4.max(f32x4.div(x, vs), vlo), vhi));
  return i32x4.add(i32x4.trunc_sat_f32x4_s(v), vz);
}

/** A contiguous run of `n` elements sharing scale `s` and zero point `z`. */
function quantizeRun(x: usize, out: usize, n: i32, s: f32, z: i32, qmin: i32, qmax: i32): void {
  const lo = <f32>(qmin - z);
  const hi = <f32>(qmax - z);
  const vs = f32x4.splat(s);
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const vz = i32x4.splat(z);
  const signed = qmin < 0;
  let i = 0;
  // 16 at a time, narrowed to bytes in two steps: the codes are already within the type's range,
  // so the saturating narrows change nothing.
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    const w0 = i16x8.narrow_i32x4_s(quantize4(v128.load(p), vs, vlo, vhi, vz), quantize4(v128.load(p, 16), vs, vlo, vhi, vz));
    const w1 = i16x8.narrow_i32x4_s(quantize4(v128.load(p, 32), vs, vlo, vhi, vz), quantize4(v128.load(p, 48), vs, vlo, vhi, vz));
    v128.store(out + <usize>i, signed ? i8x16.narrow_i16x8_s(w0, w1) : i8x16.narrow_i16x8_u(w0, w1));
  }
  for (; i + 4 <= n; i += 4) {
    const q = quantize4(v128.load(x + (<usize>i << 2)), vs, vlo, vhi, vz);
    store<u8>(out + <usize>i, <u8>i32x4.extract_lane(q, 0));
    store<u8>(out + <usize>i + 1, <u8>i32x4.extract_lane(q, 1));
    store<u8>(out + <usize>i + 2, <u8>i32x4.extract_lane(q, 2));
    store<u8>(out + <usize>i + 3, <u8>i32x4.extract_lane(q, 3));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2)) / s;
    const q = v != v ? z : <i32>f32.nearest(f32.min(f32.max(v, lo), hi)) + z;
    store<u8>(out + <usize>i, <u8>q);
  }
}

/** out = (x - z) * s over a contiguous run sharing one scale and zero point. */
function dequantizeRun(code: i32, x: usize, out: usize, n: i32, s: f32, z: i32): void {
  const vs = f32x4.splat(s);
  const vz = i32x4.splat(z);
  let i = 0;
  if (code != Q_I32) {
    for (; i + 4 <= n; i += 4) {
      const bytes = v128.load32_zero(x + <usize>i);
      const wide = code == Q_I8
        ? i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(bytes))
        : i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(bytes));
      v128.store(out + (<usize>i << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(wide, vz)), vs));
    }
  }
  for (; i < n; i++) {
    // int32 inputs: x - z can exceed float32's exact range, so subtract in float64 as the reference does.
    const v = code == Q_I32 ? <f64>load<i32>(x + (<usize>i << 2)) - <f64>z : <f64>(loadQ(code, x, i) - z);
    store<f32>(out + (<usize>i << 2), <f32>(v * <f64>s));
  }
}

/**
 * Walks x as [outer, D, inner] in runs that share one scale and zero point and quantizes
 * (float32 -> 8-bit codes) or dequantizes (codes -> float32) each run.
 */
function forEachRun(quantizing: bool, desc: usize, x: usize, scale: usize, zero: usize, out: usize): void {
  const outer = dim(desc, 0), d = dim(desc, 1), inner = dim(desc, 2), block = dim(desc, 3);
  const s0 = dim(desc, 4), s1 = dim(desc, 5), s2 = dim(desc, 6);
  const z0 = dim(desc, 7), z1 = dim(desc, 8), z2 = dim(desc, 9);
  const code = dim(desc, 10), qmin = dim(desc, 11), qmax = dim(desc, 12);
  const xBytes: i32 = quantizing || code == Q_I32 ? 4 : 1;
  const outBytes: i32 = quantizing ? 1 : 4;
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < d; ) {
      const b = a / block;
      if (inner == 1) {
        // Quantization axis innermost: the run is the rest of this block.
        const run = min(block - (a % block), d - a);
        const at = o * d + a;
        applyRun(quantizing, code, x + <usize>(at * xBytes), out + <usize>(at * outBytes), run, scale, o * s0 + b * s1, zero, o * z0 + b * z1, qmin, qmax);
        a += run;
      } else if (s2 == 0 && z2 == 0) {
        const at = (o * d + a) * inner;
        applyRun(quantizing, code, x + <usize>(at * xBytes), out + <usize>(at * outBytes), inner, scale, o * s0 + b * s1, zero, o * z0 + b * z1, qmin, qmax);
        a++;
      } else {
        for (let i = 0; i < inner; i++) {
          const at = (o * d + a) * inner + i;
          applyRun(quantizing, code, x + <usize>(at * xBytes), out + <usize>(at * outBytes), 1, scale, o * s0 + b * s1 + i * s2, zero, o * z0 + b * z1 + i * z2, qmin, qmax);
        }
        a++;
      }
    }
  }
}

@inline function applyRun(quantizing: bool, code: i32, x: usize, out: usize, n: i32, scale: usize, scaleIndex: i32, zero: usize, zeroIndex: i32, qmin: i32, qmax: i32): void {
  const s = load<f32>(scale + (<usize>scaleIndex << 2));
  const z = loadQ(code, zero, zeroIndex);
  if (quantizing) quantizeRun(x, out, n, s, z, qmin, qmax);
  else dequantizeRun(code, x, out, n, s, z);
}

export function quantizeF32(desc: usize, x: usize, scale: usize, zero: usize, out: usize): void {
  forEachRun(true, desc, x, scale, zero, out);
}

export function dequantizeF32(desc: usize, x: usize, scale: usize, zero: usize, out: usize): void {
  forEachRun(false, desc, x, scale, zero, out);
}
