import {
  MinnowError, dequantize, formatShape, fromArray, quantize, quantizedRange, roundHalfToEven, type Tensor,
} from '@minnow/core';
import type { Granularity, QuantParams, QuantScheme, TensorRange } from './types.js';

/**
 * Quantization schemes: from an observed range to the scales and zero points ONNX QuantizeLinear
 * takes, for symmetric and affine schemes, per tensor, per axis and blocked, in int8, uint8, int4
 * and uint4. The integer limits and the scale/zero-point formula follow onnxruntime's quantizer
 * (quant_utils.compute_scale_zp), so a model quantized here gets the parameters a user of
 * onnxruntime's tools would expect:
 *
 *   affine:    scale = (max - min) / (qmax - qmin), zeroPoint = round(qmin - min / scale)
 *   symmetric: scale = 2 * absmax / (qmax - qmin), zeroPoint = 0 (int types) or round((qmin + qmax) / 2) (uint types)
 *
 * where the range is first widened to include 0, so that 0 is always exact (zero padding, ReLU
 * outputs and masked values must not pick up an offset).
 */

/** The integer limits a scheme quantizes to. */
export interface QuantLimits {
  readonly qmin: number;
  readonly qmax: number;
}

/**
 * The integer range a scheme uses. Symmetric int types leave out the most negative value (int8
 * -127..127, int4 -7..7) so that the grid is the same on both sides of 0, as onnxruntime and
 * PyTorch do. `reduceRange` takes one bit off 8-bit types (uint8 0..127, int8 -64..63, symmetric
 * -63..63): with 7-bit activations, u8 x s8 products summed in pairs cannot saturate an int16
 * accumulator (the VNNI-less x86 path). It has no meaning for 4-bit types, which are refused.
 */
export function quantLimits(scheme: Pick<QuantScheme, 'type' | 'symmetric' | 'reduceRange'>): QuantLimits {
  const { min, max } = quantizedRange(scheme.type);
  const signed = min < 0;
  if (scheme.reduceRange) {
    if (scheme.type !== 'int8' && scheme.type !== 'uint8') {
      throw new MinnowError('INVALID_ARGUMENT', `quantLimits: reduceRange applies to 8-bit types only, not ${scheme.type}`);
    }
    if (!signed) return { qmin: 0, qmax: 127 };
    return scheme.symmetric ? { qmin: -63, qmax: 63 } : { qmin: -64, qmax: 63 };
  }
  if (signed && scheme.symmetric) return { qmin: min + 1, qmax: max };
  return { qmin: min, qmax: max };
}

/** The number of scale/zero-point entries and their shape for `granularity` on a tensor of `tensorShape`. */
export function paramShape(granularity: Granularity, tensorShape: readonly number[]): number[] {
  if (granularity.kind === 'tensor') return [];
  const axis = normalizeAxis(granularity.axis, tensorShape, 'paramShape');
  if (granularity.kind === 'axis') return [tensorShape[axis]];
  checkBlockSize(granularity.blockSize, 'paramShape');
  return tensorShape.map((d, i) => (i === axis ? Math.ceil(d / granularity.blockSize) : d));
}

/**
 * Scales and zero points for `scheme` from `range` (as an observer or `rangeOf` gives it, with the
 * scheme's granularity). Every range is widened to include 0. A range with no width (a tensor of
 * zeros, or a width below float32's smallest normal number) gets scale 1 and the scheme's zero
 * point (0, or the middle for symmetric uint types), as onnxruntime does: such a tensor quantizes
 * to its zero point and dequantizes to exact zeros, never to NaN or Inf.
 */
