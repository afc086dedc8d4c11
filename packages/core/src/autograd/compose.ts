import { shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { pad, sum } from '../ops/primitives.js';
import { reshape, slice } from '../ops/view.js';

/**
 * Shape plumbing shared by the gradient rules, composed from primitives like everything else so
 * that it runs on every backend.
 */

/**
 * Sums a gradient of a broadcast result back to the shape of the operand that was broadcast: over
 * the leading dims it lacked and over the dims where it had size 1.
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) {
    if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  }
  return reshape(axes.length > 0 ? sum(g, { axes, keepDims: true }) : g, shape);
}

/**
 * Constant (zero) padding where pads are positive, then cropping where they are negative. Padding
 * first means a crop never runs past a short dim that the padding lengthens (pad() alone would
 * crop first).
 */
export function padThenCrop(x: Tensor, pads: readonly (readonly [number, number])[]): Tensor {
  const grow = pads.map(([b, a]) => [Math.max(0, b), Math.max(0, a)] as const);
  const cut = pads.map(([b, a]) => [Math.min(0, b), Math.min(0, a)] as const);
  let out = x;
  if (grow.some(([b, a]) => b > 0 || a > 0)) out = pad(out, grow);
  if (cut.some(([b, a]) => b < 0 || a < 0)) out = pad(out, cut);
  return out;
}

/**
 * Spreads `x` along every dim d so that element i lands at i * factors[d], with zeros between (and
 * factors[d] - 1 zeros after the last): the "zero insertion" behind strided slices and convolutions.
 */
export function interleaveZeros(x: Tensor, factors: readonly number[]): Tensor {
  if (factors.every((f) => f === 1)) return x;
  const split = reshape(x, x.shape.flatMap((d) => [d, 1]));
  const padded = pad(split, x.shape.flatMap((_, d) => [[0, 0] as const, [0, factors[d] - 1] as const]));
  return reshape(padded, x.shape.map((d, i) => d * factors[i]));
}

/**
 * The gradient of a slice: zeros of the input's shape with `g` at the sliced positions. `starts`
 * are the first indices taken (the slice node records them resolved), `steps` may be negative.
 */
export function unslice(g: Tensor, inputShape: readonly number[], starts: readonly number[], steps: readonly number[]): Tensor {
  const counts = g.shape;
  // A negative step visits start, start+step, ...: flip g and it becomes a positive-step slice
  // beginning at the last index visited.
  const flipped = steps.some((s) => s < 0)
    ? slice(g, steps.map((s) => (s < 0 ? -1 : 0)), steps.map(() => null), steps.map((s) => (s < 0 ? -1 : 1)))
    : g;
  const firsts = starts.map((s, d) => (steps[d] < 0 && counts[d] > 0 ? s + (counts[d] - 1) * steps[d] : s));
  const strides = steps.map(Math.abs);
  const spread = interleaveZeros(flipped, strides);
  return padThenCrop(spread, inputShape.map((dim, d) => [firsts[d], dim - firsts[d] - counts[d] * strides[d]] as const));
}
