import {
  MinnowError, add, div, formatShape, fromArray, isFloatDType, less, max, maximum, mul, pad, randomUniform, reshape, scope,
  slice, sum, where, type Tensor,
} from '@minnow/core';
import { toRandom, type Seed } from './init.js';

/**
 * Pooling and dropout composed from core's public ops (pad, strided slices, reshape, reductions,
 * where), so they run and train on every backend with no primitive of their own.
 *
 * Pooling follows PyTorch's MaxPool2d/AvgPool2d (NCHW):
 * - out = floor((H + 2p - d(k - 1) - 1) / s) + 1, or ceil(...) with `ceilMode`, where a last window
 *   that would start in the right padding is dropped (so every window starts inside the input or
 *   its left padding); stride defaults to the kernel size; padding is at most half the kernel.
 * - Max pooling pads with -Infinity; average pooling with zeros, dividing by the window's size
 *   clipped to the padded input (`countIncludePad`, the default) or by its count of real inputs.
 * - Gradients at ties (equal maxima in a window) are shared among the tied inputs, as core's max
 *   rules do (PyTorch gives it all to one). With non-overlapping windows (stride = kernel,
 *   dilation 1) they are shared equally; overlapping windows chain elementwise maxima, which
 *   shares them unequally but still sums to the window's gradient.
 */

export type Pair = number | readonly [number, number];

export interface MaxPool2dOptions {
  /** Defaults to the kernel size. */
  readonly stride?: Pair;
  /** Implicit -Infinity padding on both sides, at most half the (dilated) kernel. Default 0. */
  readonly padding?: Pair;
  readonly dilation?: Pair;
  /** Ceil instead of floor in the output size. Default false. */
  readonly ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  readonly stride?: Pair;
  readonly padding?: Pair;
  readonly ceilMode?: boolean;
  /** Count the zero padding in each window's divisor (default true, as PyTorch). */
  readonly countIncludePad?: boolean;
}

/** Resolved geometry of one spatial axis. */
interface AxisPlan {
  readonly size: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly out: number;
}

