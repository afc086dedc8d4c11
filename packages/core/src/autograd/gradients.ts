import type { DType } from '../dtype.js';
import { arange, ones } from '../ops/creation.js';
import {
  add, cast, dequantize, div, equal, less, log, matmul, maximum, mul, neg, pad, pow, sign, sub, sum, where,
  type QuantizationAxis,
} from '../ops/primitives.js';
import type { PrimOp, PrimitiveAttrs } from '../ops/table.js';
import { expand, permute, reshape, slice, transpose } from '../ops/view.js';
import type { Tensor } from '../tensor.js';
import { sumTo, unslice } from './compose.js';
import { conv2dInputGrad, conv2dWeightGrad } from './conv.js';
import { installGradientRules, type SavePolicy } from './graph.js';
import { spmmGradient } from './sparse.js';

/**
 * One gradient rule per primitive, kernel and view ops alike: the table is typed over PrimOp, so a
 * primitive without a rule does not compile. Rules are written with the public ops (primitives and
 * composed math), never with buffers, so every backend that runs the forward pass also trains.
 *
 * Conventions:
 * - A rule gets the gradient of the op's output and returns one gradient per input, each of that
 *   input's shape and dtype, or null where no gradient flows: for inputs that need none
 *   (`needs[i]` false: rules skip that work), for integer and bool inputs, and for ops with zero
 *   derivative almost everywhere (sign, floor, round), which are treated as non-differentiable.
 *   Ops with integer or bool outputs (cmplt, cmpeq, cast to an integer, matmulInteger, quantize)
 *   are never recorded; their rules exist, return null, and say so.
 * - Broadcast operands get the gradient summed back to their own shape.
 * - Where the derivative is ambiguous the rule picks: elementwise max/min and reduceMax split the
 *   gradient equally among tied candidates (so relu(x) = max(x, 0) has derivative 1/2 at 0);
 *   abs has derivative 0 at 0; d(a^b)/db is 0 where a = 0.
 * - Rules run with grad mode off: gradients of gradients are not recorded.
 */

export interface GradientContext<K extends PrimOp> {
  readonly attrs: PrimitiveAttrs[K];
  /** The gradient of the output (its shape and dtype). */
  readonly grad: Tensor;
  readonly inputShapes: readonly (readonly number[])[];
  readonly inputDTypes: readonly DType[];
  readonly outputShape: readonly number[];
  /** Whether input i needs a gradient; a rule may return null for those that do not. */
  readonly needs: readonly boolean[];
  /** Forward input i, as the op received it (before broadcasting). Only inputs the save policy named. */
  input(i: number): Tensor;
  /** The forward output, if the save policy named it. */
  output(): Tensor;
}

export interface GradientRule<K extends PrimOp> {
  /** Which forward values backward reads, given which inputs need a gradient: the tape keeps only these. */
  readonly save: SavePolicy;
  readonly backward: (ctx: GradientContext<K>) => readonly (Tensor | null)[];
}

const NOTHING: SavePolicy = () => ({ inputs: [], output: false });
const OUTPUT: SavePolicy = () => ({ inputs: [], output: true });
const INPUT0: SavePolicy = () => ({ inputs: [0], output: false });
/** Each of two inputs' gradients needs the other input (mul, matmul, conv2d). */
const CROSSED: SavePolicy = (needs) => ({ inputs: [...(needs[1] ? [0] : []), ...(needs[0] ? [1] : [])], output: false });

/** Runs `fns[i]` for the inputs that need a gradient. */
function each(needs: readonly boolean[], ...fns: ((() => Tensor) | null)[]): (Tensor | null)[] {
  return fns.map((fn, i) => (needs[i] && fn ? fn() : null));
}

const nulls = (n: number) => (): null[] => new Array<null>(n).fill(null);

/** 1 where `x` equals `out` (x broadcast), else 0, in `dtype`. */
const hits = (x: Tensor, out: Tensor, dtype: DType): Tensor => cast(equal(x, out), dtype);

/** Elementwise max/min: each input gets its share of the gradient where it attains the result; ties split it. */
const extremum: GradientRule<'max' | 'min'> = {
  save: () => ({ inputs: [0, 1], output: true }),
  backward: ({ grad, needs, inputShapes, input, output }) => {
    const dtype = grad.dtype;
    const a = hits(input(0), output(), dtype);
    const b = hits(input(1), output(), dtype);
    // Where the result is NaN neither input attains it; the floor of 1 keeps that gradient 0, not NaN.
    const share = div(grad, maximum(add(a, b), 1));
    return each(needs, () => sumTo(mul(share, a), inputShapes[0]), () => sumTo(mul(share, b), inputShapes[1]));
  },
};