export function quantParams(range: TensorRange, scheme: QuantScheme, tensorShape: readonly number[]): QuantParams {
  const shape = paramShape(scheme.granularity, tensorShape);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!sameGranularity(range.granularity, scheme.granularity, tensorShape)) {
    throw new MinnowError('INVALID_ARGUMENT', `quantParams: the range is ${describeGranularity(range.granularity)} but the scheme is ${describeGranularity(scheme.granularity)}`);
  }
  if (range.min.length !== count || range.max.length !== count) {
    throw new MinnowError('SHAPE_MISMATCH', `quantParams: ${describeGranularity(scheme.granularity)} on ${formatShape(tensorShape)} needs ${count} min/max values (shape ${formatShape(shape)}), got ${range.min.length} and ${range.max.length}`);
  }
  const { qmin, qmax } = quantLimits(scheme);
  const signed = quantizedRange(scheme.type).min < 0;
  const symmetricZero = signed ? 0 : roundHalfToEven((qmin + qmax) / 2);
  const scale = new Float32Array(count);
  const zeroPoint = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let lo = range.min[i];
    let hi = range.max[i];
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
      throw new MinnowError('INVALID_ARGUMENT', `quantParams: range entry ${i} is [${lo}, ${hi}]; a range must be finite with min <= max`);
    }
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
    if (scheme.symmetric) {
      const absmax = Math.max(-lo, hi);
      lo = -absmax;
      hi = absmax;
    }
    const s = (hi - lo) / (qmax - qmin);
    // The scale must be a normal float32: a denormal (or zero) scale overflows x / scale.
    if (!(Math.fround(s) >= MIN_NORMAL_FLOAT32)) {
      scale[i] = 1;
      zeroPoint[i] = scheme.symmetric ? symmetricZero : clamp(0, qmin, qmax);
      continue;
    }
    scale[i] = s;
    zeroPoint[i] = scheme.symmetric ? symmetricZero : clamp(roundHalfToEven(qmin - lo / s), qmin, qmax);
  }
  return { scheme, scale, zeroPoint, shape };
}

const MIN_NORMAL_FLOAT32 = 2 ** -126;

/**
 * The exact min and max of `values` (row-major, laid out as `shape`) per slice of `granularity`:
 * one pair per tensor, per index along the axis, or per block (laid out as `paramShape` says).
 * A slice with no elements gets [0, 0]. NaN or Inf is a MinnowError naming `name`.
 */
export function rangeOf(values: ArrayLike<number>, shape: readonly number[], granularity: Granularity, name = 'tensor'): TensorRange {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new MinnowError('SHAPE_MISMATCH', `rangeOf: ${values.length} values do not fill shape ${formatShape(shape)} of '${name}'`);
  const index = paramIndexer(granularity, shape);
  const count = paramShape(granularity, shape).reduce((a, b) => a * b, 1);
  const min = new Float32Array(count).fill(Infinity);
  const max = new Float32Array(count).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new MinnowError('INVALID_ARGUMENT', `rangeOf: '${name}' holds ${v} at element ${i}; quantization needs finite values`);
    const p = index(i);
    if (v < min[p]) min[p] = v;
    if (v > max[p]) max[p] = v;
  }
  for (let p = 0; p < count; p++) {
    if (min[p] > max[p]) {
      min[p] = 0;
      max[p] = 0;
    }
  }
  return { min, max, granularity };
}

/** Maps a flat element index of a tensor of `shape` to the index of its scale and zero point. */
export function paramIndexer(granularity: Granularity, shape: readonly number[]): (flat: number) => number {
  if (granularity.kind === 'tensor') return () => 0;
  const axis = normalizeAxis(granularity.axis, shape, 'paramIndexer');
  const dim = shape[axis];
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  if (granularity.kind === 'axis') return (flat) => Math.floor(flat / inner) % dim;
  const blockSize = checkBlockSize(granularity.blockSize, 'paramIndexer');
  const blocks = Math.ceil(dim / blockSize);
  return (flat) => {
    const innerIndex = flat % inner;
    const rest = Math.floor(flat / inner);
    const a = rest % dim;
    const outer = Math.floor(rest / dim);
    return (outer * blocks + Math.floor(a / blockSize)) * inner + innerIndex;
  };
}

/**
 * ONNX QuantizeLinear on the host, the reference the device kernels and exporters are tested
 * against: saturate(roundHalfToEven(x / scale) + zeroPoint), the division in float32 as ONNX
 * runtimes compute it.
 */