function pair(op: string, what: string, v: Pair | undefined, fallback: readonly [number, number], min: number): [number, number] {
  const p: [number, number] = v === undefined ? [fallback[0], fallback[1]] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.some((x) => !Number.isInteger(x) || x < min)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: ${what} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer or pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Output size of one pooled axis, PyTorch's pooling_output_shape. */
export function poolOutputSize(size: number, kernel: number, stride: number, padding: number, dilation: number, ceilMode: boolean): number {
  const span = size + 2 * padding - dilation * (kernel - 1) - 1;
  let out = Math.floor((span + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  // A last window starting in the right padding would see no input: drop it.
  if (ceilMode && (out - 1) * stride >= size + padding) out--;
  return out;
}

function plan(op: string, x: Tensor, kernelSize: Pair, options: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean }): [AxisPlan, AxisPlan] {
  if (x.rank !== 4) throw new MinnowError('INVALID_SHAPE', `${op}: input must be 4-D (NCHW), got ${formatShape(x.shape)}`);
  if (!isFloatDType(x.dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `${op}: input must be float32 or float64, got ${x.dtype}`);
  const kernel = pair(op, 'kernelSize', kernelSize, [1, 1], 1);
  const stride = pair(op, 'stride', options.stride, kernel, 1);
  const padding = pair(op, 'padding', options.padding, [0, 0], 0);
  const dilation = pair(op, 'dilation', options.dilation, [1, 1], 1);
  return [0, 1].map((a) => {
    const extent = dilation[a] * (kernel[a] - 1) + 1;
    if (2 * padding[a] > extent) {
      throw new MinnowError('INVALID_ARGUMENT', `${op}: padding ${padding[a]} must be at most half the kernel extent ${extent}`);
    }
    const size = x.shape[2 + a];
    if (size + 2 * padding[a] < extent) {
      throw new MinnowError('SHAPE_MISMATCH', `${op}: kernel extent ${extent} is larger than the padded input ${formatShape(x.shape)} (padding ${padding[a]})`);
    }
    const out = poolOutputSize(size, kernel[a], stride[a], padding[a], dilation[a], options.ceilMode ?? false);
    return { size, kernel: kernel[a], stride: stride[a], padding: padding[a], dilation: dilation[a], out };
  }) as [AxisPlan, AxisPlan];
}

/**
 * Reduces every pooling window of x (padded with `fill`) with max or sum: [N, C, outH, outW].
 * Non-overlapping windows become two extra axes of a reshape and one reduction; otherwise one
 * strided slice per kernel offset, combined elementwise.
 */
function reduceWindows(x: Tensor, [h, w]: [AxisPlan, AxisPlan], fill: number, reduction: 'max' | 'sum'): Tensor {
  return scope(() => {
    const [n, c] = x.shape;
    const tiled = [h, w].every((a) => a.stride === a.kernel && a.dilation === 1);
    // The rows the windows cover, from -padding: pad before, then pad or crop after.
    const covered = [h, w].map((a) => (tiled ? a.out * a.kernel : (a.out - 1) * a.stride + a.dilation * (a.kernel - 1) + 1));
    const padded = pad(x, [[0, 0], [0, 0], [h.padding, covered[0] - h.padding - h.size], [w.padding, covered[1] - w.padding - w.size]], fill);
    if (tiled) {
      const windows = reshape(padded, [n, c, h.out, h.kernel, w.out, w.kernel]);
      return reduction === 'max' ? max(windows, { axes: [3, 5] }) : sum(windows, { axes: [3, 5] });
    }
    let acc: Tensor | null = null;
    for (let i = 0; i < h.kernel; i++) {
      for (let j = 0; j < w.kernel; j++) {
        const starts = [0, 0, i * h.dilation, j * w.dilation];
        const ends = [n, c, starts[2] + (h.out - 1) * h.stride + 1, starts[3] + (w.out - 1) * w.stride + 1];
        const taps = slice(padded, starts, ends, [1, 1, h.stride, w.stride]);
        acc = acc === null ? taps : reduction === 'max' ? maximum(acc, taps) : add(acc, taps);
      }
    }
    return acc!;
  });
}

/** 2-D max pooling over an NCHW input (see the file comment for sizes, padding and ties). */
export function maxPool2d(x: Tensor, kernelSize: Pair, options: MaxPool2dOptions = {}): Tensor {
  const axes = plan('maxPool2d', x, kernelSize, options);
  return reduceWindows(x, axes, -Infinity, 'max');
}

/** 2-D average pooling over an NCHW input (see the file comment for sizes and divisors). */
export function avgPool2d(x: Tensor, kernelSize: Pair, options: AvgPool2dOptions = {}): Tensor {
  const axes = plan('avgPool2d', x, kernelSize, options);
  const includePad = options.countIncludePad ?? true;
  return scope(() => {
    const sums = reduceWindows(x, axes, 0, 'sum');
    const [h, w] = axes;
    const counts = x.dtype === 'float64' ? new Float64Array(h.out * w.out) : new Float32Array(h.out * w.out);
    const along = (a: AxisPlan, i: number): number => {
      // PyTorch: the window clipped to the padded input, or to the input itself.
      const start = i * a.stride - a.padding;
      const end = Math.min(start + a.kernel, a.size + a.padding);
      return includePad ? end - start : Math.min(end, a.size) - Math.max(start, 0);
    };
    for (let i = 0; i < h.out; i++) for (let j = 0; j < w.out; j++) counts[i * w.out + j] = along(h, i) * along(w, j);
    return div(sums, fromArray(counts, [h.out, w.out], { backend: x.backend.name }));
  });
}

export interface DropoutOptions {
  /** The mask's randomness: a seed, or a Random whose stream each call continues. */
  readonly seed: Seed;
  /** When false, dropout is the identity (returns a view of x). Default true. */
  readonly training?: boolean;
}

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p), so
 * the expected value is unchanged and evaluation needs no rescaling. The mask is drawn on the host
 * from the seeded stream (one uniform per element, in row-major order) and uploaded, so it is the
 * same on every backend. Always returns a new tensor (a view when nothing is dropped).
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions): Tensor {
  if (!(p >= 0 && p <= 1)) throw new MinnowError('INVALID_ARGUMENT', `dropout: probability must be in [0, 1], got ${p}`);
  if (!isFloatDType(x.dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `dropout: input must be float32 or float64, got ${x.dtype}`);
  const rng = toRandom('dropout', options.seed);
  if (options.training === false || p === 0) return reshape(x, x.shape);
  // p = 1 drops everything; multiplying by 0 keeps the graph (zero gradient) without a 1/0 scale.
  if (p === 1) return mul(x, 0);
  return scope(() => {
    const uniform = randomUniform(x.shape, { seed: rng, dtype: x.dtype, backend: x.backend.name });
    return where(less(uniform, p), 0, mul(x, 1 / (1 - p)));
  });
}
