import {
  add, cast, clamp, contiguous, dequantize, div, equal, expand, formatShape, isFloatDType, max, maximum, min, minimum, quantize, reshape, round, slice,
  sub, where, type QuantizationAxis, type QuantizedType, type Tensor,
} from '@minnow/core';
import { dataTypeName } from '../../../ir/tensor.js';
import { DataType } from '../../../ir/types.js';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { Value } from '../../value.js';

/** The integer types QuantizeLinear writes and DequantizeLinear reads: core's quantized type where it has one, and the range. */
const QUANTIZED: Partial<Record<number, { readonly core?: QuantizedType; readonly range: readonly [number, number] }>> = {
  [DataType.UINT8]: { core: 'uint8', range: [0, 255] },
  [DataType.INT8]: { core: 'int8', range: [-128, 127] },
  [DataType.UINT4]: { core: 'uint4', range: [0, 15] },
  [DataType.INT4]: { core: 'int4', range: [-8, 7] },
  [DataType.UINT16]: { range: [0, 65535] },
  [DataType.INT16]: { range: [-32768, 32767] },
};

/**
 * How scale and zero point map onto x: one element is per tensor (whatever its rank, as ONNX's
 * reference reads it); from opset 13 a 1-D scale is per `axis`; from opset 21 block_size > 0
 * makes it blocked along `axis`.
 */
export function quantizationAxis(ctx: OpContext, x: readonly number[], scale: readonly number[]): QuantizationAxis {
  if (scale.reduce((a, b) => a * b, 1) === 1) return {};
  if (ctx.opset < 13) throw ctx.error('SHAPE_MISMATCH', `scale ${formatShape(scale)} must be a scalar at opset ${ctx.opset} (per-axis quantization arrived in opset 13)`);
  const rank = x.length;
  const raw = ctx.attrs.int('axis', 1);
  if (raw < -rank || raw >= rank) throw ctx.error('INVALID_MODEL', `axis ${raw} is out of range for input ${formatShape(x)}`);
  const axis = raw < 0 ? raw + rank : raw;
  const blockSize = ctx.opset >= 21 ? ctx.attrs.int('block_size', 0) : 0;
  if (blockSize < 0) throw ctx.error('INVALID_MODEL', `block_size must be >= 0, got ${blockSize}`);
  return blockSize > 0 ? { axis, blockSize } : { axis };
}

/** A scale or zero point spread to broadcast against x of `shape` (blocked ones repeated block_size times along the axis). */
function broadcastParameter(p: Tensor, shape: readonly number[], q: QuantizationAxis): Tensor {
  if (q.axis === undefined) return reshape(p, []);
  const axis = q.axis;
  if (q.blockSize === undefined) return reshape(p, shape.map((d, i) => (i === axis ? d : 1)));
  const blocks = p.shape[axis];
  const spread = expand(reshape(p, [...p.shape.slice(0, axis + 1), 1, ...p.shape.slice(axis + 1)]), [...p.shape.slice(0, axis + 1), q.blockSize, ...p.shape.slice(axis + 1)]);
  const repeated = reshape(contiguous(spread), p.shape.map((d, i) => (i === axis ? blocks * (q.blockSize as number) : d)));
  return slice(repeated, shape.map(() => 0), shape);
}

/** Input `i` (`t`, one element) as a 0-d view: made once when the input is a constant whose tensor is `t`. */
function scalarOf(ctx: OpContext, i: number, t: Tensor): Tensor {
  return ctx.input(i).constant && t === ctx.tensor(i) ? ctx.memo(`scalar-${i}`, () => reshape(t, [])) : reshape(t, []);
}

/** The ONNX type QuantizeLinear writes: its zero point's, else output_dtype (opset 21), else uint8. */
function quantizedOutputType(ctx: OpContext): number {
  const declared = ctx.opset >= 21 ? ctx.attrs.int('output_dtype', 0) : 0;
  if (!ctx.has(2)) return declared || DataType.UINT8;
  const zeroType = ctx.input(2).elemType;
  if (declared !== 0 && declared !== zeroType) {
    throw ctx.error('INVALID_MODEL', `output_dtype ${dataTypeName(declared)} disagrees with the zero point's type ${dataTypeName(zeroType)}`);
  }
  return zeroType;
}

/** QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), per tensor, per axis or blocked. */
export const QuantizeLinear: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    // The output type and the parameters' axis depend only on attributes, types and shapes: derived once per steady run.
    const { type, q } = ctx.steady(() => ({ type: quantizedOutputType(ctx), q: quantizationAxis(ctx, ctx.input(0).shape, ctx.input(1).shape) }));
    const target = QUANTIZED[type];
    if (target === undefined) throw ctx.error('UNSUPPORTED_DTYPE', `quantizing to ${dataTypeName(type)} is not supported (int8, uint8, int16, uint16, int4 and uint4 are)`);
    let x = ctx.tensor(0);
    let scale = ctx.tensor(1);
    if (!isFloatDType(scale.dtype)) throw ctx.error('UNSUPPORTED_DTYPE', `scale must be a float tensor, got ${scale.dtype}`);
    // QuantizeLinear-10 also takes int32 x, which numpy divides by a float32 scale in float64.
    if (!isFloatDType(x.dtype)) {
      x = cast(x, 'float64');
      scale = cast(scale, 'float64');
    }
    if (x.dtype !== scale.dtype) throw ctx.error('DTYPE_MISMATCH', `x (${ctx.input(0)}) and scale (${ctx.input(1)}) must share a float type`);
    const zeroPoint = ctx.optionalTensor(2);
    if (target.core !== undefined) {
      const perTensor = q.axis === undefined;
      // Per tensor, the parameters as scalars: views made once per node when they are constants (the usual case).
      const s = perTensor ? scalarOf(ctx, 1, scale) : scale;
      const z = zeroPoint && (perTensor ? scalarOf(ctx, 2, zeroPoint) : zeroPoint);
      return [Value.fromTensor(quantize(x, s, z, target.core, q), type)];
    }
    // 16-bit types have no core kernel: the same steps composed, in x's float dtype as numpy does them.
    let y = round(div(x, broadcastParameter(scale, x.shape, q)));
    if (zeroPoint !== undefined) y = add(y, cast(broadcastParameter(zeroPoint, x.shape, q), x.dtype));
    return [Value.fromTensor(cast(clamp(y, target.range[0], target.range[1]), 'int32'), type)];
  },
};

/** DequantizeLinear: (x - zero_point) * scale, in (and typed as) the scale's float type. */
export const DequantizeLinear: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const xType = ctx.input(0).elemType;
    if (QUANTIZED[xType] === undefined && xType !== DataType.INT32) {
      throw ctx.error('UNSUPPORTED_DTYPE', `dequantizing ${dataTypeName(xType)} is not supported (int8, uint8, int16, uint16, int32, int4 and uint4 are)`);
    }
    if (ctx.has(2) && ctx.input(2).elemType !== xType) {
      throw ctx.error('INVALID_MODEL', `zero point is ${dataTypeName(ctx.input(2).elemType)} but x is ${dataTypeName(xType)}`);
    }
    const x = ctx.tensor(0);
    const scale = ctx.tensor(1);
    if (!isFloatDType(scale.dtype)) throw ctx.error('UNSUPPORTED_DTYPE', `scale must be a float tensor, got ${scale.dtype}`);
    const zeroPoint = ctx.optionalTensor(2);
    const q = quantizationAxis(ctx, x.shape, scale.shape);
    const perTensor = q.axis === undefined;
    const y = dequantize(x, perTensor ? reshape(scale, []) : scale, zeroPoint && (perTensor ? reshape(zeroPoint, []) : zeroPoint), q);
    return [Value.fromTensor(y, ctx.input(1).elemType)];
  },
};

/**
 * DynamicQuantizeLinear, uint8, step by step as the spec's formula and ONNX's reference compute it
 * in float32: the range is widened to include 0; scale = (max - min) / 255 (1 when max == min);
 * zero point = round(saturate(0 - min / scale)); y = saturate(round(x / scale) + zero point).
 */
export const DynamicQuantizeLinear: OperatorDefinition = {
  sinceVersion: 11,
  run: (ctx) => {
    const input = ctx.tensor(0);
    if (!isFloatDType(input.dtype)) throw ctx.error('UNSUPPORTED_DTYPE', `x must be a float tensor, got ${input.dtype}`);
    if (input.size === 0) throw ctx.error('INVALID_SHAPE', `x ${formatShape(input.shape)} is empty: it has no range to quantize`);
    const x = input.dtype === 'float32' ? input : cast(input, 'float32');
    const high = maximum(max(x), 0);
    const low = minimum(min(x), 0);
    const scale = div(where(equal(high, low), 1, sub(high, low)), 255);
    const zeroPoint = round(clamp(sub(0, div(low, scale)), 0, 255));
    const y = clamp(add(round(div(x, scale)), zeroPoint), 0, 255);
    return [
      Value.fromTensor(cast(y, 'uint8'), DataType.UINT8),
      Value.fromTensor(scale, DataType.FLOAT),
      Value.fromTensor(cast(zeroPoint, 'uint8'), DataType.UINT8),
    ];
  },
};
