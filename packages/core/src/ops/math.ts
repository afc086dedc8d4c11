import { integerRange, isFloatDType } from '../dtype.js';
import { MinnowError, formatShape } from '../errors.js';
import { scope } from '../memory.js';
import { normalizeAxes, normalizeAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { arange, full } from './creation.js';
import {
  add, cast, div, matmul, equal, exp, less, log, max, maximum, minimum, mul, neg, pad, reciprocal, sqrt, sub, sum, tanh, where, abs, sign,
  type ReduceOptions,
} from './primitives.js';
import { reshape, transpose } from './view.js';

/**
 * Ops composed from primitives, written once here so they run on every backend and differentiate
 * through their primitives' gradient rules. Intermediates are freed by scope() (the autograd tape
 * keeps its own references to what backward needs).
 */

export function square(x: Tensor): Tensor {
  return mul(x, x);
}

/** Mean over axes (all when omitted). */
export function mean(x: Tensor, options: ReduceOptions = {}): Tensor {
  return scope(() => {
    const axes = normalizeAxes('mean', options.axes, x.shape);
    const count = axes.reduce((n, a) => n * x.shape[a], 1);
    const total = sum(isFloatDType(x.dtype) ? x : cast(x, 'float32'), options);
    return div(total, count);
  });
}

/** Variance over axes; `correction: 1` gives the unbiased (Bessel) estimate. */
export function variance(x: Tensor, options: ReduceOptions & { correction?: number } = {}): Tensor {
  return scope(() => {
    const axes = normalizeAxes('variance', options.axes, x.shape);
    const count = axes.reduce((n, a) => n * x.shape[a], 1) - (options.correction ?? 0);
    const xf = isFloatDType(x.dtype) ? x : cast(x, 'float32');
    const centered = sub(xf, mean(xf, { axes, keepDims: true }));
    return div(sum(square(centered), { axes, keepDims: options.keepDims }), count);
  });
}

/**
 * Minimum over axes, as -max(-x). Integers are negated in a wider dtype (int8 and uint8 in int32,
 * int32 in float64, exact) so the most negative value does not wrap.
 */
export function min(x: Tensor, options: ReduceOptions = {}): Tensor {
  return scope(() => {
    const wide = x.dtype === 'int8' || x.dtype === 'uint8' ? 'int32' : x.dtype === 'int32' ? 'float64' : null;
    if (wide) return cast(neg(max(neg(cast(x, wide)), options)), x.dtype);
    return neg(max(neg(x), options));
  });
}

/** Index (int32) of the first maximum along `axis`; a NaN counts as the maximum, as in numpy. */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  return scope(() => {
    const a = normalizeAxis('argmax', axis, x.rank, x.shape);
    // x == x is false only at NaN, where max() is NaN too and equal() can never match it.
    const isMax = where(equal(x, x), equal(x, max(x, { axes: a, keepDims: true })), true);
    const positions = reshape(arange(0, x.shape[a], 1, { dtype: 'int32', backend: x.backend.name }), x.shape.map((d, i) => (i === a ? d : 1)));
    const candidates = where(isMax, positions, x.shape[a]);
    const first = neg(max(neg(candidates), { axes: a, keepDims }));
    return first;
  });
}

export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (lo > hi) throw new MinnowError('INVALID_ARGUMENT', `clamp: lower bound ${lo} is above upper bound ${hi}`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64' && x.dtype !== 'bool') {
    // Bounds outside an integer dtype's range would wrap when converted to it.
    const range = integerRange(x.dtype);
    lo = Math.max(lo, range.min);
    hi = Math.min(hi, range.max);
  }
  return scope(() => minimum(maximum(x, lo), hi));
}

export function relu(x: Tensor): Tensor {
  return maximum(x, 0);
}

export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return scope(() => where(equal(maximum(x, 0), x), x, mul(x, slope)));
}

export function sigmoid(x: Tensor): Tensor {
  return scope(() => reciprocal(add(exp(neg(x)), 1)));
}

export function silu(x: Tensor): Tensor {
  return scope(() => mul(x, sigmoid(x)));
}

/** log(1 + e^x), stable for large |x|: max(x, 0) + log(1 + e^-|x|). */
export function softplus(x: Tensor): Tensor {
  return scope(() => add(maximum(x, 0), log(add(exp(neg(abs(x))), 1))));
}

/**
 * The error function, composed from primitives so it runs everywhere: its Maclaurin series for
 * |x| < 0.5 (where the formula below cancels in float32), Abramowitz & Stegun 7.1.26 elsewhere
 * (absolute error below 1.5e-7 in float64; float32 rounding of the steps brings it near 3e-7).
 */
export function erf(x: Tensor): Tensor {
  return scope(() => where(less(abs(x), 0.5), erfSeries(x), erfRational(x)));
}

/** 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)), n <= 6: truncation below 1e-9 for |x| < 0.5. */
function erfSeries(x: Tensor): Tensor {
  return scope(() => {
    const x2 = mul(x, x);
    const coefficients = [1, -1 / 3, 1 / 10, -1 / 42, 1 / 216, -1 / 1320, 1 / 9360];
    let acc = full([], coefficients[coefficients.length - 1], { dtype: x.dtype, backend: x.backend.name });
    for (let i = coefficients.length - 2; i >= 0; i--) acc = add(mul(acc, x2), coefficients[i]);
    return mul(mul(acc, x), 2 / Math.sqrt(Math.PI));
  });
}

