// Strided copies and dtype conversions. Descriptor as in elementwise.ts: 4 dims of shape, then
// 4 strides of the input (elements). The output is contiguous.

export const DT_F32: i32 = 0;
export const DT_I32: i32 = 1;
export const DT_I8: i32 = 2;
export const DT_U8: i32 = 3;
export const DT_BOOL: i32 = 4;

@inline function dim(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

@inline function elementBytes(dtype: i32): i32 {
  return dtype == DT_F32 || dtype == DT_I32 ? 4 : 1;
}

/** Materialises a strided view of `bytes`-byte elements (1, 2, 4 or 8) into contiguous memory. */
export function copyStrided(bytes: i32, desc: usize, x: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2), n3 = dim(desc, 3);
  const s0 = dim(desc, 4), s1 = dim(desc, 5), s2 = dim(desc, 6), s3 = dim(desc, 7);
  const row = <usize>(n3 * bytes);
  let o = out;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const base = x + <usize>((i0 * s0 + i1 * s1 + i2 * s2) * bytes);
        if (s3 == 1) {
          memory.copy(o, base, row);
        } else if (bytes == 4) {
          for (let i = 0; i < n3; i++) store<u32>(o + (<usize>i << 2), load<u32>(base + (<usize>(i * s3) << 2)));
        } else if (bytes == 1) {
          for (let i = 0; i < n3; i++) store<u8>(o + <usize>i, load<u8>(base + <usize>(i * s3)));
        } else if (bytes == 8) {
          for (let i = 0; i < n3; i++) store<u64>(o + (<usize>i << 3), load<u64>(base + (<usize>(i * s3) << 3)));
        } else {
          for (let i = 0; i < n3; i++) store<u16>(o + (<usize>i << 1), load<u16>(base + (<usize>(i * s3) << 1)));
        }
        o += row;
      }
    }
  }
}

/** JavaScript's ToInt32: truncate, then wrap modulo 2^32 (NaN and infinities give 0). */
@inline function toInt32(x: f64): i32 {
  const t = Math.trunc(x);
  if (Math.abs(t) < 2147483648.0) return <i32>t;
  if (!isFinite(t)) return 0;
  return <i32><i64>(t % 4294967296.0);
}

@inline function readAsF64(dtype: i32, p: usize): f64 {
  if (dtype == DT_F32) return <f64>load<f32>(p);
  if (dtype == DT_I32) return <f64>load<i32>(p);
  if (dtype == DT_I8) return <f64>load<i8>(p);
  return <f64>load<u8>(p);
}

@inline function writeFromF64(dtype: i32, p: usize, v: f64): void {
  if (dtype == DT_F32) store<f32>(p, <f32>v);
  else if (dtype == DT_BOOL) store<u8>(p, v != 0 ? 1 : 0);
  else if (dtype == DT_I32) store<i32>(p, toInt32(v));
  else store<u8>(p, <u8>toInt32(v)); // int8 and uint8 keep the low byte: the wrap of ToInt8/ToUint8
}

/**
 * Converts between float32, int32, int8, uint8 and bool with minnow's cast rules (those of a
 * JavaScript typed-array store): float to int truncates toward zero and wraps; to bool is x != 0.
 */
export function castStrided(from: i32, to: i32, desc: usize, x: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2), n3 = dim(desc, 3);
  const s0 = dim(desc, 4), s1 = dim(desc, 5), s2 = dim(desc, 6), s3 = dim(desc, 7);
  const inBytes = elementBytes(from);
  const outBytes = <usize>elementBytes(to);
  let o = out;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const base = x + <usize>((i0 * s0 + i1 * s1 + i2 * s2) * inBytes);
        for (let i = 0; i < n3; i++) {
          writeFromF64(to, o, readAsF64(from, base + <usize>(i * s3 * inBytes)));
          o += outBytes;
        }
      }
    }
  }
}

/**
 * Gather along one axis of contiguous data: out[a, j, :] = data[a, idx[j], :] for a < outer,
 * j < count, rows of `rowBytes` bytes, idx int32 in [-dim, dim) (negative counts from the end).
 * Checks every index before writing: returns the position of the first one out of range (nothing
 * written), or -1 when done.
 */
export function gatherRows(rowBytes: i32, outer: i32, dim: i32, idx: usize, count: i32, data: usize, out: usize): i32 {
  for (let j = 0; j < count; j++) {
    const r = load<i32>(idx + (<usize>j << 2));
    if (r < -dim || r >= dim) return j;
  }
  const row = <usize>rowBytes;
  for (let a = 0; a < outer; a++) {
    const base = data + <usize>a * <usize>dim * row;
    for (let j = 0; j < count; j++) {
      let r = load<i32>(idx + (<usize>j << 2));
      if (r < 0) r += dim;
      const src = base + <usize>r * row;
      if (rowBytes == 4) {
        store<u32>(out, load<u32>(src));
      } else if (rowBytes == 8) {
        store<u64>(out, load<u64>(src));
      } else {
        memory.copy(out, src, row);
      }
      out += row;
    }
  }
  return -1;
}
