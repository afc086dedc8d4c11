import { formatShape, fromArray, full, matmulIntegerScaled, reshape, transpose, type Tensor } from '@minnow/core';
import { dataTypeName } from '../../../ir/tensor.js';
import { DataType } from '../../../ir/types.js';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { Value } from '../../value.js';

/**
 * com.microsoft QGemm, onnxruntime's quantized Gemm (what its QDQ transformer makes of a
 * DequantizeLinear -> Gemm -> QuantizeLinear group, and what fuseQuantized makes of one):
 *
 *   acc = (A' - a_zero_point) x (B' - b_zero_point) + C    (int32; A', B' transposed per transA/transB)
 *   y   = f32(acc) * f32(f32(alpha * a_scale) * b_scale[n])  [/ y_scale]
 *
 * With y_zero_point the output is requantized to its type (saturate(roundHalfEven(y) + y_zp));
 * without it, y is the float32 output (divided by y_scale when one is given, as onnxruntime does).
 * A and B are 2-D; a's scale and zero point per tensor; b's per tensor or per column [N] (the same
 * shape for both); C is int32, a scalar or one value per column ([N] or [1, N]). The whole product
 * is one matmulIntegerScaled, its multipliers and bias made once per node when they are constants.
 */

const EIGHT_BIT = new Set<number>([DataType.INT8, DataType.UINT8]);

function eightBit(ctx: OpContext, i: number, what: string): Tensor {
  const type = ctx.input(i).elemType;
  if (!EIGHT_BIT.has(type)) throw ctx.error('UNSUPPORTED_DTYPE', `${what} is ${dataTypeName(type)}; int8 or uint8 expected`);
  return ctx.tensor(i);
}

/** Checks a float scale input's type and size (1, or one of `sizes`); its values are read only where they are used. */
function checkScale(ctx: OpContext, i: number, what: string, sizes: readonly number[]): void {
  const v = ctx.input(i);
  if (v.elemType !== DataType.FLOAT) throw ctx.error('UNSUPPORTED_DTYPE', `${what} is ${dataTypeName(v.elemType)}; float expected`);
  if (!sizes.includes(v.size) || v.rank > 1) throw ctx.error('SHAPE_MISMATCH', `${what} ${formatShape(v.shape)} must be a scalar${sizes.length > 1 ? ` or have ${sizes[1]} values` : ''}`);
}

/**
 * A zero point input of its operand's type, as a scalar or a [n] vector; none when it is absent,
 * or a constant of zeros (checked once per node): the kernel then subtracts nothing.
 */
function zeroPoint(ctx: OpContext, i: number, operand: number, sizes: readonly number[], what: string): Tensor | undefined {
  if (!ctx.has(i)) return undefined;
  const v = ctx.input(i);
  if (v.elemType !== ctx.input(operand).elemType) throw ctx.error('INVALID_MODEL', `${what} is ${dataTypeName(v.elemType)}, its operand ${dataTypeName(ctx.input(operand).elemType)}`);
  if (!sizes.includes(v.size) || v.rank > 1) throw ctx.error('SHAPE_MISMATCH', `${what} ${formatShape(v.shape)} must be a scalar${sizes.length > 1 ? ` or have ${sizes[1]} values` : ''}`);
  if (v.constant) {
    let zeros = allZero.get(v);
    if (zeros === undefined) {
      zeros = v.numbers().every((z) => z === 0);
      allZero.set(v, zeros);
    }
    if (zeros) return undefined;
  }
  const t = ctx.tensor(i);
  if (v.size !== 1) return t;
  return v.constant ? ctx.memo(`scalar-${i}`, () => reshape(t, [])) : reshape(t, []);
}

/** Whether a constant zero point (a session's value, fixed for its life) holds only zeros. */
const allZero = new WeakMap<Value, boolean>();

/** The accumulator's multipliers: f32(f32(alpha * a_scale) * b_scale[n]) [/ y_scale], as onnxruntime forms them. */
function makeScale(ctx: OpContext, n: number): Tensor {
  const alpha = ctx.attrs.float('alpha', 1);
  const aScale = ctx.input(1).numbers()[0];
  const yScale = ctx.has(7) ? ctx.input(7).numbers()[0] : undefined;
  const scales = Float32Array.from(ctx.input(4).numbers(), (s) => {
    const product = Math.fround(Math.fround(alpha * aScale) * s);
    return yScale === undefined ? product : Math.fround(product / yScale);
  });
  return fromArray(scales, scales.length === 1 ? [] : [n], { backend: ctx.backend });
}

