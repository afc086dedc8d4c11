import {
  add, cast, clamp, formatShape, matmul, matmulInteger, mul, div, reshape, round, sub, type Tensor,
} from '@minnow/core';
import { dataTypeName } from '../../../ir/tensor.js';
import { DataType } from '../../../ir/types.js';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { Value } from '../../value.js';
import { checkConvShapes } from './conv.js';
import { convolve } from './convolve.js';
import { kernelShapeAttr, windowGeometry } from './spatial.js';

/**
 * The integer products: MatMulInteger and ConvInteger (int32 results), and QLinearMatMul and
 * QLinearConv, which requantize the int32 accumulators: round_half_even(acc * (sa * sb / sy)) + zy,
 * saturated. The multiplier is formed in the scales' float32 and applied in float64, as numpy does
 * in ONNX's reference (int32 times float32 is float64 there).
 */

const QUANTIZED_INPUTS = new Set<number>([DataType.INT8, DataType.UINT8]);

function quantizedInput(ctx: OpContext, i: number): Tensor {
  const type = ctx.input(i).elemType;
  if (!QUANTIZED_INPUTS.has(type)) throw ctx.error('UNSUPPORTED_DTYPE', `input ${i} is ${dataTypeName(type)}; ${ctx.node.opType} takes int8 or uint8`);
  return ctx.tensor(i);
}

/** An optional zero point of input `forInput`'s type, size-1 ones as scalars. */
function zeroPointInput(ctx: OpContext, i: number, forInput: number): Tensor | undefined {
  if (!ctx.has(i)) return undefined;
  if (ctx.input(i).elemType !== ctx.input(forInput).elemType) {
    throw ctx.error('INVALID_MODEL', `zero point input ${i} is ${dataTypeName(ctx.input(i).elemType)}, its operand (input ${forInput}) ${dataTypeName(ctx.input(forInput).elemType)}`);
  }
  const z = ctx.tensor(i);
  return z.size === 1 ? reshape(z, []) : z;
}

/**
 * (a - aZero) x (b - bZero) in int32 (wrapping as int32 does). Core's matmulInteger takes the
 * forms it knows (per tensor, a per row [M], b per column [N], both operands at least 2-D); other
 * forms (1-D operands, N-D zero points) subtract in int32 and multiply with the int32 matmul.
 */
function integerProduct(ctx: OpContext, a: Tensor, b: Tensor, aZero: Tensor | undefined, bZero: Tensor | undefined): Tensor {
  const m = a.shape[a.rank - 2];
  const n = b.shape[b.rank - 1];
  const k = a.shape[a.rank - 1];
  const k2 = b.rank === 1 ? b.shape[0] : b.shape[b.rank - 2];
  if (a.rank === 0 || b.rank === 0 || k !== k2) throw ctx.error('SHAPE_MISMATCH', `A ${formatShape(a.shape)} and B ${formatShape(b.shape)} do not multiply`);
  const fits = (z: Tensor | undefined, length: number): boolean => z === undefined || z.rank === 0 || (z.rank === 1 && z.shape[0] === length);
  if (a.rank >= 2 && b.rank >= 2 && fits(aZero, m) && fits(bZero, n)) return matmulInteger(a, b, aZero, bZero);
  const shifted = (t: Tensor, z: Tensor | undefined, perRow: boolean): Tensor => {
    const wide = cast(t, 'int32');
    if (z === undefined) return wide;
    const zw = cast(z, 'int32');
    // A 1-D zero point of a 2-D-or-more A is per row: it runs down A's rows, so it needs a trailing unit dim.
    return sub(wide, perRow && z.rank === 1 && t.rank >= 2 ? reshape(zw, [z.shape[0], 1]) : zw);
  };
  return matmul(shifted(a, aZero, true), shifted(b, bZero, false));
}

export const MatMulInteger: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const a = quantizedInput(ctx, 0);
    const b = quantizedInput(ctx, 1);
    return [Value.fromTensor(integerProduct(ctx, a, b, zeroPointInput(ctx, 2, 0), zeroPointInput(ctx, 3, 1)), DataType.INT32)];
  },
};

/** A float scale input, size-1 ones as scalars. */
function scaleInput(ctx: OpContext, i: number): Tensor {
  const s = ctx.tensor(i);
  if (s.dtype !== 'float32') throw ctx.error('UNSUPPORTED_DTYPE', `scale input ${i} is ${dataTypeName(ctx.input(i).elemType)}; float, float16 or bfloat16 expected`);
  return s.size === 1 ? reshape(s, []) : s;
}

/** round_half_even(acc * multiplier) + zero point, saturated to `type` (int8 or uint8), from a float64 accumulator. */
function requantize(ctx: OpContext, acc: Tensor, multiplier: Tensor, zeroPoint: Tensor | undefined, type: number): Value {
  if (type !== DataType.INT8 && type !== DataType.UINT8) throw ctx.error('UNSUPPORTED_DTYPE', `output type ${dataTypeName(type)} is not supported (int8 or uint8)`);
  let y = mul(cast(acc, 'float64'), cast(multiplier, 'float64'));
  if (zeroPoint !== undefined) y = add(y, cast(zeroPoint, 'float64'));
  const [lo, hi] = type === DataType.INT8 ? [-128, 127] : [0, 255];
  return Value.fromTensor(cast(clamp(round(y), lo, hi), type === DataType.INT8 ? 'int8' : 'uint8'), type);
}