export function quantizeValues(values: ArrayLike<number>, params: QuantParams, shape: readonly number[]): Int32Array {
  const index = paramIndexer(params.scheme.granularity, shape);
  const { min, max } = quantizedRange(params.scheme.type);
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const p = index(i);
    const q = roundHalfToEven(Math.fround(Math.fround(values[i]) / params.scale[p])) + params.zeroPoint[p];
    // NaN compares false both ways and lands on the zero point's side: ONNX leaves NaN undefined for integer outputs.
    out[i] = q < min ? min : q > max ? max : Number.isNaN(q) ? params.zeroPoint[p] : q;
  }
  return out;
}

/** ONNX DequantizeLinear on the host: (q - zeroPoint) * scale, rounded to float32. */
export function dequantizeValues(quantized: ArrayLike<number>, params: QuantParams, shape: readonly number[]): Float32Array {
  const index = paramIndexer(params.scheme.granularity, shape);
  const out = new Float32Array(quantized.length);
  for (let i = 0; i < quantized.length; i++) {
    const p = index(i);
    out[i] = (quantized[i] - params.zeroPoint[p]) * params.scale[p];
  }
  return out;
}

/**
 * Quantizes a float tensor on its backend with core's quantize kernel. The result holds the
 * integers in int8 (int8, int4) or uint8 (uint8, uint4); pack 4-bit results with packInt4 to store them.
 */
export function quantizeTensor(x: Tensor, params: QuantParams): Tensor {
  const { scale, zeroPoint, axis } = paramTensors(x, params, x.dtype === 'float64' ? 'float64' : 'float32');
  try {
    return quantize(x, scale, zeroPoint, params.scheme.type, axis);
  } finally {
    scale.dispose();
    zeroPoint.dispose();
  }
}

/** Dequantizes an int8/uint8 tensor (as quantizeTensor made it) to float32 on its backend. */
export function dequantizeTensor(q: Tensor, params: QuantParams): Tensor {
  const { scale, zeroPoint, axis } = paramTensors(q, params, 'float32');
  try {
    return dequantize(q, scale, zeroPoint, axis);
  } finally {
    scale.dispose();
    zeroPoint.dispose();
  }
}

/** Storage dtype of a quantized type's values and zero points in minnow tensors. */
export function storageDType(type: QuantScheme['type']): 'int8' | 'uint8' {
  return type === 'int8' || type === 'int4' ? 'int8' : 'uint8';
}

function paramTensors(x: Tensor, params: QuantParams, scaleDType: 'float32' | 'float64') {
  const backend = x.backend.name;
  const g = params.scheme.granularity;
  const scaleValues = scaleDType === 'float64' ? Float64Array.from(params.scale) : params.scale;
  const storage = storageDType(params.scheme.type);
  const zp = storage === 'int8' ? Int8Array.from(params.zeroPoint) : Uint8Array.from(params.zeroPoint);
  const scale = fromArray(scaleValues, params.shape, { dtype: scaleDType, backend });
  const zeroPoint = fromArray(zp, params.shape, { dtype: storage, backend });
  const axis = g.kind === 'tensor' ? {} : g.kind === 'axis' ? { axis: g.axis } : { axis: g.axis, blockSize: g.blockSize };
  return { scale, zeroPoint, axis };
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function normalizeAxis(axis: number, shape: readonly number[], op: string): number {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new MinnowError('OUT_OF_RANGE', `${op}: axis ${axis} is outside a tensor of shape ${formatShape(shape)}`);
  }
  return axis < 0 ? axis + rank : axis;
}

function checkBlockSize(blockSize: number, op: string): number {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: blockSize must be a positive integer, got ${blockSize}`);
  return blockSize;
}

function sameGranularity(a: Granularity, b: Granularity, shape: readonly number[]): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'tensor' || b.kind === 'tensor') return true;
  if (normalizeAxis(a.axis, shape, 'quantParams') !== normalizeAxis(b.axis, shape, 'quantParams')) return false;
  return a.kind !== 'block' || b.kind !== 'block' || a.blockSize === b.blockSize;
}

export function describeGranularity(g: Granularity): string {
  switch (g.kind) {
    case 'tensor': return 'per tensor';
    case 'axis': return `per axis ${g.axis}`;
    case 'block': return `blocked (${g.blockSize}) along axis ${g.axis}`;
  }
}