/** The QuantizationAxis that dequantize was called with, recovered from its resolved attrs and shapes. */
function quantizationOf(xShape: readonly number[], scaleShape: readonly number[], attrs: PrimitiveAttrs['dequantize']): QuantizationAxis {
  if (scaleShape.reduce((a, b) => a * b, 1) === 1) return {};
  const blocked = scaleShape.length === xShape.length && (xShape.length > 1 || attrs.blockSize > 1);
  return blocked ? { axis: attrs.axis, blockSize: attrs.blockSize } : { axis: attrs.axis };
}

/** Sums `t` (x's shape) over the elements each scale value covers: everything, all but the axis, or blocks. */
function sumPerScale(t: Tensor, scaleShape: readonly number[], q: QuantizationAxis): Tensor {
  if (q.axis === undefined) return reshape(sum(t), scaleShape);
  const axis = q.axis;
  if (q.blockSize === undefined) return reshape(sumTo(t, t.shape.map((d, i) => (i === axis ? d : 1))), scaleShape);
  const blocks = scaleShape[axis];
  const size = q.blockSize;
  const padded = pad(t, t.shape.map((d, i) => (i === axis ? [0, blocks * size - d] : [0, 0]) as [number, number]));
  const split = reshape(padded, [...t.shape.slice(0, axis), blocks, size, ...t.shape.slice(axis + 1)]);
  return sum(split, { axes: axis + 1 });
}