/** The output's quantized type: y_zero_point's, else (ONNX's reference) input 0's. */
const outputType = (ctx: OpContext, yZero: number): number => (ctx.has(yZero) ? ctx.input(yZero) : ctx.input(0)).elemType;

export const QLinearMatMul: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const a = quantizedInput(ctx, 0);
    const b = quantizedInput(ctx, 3);
    const acc = integerProduct(ctx, a, b, zeroPointInput(ctx, 2, 0), zeroPointInput(ctx, 5, 3));
    const aScale = scaleInput(ctx, 1);
    const bScale = scaleInput(ctx, 4);
    const yScale = scaleInput(ctx, 6);
    // a's scale may be per row ([M], or [..., M, 1]), b's and y's per column ([N], or [..., 1, N]).
    const perRow = aScale.rank === 1 && a.rank >= 2 ? reshape(aScale, [aScale.shape[0], 1]) : aScale;
    const multiplier = div(mul(perRow, bScale), yScale);
    return [requantize(ctx, acc, multiplier, zeroPointInput(ctx, 7, 7), outputType(ctx, 7))];
  },
};

/**
 * The convolution of (x - xZero) with (w - wZero), exact, in float64: the zero points come off
 * first (so the padding, zeros after that, reads as the zero point, as ONNX's reference pads),
 * and every operand is then an integer of magnitude <= 255, each product below 2^16, and a sum
 * of fewer than 2^37 of them stays below 2^53, where float64 holds every integer: each partial
 * sum is exact whatever order the kernel adds in, and so is the result.
 */
function integerConvolution(ctx: OpContext, x: Tensor, w: Tensor, xZero: Tensor | undefined, wZero: Tensor | undefined, bias?: Tensor): Tensor {
  const groups = checkConvShapes(ctx, x.shape, w.shape);
  const kernel = kernelShapeAttr(ctx, x.rank - 2, w.shape.slice(2));
  const geometry = windowGeometry(ctx, x.shape.slice(2), kernel);
  let xs = cast(x, 'float64');
  if (xZero !== undefined) {
    if (xZero.rank !== 0) throw ctx.error('SHAPE_MISMATCH', `x_zero_point ${formatShape(xZero.shape)} must be a scalar (per tensor)`);
    xs = sub(xs, cast(xZero, 'float64'));
  }
  let ws = cast(w, 'float64');
  if (wZero !== undefined) {
    if (wZero.rank !== 0 && !(wZero.rank === 1 && wZero.shape[0] === w.shape[0])) {
      throw ctx.error('SHAPE_MISMATCH', `w_zero_point ${formatShape(wZero.shape)} must be a scalar or have one value per output channel (${w.shape[0]})`);
    }
    ws = sub(ws, cast(wZero.rank === 0 ? wZero : reshape(wZero, [w.shape[0], ...w.shape.slice(1).map(() => 1)]), 'float64'));
  }
  let y = convolve(ctx, xs, ws, { ...geometry, groups });
  if (bias !== undefined) {
    if (bias.size !== w.shape[0]) throw ctx.error('SHAPE_MISMATCH', `bias ${formatShape(bias.shape)} must have one value per output channel (${w.shape[0]})`);
    y = add(y, reshape(cast(bias, 'float64'), [1, w.shape[0], ...w.shape.slice(2).map(() => 1)]));
  }
  return y;
}

export const ConvInteger: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const x = quantizedInput(ctx, 0);
    const w = quantizedInput(ctx, 1);
    const y = integerConvolution(ctx, x, w, zeroPointInput(ctx, 2, 0), zeroPointInput(ctx, 3, 1));
    return [Value.fromTensor(cast(y, 'int32'), DataType.INT32)];
  },
};

export const QLinearConv: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const x = quantizedInput(ctx, 0);
    const w = quantizedInput(ctx, 3);
    let bias: Tensor | undefined;
    if (ctx.has(8)) {
      if (ctx.input(8).elemType !== DataType.INT32) throw ctx.error('UNSUPPORTED_DTYPE', `bias is ${dataTypeName(ctx.input(8).elemType)}, int32 expected`);
      bias = ctx.tensor(8);
    }
    const acc = integerConvolution(ctx, x, w, zeroPointInput(ctx, 2, 0), zeroPointInput(ctx, 5, 3), bias);
    const xScale = scaleInput(ctx, 1);
    const wScale = scaleInput(ctx, 4);
    const yScale = scaleInput(ctx, 6);
    if (xScale.rank !== 0 || yScale.rank !== 0) throw ctx.error('SHAPE_MISMATCH', 'x_scale and y_scale must be scalars (per tensor)');
    if (wScale.rank !== 0 && !(wScale.rank === 1 && wScale.shape[0] === w.shape[0])) {
      throw ctx.error('SHAPE_MISMATCH', `w_scale ${formatShape(wScale.shape)} must be a scalar or have one value per output channel (${w.shape[0]})`);
    }
    const perChannel = wScale.rank === 0 ? wScale : reshape(wScale, [1, w.shape[0], ...w.shape.slice(2).map(() => 1)]);
    const multiplier = div(mul(xScale, perChannel), yScale);
    return [requantize(ctx, acc, multiplier, zeroPointInput(ctx, 7, 7), outputType(ctx, 7))];
  },
};