function makeBias(ctx: OpContext, n: number): Tensor {
  const values = Int32Array.from(ctx.input(6).numbers());
  return fromArray(values, values.length === 1 ? [] : [n], { dtype: 'int32', backend: ctx.backend });
}

const constantInputs = (ctx: OpContext, inputs: readonly number[]): boolean => inputs.every((i) => !ctx.has(i) || ctx.input(i).constant);

export const QGemm: OperatorDefinition = {
  sinceVersion: 1,
  run: (ctx) => {
    const a = eightBit(ctx, 0, 'A');
    const b = eightBit(ctx, 3, 'B');
    if (a.rank !== 2 || b.rank !== 2) throw ctx.error('INVALID_SHAPE', `A ${formatShape(a.shape)} and B ${formatShape(b.shape)} must be 2-D`);
    const left = ctx.attrs.int('transA', 0) ? transpose(a) : a;
    // A constant B's transposed view is made once (views of constants live as long as they do).
    const right = !ctx.attrs.int('transB', 0) ? b : ctx.input(3).constant ? ctx.memo('b-transposed', () => transpose(b)) : transpose(b);
    const [k, n] = [left.shape[1], right.shape[1]];
    if (right.shape[0] !== k) throw ctx.error('SHAPE_MISMATCH', `A' ${formatShape(left.shape)} and B' ${formatShape(right.shape)} do not multiply`);
    checkScale(ctx, 1, 'a_scale', [1]);
    checkScale(ctx, 4, 'b_scale', [1, n]);
    const aZero = zeroPoint(ctx, 2, 0, [1], 'a_zero_point');
    const bZero = zeroPoint(ctx, 5, 3, [1, n], 'b_zero_point');
    if (ctx.has(5) && ctx.input(5).size !== ctx.input(4).size) {
      throw ctx.error('SHAPE_MISMATCH', `b_zero_point has ${ctx.input(5).size} values and b_scale ${ctx.input(4).size}: they must match`);
    }
    if (ctx.has(7)) checkScale(ctx, 7, 'y_scale', [1]);
    let type: { dtype: 'float32' | 'int8' | 'uint8'; elemType: number } = { dtype: 'float32', elemType: DataType.FLOAT };
    if (ctx.has(8)) {
      const elemType = ctx.input(8).elemType;
      if (!EIGHT_BIT.has(elemType)) throw ctx.error('UNSUPPORTED_DTYPE', `y_zero_point is ${dataTypeName(elemType)}; int8 or uint8 expected`);
      if (!ctx.has(7)) throw ctx.error('INVALID_MODEL', 'y_zero_point is given without y_scale');
      if (ctx.input(8).size !== 1) throw ctx.error('SHAPE_MISMATCH', `y_zero_point ${formatShape(ctx.input(8).shape)} must be a scalar`);
      type = { dtype: elemType === DataType.INT8 ? 'int8' : 'uint8', elemType };
    }
    if (ctx.has(6)) {
      const c = ctx.input(6);
      if (c.elemType !== DataType.INT32) throw ctx.error('UNSUPPORTED_DTYPE', `C is ${dataTypeName(c.elemType)}; int32 expected`);
      const perColumn = c.size === n && (c.rank === 1 || (c.rank === 2 && c.shape[0] === 1));
      if (!(c.size === 1 || perColumn)) throw ctx.error('UNSUPPORTED_OP', `C ${formatShape(c.shape)}: minnow takes a bias per tensor or per column ([${n}] or [1, ${n}])`);
    }
    const scale = constantInputs(ctx, [1, 4, 7]) ? ctx.memo('scale', () => makeScale(ctx, n)) : makeScale(ctx, n);
    const bias = !ctx.has(6) ? undefined : constantInputs(ctx, [6]) ? ctx.memo('bias', () => makeBias(ctx, n)) : makeBias(ctx, n);
    const outZero = type.dtype === 'float32' ? undefined : zeroPoint(ctx, 8, 8, [1], 'y_zero_point') ?? ctx.memo('y-zero', () => full([], 0, { dtype: type.dtype, backend: ctx.backend }));
    // Absent (or all-zero) zero points as scalar zeros made once, not by the product on every run.
    const zeros = (which: string, t: Tensor): Tensor => ctx.memo(`zero-${which}`, () => full([], 0, { dtype: t.dtype, backend: ctx.backend }));
    return [Value.fromTensor(matmulIntegerScaled(left, right, {
      aZero: aZero ?? zeros('a', a), bZero: bZero ?? zeros('b', b), scale, bias, type: type.dtype, outZero,
    }), type.elemType)];
  },
};
