import fc from 'fast-check';
import * as m from '@minnow/core';
import type { Result } from './compare.js';

/**
 * Random shapes, views and data for the parity cases, and `both`, which runs one op on the
 * reference backend and on the backend under test over the same (viewed) inputs.
 */

export type ViewOp =
  | { kind: 'none' }
  | { kind: 'permute'; axes: number[] }
  | { kind: 'slice'; starts: number[]; steps: number[] }
  | { kind: 'expand'; dim: number; size: number }
  | { kind: 'expandTo'; shape: number[] };

/** A random shape: rank 0..4, dims 0..9 (empty, size 1, and odd sizes that miss a SIMD width). */
export const shapeArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 0, maxLength: 4 });

/** A view that may change the shape: a permutation, a slice with steps 1, 2 or -1, or an expand of a size-1 dim. */
export const viewArb = (rank: number): fc.Arbitrary<ViewOp> =>
  rank === 0
    ? fc.constant<ViewOp>({ kind: 'none' })
    : fc.oneof(
        fc.constant<ViewOp>({ kind: 'none' }),
        fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank }).map((axes): ViewOp => ({ kind: 'permute', axes })),
        fc.tuple(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: rank, maxLength: rank }), fc.array(fc.constantFrom(1, 2, -1), { minLength: rank, maxLength: rank }))
          .map(([starts, steps]): ViewOp => ({ kind: 'slice', starts, steps })),
        fc.tuple(fc.integer({ min: 0, max: rank - 1 }), fc.integer({ min: 0, max: 5 })).map(([dim, size]): ViewOp => ({ kind: 'expand', dim, size })),
      );

export function applyView(t: m.Tensor, view: ViewOp): m.Tensor {
  switch (view.kind) {
    case 'none':
      return m.reshape(t, t.shape);
    case 'permute':
      return m.permute(t, view.axes);
    case 'slice':
      return m.slice(
        t,
        t.shape.map((d, i) => (view.steps[i] > 0 ? Math.min(view.starts[i], d) : d === 0 ? 0 : d - 1 - Math.min(view.starts[i], d - 1))),
        t.shape.map(() => null),
        view.steps,
      );
    case 'expand': {
      if (t.shape[view.dim] !== 1) return m.reshape(t, t.shape);
      const shape = [...t.shape];
      shape[view.dim] = view.size;
      return m.expand(t, shape);
    }
    case 'expandTo':
      return m.expand(t, view.shape);
  }
}

/** Layouts that keep a tensor's logical shape: contiguous, transposed, reversed, strided (step 2), broadcast. */
export type Layout = 'contiguous' | 'transposed' | 'reversed' | 'strided' | 'broadcast';
export const layoutArb: fc.Arbitrary<Layout> = fc.constantFrom('contiguous', 'transposed', 'reversed', 'strided', 'broadcast');

/** The base shape and view that realise `shape` in `layout` (broadcast: odd-numbered dims come from size 1). */
export function realise(shape: readonly number[], layout: Layout): { base: number[]; view: ViewOp } {
  const rank = shape.length;
  switch (layout) {
    case 'contiguous':
      return { base: [...shape], view: { kind: 'none' } };
    case 'transposed':
      return { base: [...shape].reverse(), view: { kind: 'permute', axes: [...shape.keys()].reverse() } };
    case 'reversed':
      return { base: [...shape], view: { kind: 'slice', starts: shape.map(() => 0), steps: shape.map(() => -1) } };
    case 'strided':
      return { base: shape.map((d) => 2 * d), view: { kind: 'slice', starts: shape.map(() => 0), steps: shape.map(() => 2) } };
    case 'broadcast':
      return rank === 0 ? { base: [], view: { kind: 'none' } } : { base: shape.map((d, i) => (i % 2 === 1 ? 1 : d)), view: { kind: 'expandTo', shape: [...shape] } };
  }
}

/** n values uniform in `range`, rounded for integer dtypes (stored the way a typed array stores them). */
export function values(n: number, rng: m.Random, range: readonly [number, number], dtype: m.DType): m.TypedArray {
  const out = m.allocateArray(dtype, n);
  for (let i = 0; i < n; i++) {
    const v = range[0] + (range[1] - range[0]) * rng.uniform();
    out[i] = dtype === 'float32' || dtype === 'float64' ? v : Math.round(v);
  }
  return out;
}

/** Host values converted the way a typed-array store converts them (the cast reference). */
export function castOnHost(source: ArrayLike<number>, dtype: m.DType): m.TypedArray {
  const out = m.allocateArray(dtype, source.length);
  for (let i = 0; i < source.length; i++) out[i] = dtype === 'bool' ? (source[i] !== 0 ? 1 : 0) : Math.trunc(source[i]);
  return out;
}

export interface Input {
  readonly data: m.TypedArray;
  readonly shape: readonly number[];
  readonly dtype: m.DType;
  readonly view?: ViewOp;
}

/** Runs `op` on 'js' and on `backend` over the same viewed inputs, freeing everything but the host copies. */
export function both(backend: string, inputs: readonly Input[], op: (ts: m.Tensor[]) => m.Tensor): { expected: Result; got: Result } {
  return m.scope(() => {
    const run = (name: string): Result => {
      const ts = inputs.map((i) => applyView(m.fromArray(i.data, [...i.shape], { dtype: i.dtype, backend: name }), i.view ?? { kind: 'none' }));
      const out = op(ts);
      return { data: out.dataSync(), shape: [...out.shape], dtype: out.dtype };
    };
    return { expected: run('js'), got: run(backend) };
  });
}
