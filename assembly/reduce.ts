// Float32 reductions. The JS side permutes the reduced axes last and collapses dims, so the
// kernel sees [outer (up to 3 dims)] x [inner (up to 3 dims)] with strides for each.
//
// Descriptor (i32 at `desc`):
//   [0..2] outer shape, [3..5] outer strides, [6..8] inner shape, [9..11] inner strides
// The output holds one value per outer index, contiguous.

export const REDUCE_SUM: i32 = 0;
export const REDUCE_MAX: i32 = 1;

@inline function dim(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

/** One reduction over a contiguous run: 4 (sum: 8) SIMD partial results, combined at the end. */
@inline function reduceRun(op: i32, x: usize, n: i32, acc: f32): f32 {
  let i = 0;
  if (op == REDUCE_SUM) {
    let v0 = f32x4.splat(0);
    let v1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      v0 = f32x4.add(v0, v128.load(x + (<usize>i << 2)));
      v1 = f32x4.add(v1, v128.load(x + (<usize>i << 2), 16));
    }
    v0 = f32x4.add(v0, v1);
    acc += (f32x4.extract_lane(v0, 0) + f32x4.extract_lane(v0, 1)) + (f32x4.extract_lane(v0, 2) + f32x4.extract_lane(v0, 3));
    for (; i < n; i++) acc += load<f32>(x + (<usize>i << 2));
  } else {
    let v = f32x4.splat(acc);
    for (; i + 4 <= n; i += 4) v = f32x4.max(v, v128.load(x + (<usize>i << 2)));
    acc = f32.max(f32.max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), f32.max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
    for (; i < n; i++) acc = f32.max(acc, load<f32>(x + (<usize>i << 2)));
  }
  return acc;
}

@inline function reduceStrided(op: i32, x: usize, n: i32, stride: i32, acc: f32): f32 {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>(i * stride) << 2));
    acc = op == REDUCE_SUM ? acc + v : f32.max(acc, v);
  }
  return acc;
}

@inline function reduceInner(op: i32, x: usize, desc: usize): f32 {
  const n0 = dim(desc, 6), n1 = dim(desc, 7), n2 = dim(desc, 8);
  const s0 = dim(desc, 9), s1 = dim(desc, 10), s2 = dim(desc, 11);
  let acc: f32 = op == REDUCE_SUM ? 0 : -Infinity;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      const base = x + (<usize>(i0 * s0 + i1 * s1) << 2);
      acc = s2 == 1 ? reduceRun(op, base, n2, acc) : reduceStrided(op, base, n2, s2, acc);
    }
  }
  return acc;
}

function reduceSumAll(x: usize, desc: usize): f32 { return reduceInner(REDUCE_SUM, x, desc); }
function reduceMaxAll(x: usize, desc: usize): f32 { return reduceInner(REDUCE_MAX, x, desc); }

/**
 * Column reduction: when the kept innermost dim is contiguous and the reduced dims are not (e.g.
 * summing [rows, cols] over rows, as bias gradients do), walk the reduced elements in memory
 * order and combine whole output rows with SIMD instead of striding down each column.
 */
function reduceColumns(op: i32, desc: usize, x: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2);
  const s0 = dim(desc, 3), s1 = dim(desc, 4);
  const m0 = dim(desc, 6), m1 = dim(desc, 7), m2 = dim(desc, 8);
  const t0 = dim(desc, 9), t1 = dim(desc, 10), t2 = dim(desc, 11);
  const init: f32 = op == REDUCE_SUM ? 0 : -Infinity;
  const vinit = f32x4.splat(init);
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      const row = out + (<usize>((i0 * n1 + i1) * n2) << 2);
      let j = 0;
      for (; j + 4 <= n2; j += 4) v128.store(row + (<usize>j << 2), vinit);
      for (; j < n2; j++) store<f32>(row + (<usize>j << 2), init);
      for (let r0 = 0; r0 < m0; r0++) {
        for (let r1 = 0; r1 < m1; r1++) {
          for (let r2 = 0; r2 < m2; r2++) {
            const src = x + (<usize>(i0 * s0 + i1 * s1 + r0 * t0 + r1 * t1 + r2 * t2) << 2);
            j = 0;
            if (op == REDUCE_SUM) {
              for (; j + 4 <= n2; j += 4) {
                const at = <usize>j << 2;
                v128.store(row + at, f32x4.add(v128.load(row + at), v128.load(src + at)));
              }
              for (; j < n2; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) + load<f32>(src + (<usize>j << 2)));
            } else {
              for (; j + 4 <= n2; j += 4) {
                const at = <usize>j << 2;
                v128.store(row + at, f32x4.max(v128.load(row + at), v128.load(src + at)));
              }
              for (; j < n2; j++) store<f32>(row + (<usize>j << 2), f32.max(load<f32>(row + (<usize>j << 2)), load<f32>(src + (<usize>j << 2))));
            }
          }
        }
      }
    }
  }
}

export function reduceF32(op: i32, desc: usize, x: usize, out: usize): void {
  const n0 = dim(desc, 0), n1 = dim(desc, 1), n2 = dim(desc, 2);
  const s0 = dim(desc, 3), s1 = dim(desc, 4), s2 = dim(desc, 5);
  if (s2 == 1 && n2 >= 4 && dim(desc, 11) != 1) {
    reduceColumns(op, desc, x, out);
    return;
  }
  let o = out;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const base = x + (<usize>(i0 * s0 + i1 * s1 + i2 * s2) << 2);
        store<f32>(o, op == REDUCE_SUM ? reduceSumAll(base, desc) : reduceMaxAll(base, desc));
        o += 4;
      }
    }
  }
}
