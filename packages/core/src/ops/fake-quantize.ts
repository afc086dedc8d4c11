import { isGradEnabled } from '../autograd/graph.js';
import { MinnowError, formatShape } from '../errors.js';
import { scope } from '../memory.js';
import { quantizedRange } from '../numeric.js';
import { normalizeAxis, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import {
  add, cast, dequantize, div, equal, expectTensor, less, mul, quantize, round, sub, where, type QuantizationAxis,
} from './primitives.js';
import type { QuantizedType } from './table.js';
import { expand, reshape, slice } from './view.js';

/**
 * Fake quantization for quantization-aware training: the forward pass is quantize-then-dequantize
 * (what the deployed integer model will compute), the backward pass a straight-through estimate,
 * because round() has derivative zero almost everywhere and would stop all learning.
 *
 * Both estimators are composed from existing primitives with detach(), so autograd needs no rule
 * of its own and every backend trains with them. The compositions add a term `t - detach(t)`,
 * which is exactly 0 in the forward pass (t - t = 0 for every finite t), so the forward value is
 * bit for bit dequantize(quantize(x)) while the gradient is that of t.
 */

export interface FakeQuantizeOptions extends QuantizationAxis {
  readonly type: QuantizedType;
  /**
   * 'clipped' (default): the clipped straight-through estimator. dy/dx is 1 where x lies in the
   * representable range [(qmin - zeroPoint) * scale, (qmax - zeroPoint) * scale], bounds included,
   * and 0 outside; scale and zero point are constants (no gradient reaches them).
   *
   * 'lsq': learned step size (Esser et al. 2019, arXiv:1902.08153). With v = x / scale and bounds
   * [qmin - zeroPoint, qmax - zeroPoint]: dy/dx is 1 inside (bounds included, as for 'clipped'),
   * 0 outside, and dy/dscale = g * (round(v) - v) inside, g * bound outside (the bound v was
   * clipped to), summed over the elements each scale covers. The zero point stays a constant.
   */
  readonly ste?: 'clipped' | 'lsq';
  /**
   * LSQ only: the factor g on the scale's gradient. Default 1 / sqrt(numel * qmax), with numel the
   * number of elements of x one scale covers (LSQ's N: all of x for a per-tensor scale) and qmax
   * the type's largest value (LSQ's Q_P). For activations LSQ counts the features of one example:
   * pass the factor explicitly there.
   */
  readonly gradScale?: number;
}

/**
 * Quantize-dequantize `x` as ONNX QuantizeLinear then DequantizeLinear would (per tensor, per axis
 * or blocked, as `quantize` takes scale and zero point), with a straight-through gradient (see
 * `FakeQuantizeOptions.ste`). Scale must be positive. The forward value is exactly that of
 * dequantize(quantize(x)) in every case: infinities saturate, and NaN becomes 0 (quantize maps it
 * to the zero point), with gradient 0 there.
 *
 * ```ts
 * const w = fakeQuantize(weight, scale, undefined, { type: 'int8', axis: 0 }); // per output channel
 * const a = fakeQuantize(x, step, undefined, { type: 'int4', ste: 'lsq' });    // step requires grad
 * ```
 */
export function fakeQuantize(x: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, options: FakeQuantizeOptions): Tensor {
  expectTensor('fakeQuantize', 'x', x);
  expectTensor('fakeQuantize', 'scale', scale);
  const ste = options?.ste ?? 'clipped';
  if (ste !== 'clipped' && ste !== 'lsq') throw new MinnowError('INVALID_ARGUMENT', `fakeQuantize: ste must be 'clipped' or 'lsq', got ${JSON.stringify(ste)}`);
  const q: QuantizationAxis = { axis: options.axis, blockSize: options.blockSize };
  return scope(() => {
    if (ste === 'lsq') return learnedStepSize(x, scale, zeroPoint, options);
    const constantScale = scale.detach();
    // quantize validates the shapes and dtypes; its integer output is never on the tape.
    const codes = quantize(x.detach(), constantScale, zeroPoint, options.type, q);
    const value = dequantize(codes, constantScale, zeroPoint, q);
    if (!isGradEnabled() || !x.requiresGrad) return value;
    const { lo, hi } = representableBounds(x, constantScale, zeroPoint, options.type, q);
    // x where it is representable, 0 outside (and at NaN): its gradient is the clipped straight-through mask.
    const inside = where(less(x, lo), 0, where(less(hi, x), 0, where(equal(x, x), x, 0)));
    return add(value, sub(inside, inside.detach()));
  });
}

/** [(qmin - zp) * scale, (qmax - zp) * scale], broadcast against x, in x's dtype. */
function representableBounds(x: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, type: QuantizedType, q: QuantizationAxis) {
  const { min, max } = quantizedRange(type);
  const s = broadcastParameter('fakeQuantize', scale, x.shape, q);
  if (!zeroPoint) return { lo: mul(s, min), hi: mul(s, max) };
  const z = cast(broadcastParameter('fakeQuantize', zeroPoint, x.shape, q), x.dtype);
  return { lo: mul(sub(min, z), s), hi: mul(sub(max, z), s) };
}

function learnedStepSize(x: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, options: FakeQuantizeOptions): Tensor {
  const q: QuantizationAxis = { axis: options.axis, blockSize: options.blockSize };
  const { min, max } = quantizedRange(options.type);
  if (scale.dtype !== x.dtype) throw new MinnowError('DTYPE_MISMATCH', `fakeQuantize: scale is ${scale.dtype} but x is ${x.dtype}`);
  if (zeroPoint && !shapesEqual(zeroPoint.shape, scale.shape)) {
    throw new MinnowError('SHAPE_MISMATCH', `fakeQuantize: scale ${formatShape(scale.shape)} and zero point ${formatShape(zeroPoint.shape)} differ in shape`);
  }
  const covered = scale.size === 0 ? 0 : x.size / scale.size;
  const g = options.gradScale ?? 1 / Math.sqrt(Math.max(1, covered) * max);
  if (!(g > 0 && Number.isFinite(g))) throw new MinnowError('INVALID_ARGUMENT', `fakeQuantize: gradScale must be a positive finite number, got ${String(options.gradScale)}`);
  // Gradient scaling that leaves the value exactly as it is: detach(s) + (s g - detach(s g)).
  const scaled = mul(scale, g);
  const step = broadcastParameter('fakeQuantize', add(scale.detach(), sub(scaled, scaled.detach())), x.shape, q);
  const zero = zeroPoint ? cast(broadcastParameter('fakeQuantize', zeroPoint, x.shape, q), x.dtype) : null;
  const lo = zero ? sub(min, zero) : min;
  const hi = zero ? sub(max, zero) : max;
  // v clipped to [lo, hi]: beyond a bound it is that bound, a constant (LSQ's -Q_N or Q_P); NaN
  // becomes code 0, as quantize makes it the zero point.
  const v = div(x, step);
  const clipped = where(less(hi, v), hi, where(less(v, lo), lo, where(equal(v, v), v, 0)));
  // round() with a straight-through gradient: the value of round(clipped), the gradient of clipped.
  const codes = add(round(clipped.detach()), sub(clipped, clipped.detach()));
  return mul(codes, step);
}

/**
 * A scale or zero point laid out as `quantize` takes it (one element; [C] along `axis`; blocked,
 * with x's rank and ceil(dim / blockSize) along `axis`), as a tensor that broadcasts against
 * `shape` elementwise. Differentiable: gradients flow back to the parameter.
 */
export function broadcastParameter(op: string, param: Tensor, shape: readonly number[], q: QuantizationAxis = {}): Tensor {
  const rank = shape.length;
  if (q.axis === undefined) {
    if (param.size !== 1) throw new MinnowError('SHAPE_MISMATCH', `${op}: per-tensor scale must have one element, got ${formatShape(param.shape)} (pass axis for per-axis)`);
    return reshape(param, shape.map(() => 1));
  }
  const axis = normalizeAxis(op, q.axis, rank, shape);
  const dim = shape[axis];
  if (q.blockSize === undefined || q.blockSize === 0) {
    if (param.rank !== 1 || param.shape[0] !== dim) {
      throw new MinnowError('SHAPE_MISMATCH', `${op}: per-axis scale must have shape [${dim}] for axis ${axis} of ${formatShape(shape)}, got ${formatShape(param.shape)}`);
    }
    return reshape(param, shape.map((d, i) => (i === axis ? d : 1)));
  }
  const block = q.blockSize;
  if (!Number.isInteger(block) || block < 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: blockSize must be a positive integer, got ${block}`);
  const blocks = Math.ceil(dim / block);
  const expected = shape.map((d, i) => (i === axis ? blocks : d));
  if (!shapesEqual(param.shape, expected)) {
    throw new MinnowError('SHAPE_MISMATCH', `${op}: blocked scale must have shape ${formatShape(expected)} for blockSize ${block} on axis ${axis} of ${formatShape(shape)}, got ${formatShape(param.shape)}`);
  }
  const before = shape.slice(0, axis);
  const after = shape.slice(axis + 1);
  const split = expand(reshape(param, [...before, blocks, 1, ...after]), [...before, blocks, block, ...after]);
  const merged = reshape(split, [...before, blocks * block, ...after]);
  if (blocks * block === dim) return merged;
  return slice(merged, shape.map(() => 0), shape.map((d, i) => (i === axis ? dim : d)));
}