export const GRADIENTS: { readonly [K in PrimOp]: GradientRule<K> } = {
  neg: { save: NOTHING, backward: ({ grad }) => [neg(grad)] },
  exp: { save: OUTPUT, backward: ({ grad, output }) => [mul(grad, output())] },
  log: { save: INPUT0, backward: ({ grad, input }) => [div(grad, input(0))] },
  sqrt: { save: OUTPUT, backward: ({ grad, output }) => [div(grad, mul(output(), 2))] },
  reciprocal: { save: OUTPUT, backward: ({ grad, output }) => [neg(mul(grad, mul(output(), output())))] },
  tanh: { save: OUTPUT, backward: ({ grad, output }) => [mul(grad, sub(1, mul(output(), output())))] },
  abs: { save: INPUT0, backward: ({ grad, input }) => [mul(grad, sign(input(0)))] },
  // Zero derivative almost everywhere: treated as non-differentiable, no gradient flows.
  sign: { save: NOTHING, backward: nulls(1) },
  floor: { save: NOTHING, backward: nulls(1) },
  round: { save: NOTHING, backward: nulls(1) },
  // Float to float (contiguous() and clone() included) passes the gradient through, converted
  // back; from an integer or bool input, or to one (never recorded), nothing flows.
  cast: {
    save: NOTHING,
    backward: ({ grad, needs, inputDTypes }) => each(needs, () => (grad.dtype === inputDTypes[0] ? grad : cast(grad, inputDTypes[0]))),
  },

  add: { save: NOTHING, backward: ({ grad, needs, inputShapes }) => each(needs, () => sumTo(grad, inputShapes[0]), () => sumTo(grad, inputShapes[1])) },
  sub: { save: NOTHING, backward: ({ grad, needs, inputShapes }) => each(needs, () => sumTo(grad, inputShapes[0]), () => sumTo(neg(grad), inputShapes[1])) },
  mul: {
    save: CROSSED,
    backward: ({ grad, needs, inputShapes, input }) =>
      each(needs, () => sumTo(mul(grad, input(1)), inputShapes[0]), () => sumTo(mul(grad, input(0)), inputShapes[1])),
  },
  div: {
    // d(a/b)/db = -(a/b)/b: the output saves keeping a.
    save: (needs) => ({ inputs: [1], output: needs[1] }),
    backward: ({ grad, needs, inputShapes, input, output }) =>
      each(needs, () => sumTo(div(grad, input(1)), inputShapes[0]), () => sumTo(neg(div(mul(grad, output()), input(1))), inputShapes[1])),
  },
  max: extremum,
  min: extremum,
  pow: {
    save: (needs) => ({ inputs: [0, 1], output: needs[1] }),
    backward: ({ grad, needs, inputShapes, input, output }) => {
      const [a, b] = [input(0), input(1)];
      return each(
        needs,
        () => sumTo(mul(grad, mul(b, pow(a, sub(b, 1)))), inputShapes[0]),
        // a^b log a, with 0 at a = 0 (its limit for b > 0) rather than 0 * -inf = NaN.
        () => sumTo(mul(grad, where(equal(a, 0), 0, mul(output(), log(a)))), inputShapes[1]),
      );
    },
  },
  cmplt: { save: NOTHING, backward: nulls(2) },
  cmpeq: { save: NOTHING, backward: nulls(2) },
  where: {
    save: INPUT0,
    backward: ({ grad, needs, inputShapes, input }) =>
      each(needs, null, () => sumTo(where(input(0), grad, 0), inputShapes[1]), () => sumTo(where(input(0), 0, grad), inputShapes[2])),
  },

  // The kernel keeps reduced axes as size 1, so the gradient broadcasts straight back.
  sum: { save: NOTHING, backward: ({ grad, inputShapes }) => [expand(grad, inputShapes[0])] },
  reduceMax: {
    save: () => ({ inputs: [0], output: true }),
    backward: ({ grad, attrs, input, output }) => {
      const tied = hits(input(0), output(), grad.dtype);
      return [mul(tied, div(grad, sum(tied, { axes: attrs.axes, keepDims: true })))];
    },
  },
  pad: {
    save: NOTHING,
    backward: ({ grad, attrs, inputShapes }) => [slice(grad, attrs.pads.map(([before]) => before), attrs.pads.map(([before], d) => before + inputShapes[0][d]))],
  },
  matmul: {
    // Kernel operands are at least 2-D ([..., M, K] x [..., K, N]); batch dims may broadcast.
    save: CROSSED,
    backward: ({ grad, needs, inputShapes, input }) =>
      each(
        needs,
        () => sumTo(matmul(grad, transpose(input(1))), inputShapes[0]),
        () => sumTo(matmul(transpose(input(0)), grad), inputShapes[1]),
      ),
  },
  conv2d: {
    save: CROSSED,
    backward: ({ grad, needs, inputShapes, attrs, input }) =>
      each(needs, () => conv2dInputGrad(grad, input(1), inputShapes[0], attrs), () => conv2dWeightGrad(input(0), grad, inputShapes[1], attrs)),
  },
  gather: {
    // No scatter primitive: scatter-add is a product with the one-hot matrix of the indices,
    // [D, n] x [P, n, Q] -> [P, D, Q], which sums repeated indices as it should.
    save: (needs) => ({ inputs: needs[0] ? [1] : [], output: false }),
    backward: ({ grad, needs, inputShapes, inputDTypes, attrs, input }) =>
      each(needs, () => {
        const shape = inputShapes[0];
        const axis = attrs.axis;
        const dim = shape[axis];
        const count = inputShapes[1].reduce((a, b) => a * b, 1);
        const before = shape.slice(0, axis).reduce((a, b) => a * b, 1);
        const after = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        const flat = reshape(input(1), [count, 1]);
        const indices = where(less(flat, 0), add(flat, dim), flat);
        const positions = reshape(arange(0, dim, 1, { dtype: 'int32', backend: grad.backend.name }), [1, dim]);
        const oneHot = cast(equal(indices, positions), inputDTypes[0]);
        return reshape(matmul(transpose(oneHot), reshape(grad, [before, count, after])), shape);
      }),
  },
  matmulInteger: { save: NOTHING, backward: nulls(4) },
  spmm: spmmGradient,
  quantize: { save: NOTHING, backward: nulls(3) },
  matmulIntegerScaled: { save: NOTHING, backward: nulls(7) },
  dequantize: {
    // Only the scale is differentiable: d/dscale of (x - zp) * scale, summed over what each scale covers.
    save: (needs) => ({ inputs: needs[1] ? [0, 2] : [], output: false }),
    backward: ({ grad, needs, inputShapes, attrs, input }) =>
      each(needs, null, () => {
        const q = quantizationOf(inputShapes[0], inputShapes[1], attrs);
        const centered = dequantize(input(0), ones(inputShapes[1], { dtype: grad.dtype, backend: grad.backend.name }), input(2), q);
        return sumPerScale(mul(grad, centered), inputShapes[1], q);
      }, null),
  },

  reshape: { save: NOTHING, backward: ({ grad, inputShapes }) => [reshape(grad, inputShapes[0])] },
  permute: {
    save: NOTHING,
    backward: ({ grad, attrs }) => {
      const inverse = new Array<number>(attrs.axes.length);
      attrs.axes.forEach((a, i) => (inverse[a] = i));
      return [permute(grad, inverse)];
    },
  },
  expand: { save: NOTHING, backward: ({ grad, inputShapes }) => [sumTo(grad, inputShapes[0])] },
  slice: { save: NOTHING, backward: ({ grad, attrs, inputShapes }) => [unslice(grad, inputShapes[0], attrs.starts, attrs.steps)] },
};

installGradientRules(GRADIENTS);