function erfRational(x: Tensor): Tensor {
  return scope(() => {
    const ax = abs(x);
    const t = reciprocal(add(mul(ax, 0.3275911), 1));
    let poly = mul(t, 1.061405429);
    poly = mul(add(poly, -1.453152027), t);
    poly = mul(add(poly, 1.421413741), t);
    poly = mul(add(poly, -0.284496736), t);
    poly = mul(add(poly, 0.254829592), t);
    const y = sub(1, mul(poly, exp(neg(mul(ax, ax)))));
    return mul(sign(x), y);
  });
}

/** GELU, exact form x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); `approximate: 'tanh'` gives the tanh form. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return scope(() => {
    if (approximate === 'tanh') {
      const inner = mul(add(x, mul(mul(x, mul(x, x)), 0.044715)), Math.sqrt(2 / Math.PI));
      return mul(mul(x, 0.5), add(tanh(inner), 1));
    }
    return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
  });
}

/** log(sum(exp(x))) over axes, shifted by the max so large inputs do not overflow. */
export function logsumexp(x: Tensor, options: ReduceOptions = {}): Tensor {
  return scope(() => {
    const axes = normalizeAxes('logsumexp', options.axes, x.shape);
    // Shift by the max where it is finite; an infinite max (a row of -inf, or one holding +inf)
    // is shifted by 0 so the result is that infinity, not inf - inf = NaN.
    const rowMax = max(x, { axes, keepDims: true });
    const m = where(equal(sub(rowMax, rowMax), 0), rowMax, 0);
    const shifted = log(sum(exp(sub(x, m)), { axes, keepDims: true }));
    const out = add(shifted, m);
    return options.keepDims ? out : reshape(out, x.shape.filter((_, i) => !axes.includes(i)));
  });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return scope(() => {
    const e = exp(sub(x, max(x, { axes: axis, keepDims: true })));
    return div(e, sum(e, { axes: axis, keepDims: true }));
  });
}

/**
 * log softmax as (x - m) - log(sum(exp(x - m))), not x - logsumexp(x): rounding m + log(sum) to
 * m's precision first would lose the log-sum term at large logits (float32 logits near 1e4 lose
 * ~1e-3). m is the row max, detached (a constant shift does not change the result, so the
 * gradient needs no max rule), and 0 where the max is infinite, so rows holding -inf stay finite.
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return scope(() => {
    const rowMax = max(x.detach(), { axes: axis, keepDims: true });
    const shifted = sub(x, where(equal(sub(rowMax, rowMax), 0), rowMax, 0));
    return sub(shifted, log(sum(exp(shifted), { axes: axis, keepDims: true })));
  });
}

/**
 * Layer normalisation over the last `normalizedDims` dims: (x - mean) / sqrt(var + eps), then
 * optional elementwise weight and bias (broadcast over the normalised dims).
 */
export function layerNorm(x: Tensor, options: { normalizedDims?: number; weight?: Tensor; bias?: Tensor; eps?: number } = {}): Tensor {
  const dims = options.normalizedDims ?? 1;
  if (!Number.isInteger(dims) || dims < 1 || dims > x.rank) {
    throw new MinnowError('INVALID_ARGUMENT', `layerNorm: normalizedDims ${dims} does not fit shape ${formatShape(x.shape)}`);
  }
  return scope(() => {
    const axes = x.shape.map((_, i) => i).slice(x.rank - dims);
    const centered = sub(x, mean(x, { axes, keepDims: true }));
    const inv = reciprocal(sqrt(add(mean(square(centered), { axes, keepDims: true }), options.eps ?? 1e-5)));
    let y = mul(centered, inv);
    if (options.weight) y = mul(y, options.weight);
    if (options.bias) y = add(y, options.bias);
    return y;
  });
}

/**
 * Joins tensors along `axis`, composed from pad and add as tinygrad does. Padding with -0 keeps
 * every value exactly, -0 included (v + -0 = v for all v).
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new MinnowError('INVALID_ARGUMENT', 'concat: no tensors given');
  const first = tensors[0];
  const a = normalizeAxis('concat', axis, first.rank, first.shape);
  for (const t of tensors) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new MinnowError('SHAPE_MISMATCH', `concat: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ outside axis ${a}`);
    }
    if (t.dtype !== first.dtype) throw new MinnowError('DTYPE_MISMATCH', `concat: dtypes ${first.dtype} and ${t.dtype} differ`);
  }
  return scope(() => {
    const total = tensors.reduce((n, t) => n + t.shape[a], 0);
    const asNumeric = first.dtype === 'bool';
    let before = 0;
    let acc: Tensor | null = null;
    for (const t of tensors) {
      const source = asNumeric ? cast(t, 'uint8') : t;
      const padded = pad(source, source.shape.map((_, i) => (i === a ? [before, total - before - t.shape[a]] : [0, 0]) as [number, number]), -0);
      acc = acc ? add(acc, padded) : padded;
      before += t.shape[a];
    }
    return asNumeric ? cast(acc!, 'bool') : acc!;
  });
}

/** x w^T + b, as a Linear layer computes it (w is [out, in]). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return scope(() => {
    const y = matmul(x, transpose(weight));
    return bias ? add(y, bias) : y;
  });
}
