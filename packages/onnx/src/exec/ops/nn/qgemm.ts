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


/** Checks a float scale input's type and size (1, or one of `sizes`); its values are read only where they are used. */
function checkScale(ctx: OpContext, i: number, what: string, sizes: readonly number[]): void {
  const v = ctx.input(i);
  if (v.elemType !== DataType.FLOAT) throw ctx.error('UNSUPPORTED_DTYPE', `${what} is ${dataTypeName(v.elemType)}; float expected`);
  if (!sizes.includes(v.size) || v.rank > 1) throw ctx.error('SHAPE_MISMATCH', `${what} ${formatShape(v.shape)} must be a scalar${sizes.length > 1 ? ` or have ${sizes[1]} values` : ''}`);
}

/**
 * How a zero point input enters the product: 'none' when it is absent or a constant of zeros
 * (the kernel then subtracts nothing), 'scalar' or 'vector' otherwise. Checks its type and size.
 */
function zeroPointForm(ctx: OpContext, i: number, operand: number, sizes: readonly number[], what: string): 'none' | 'scalar' | 'vector' {
  if (!ctx.has(i)) return 'none';
  const v = ctx.input(i);
  if (v.elemType !== ctx.input(operand).elemType) throw ctx.error('INVALID_MODEL', `${what} is ${dataTypeName(v.elemType)}, its operand ${dataTypeName(ctx.input(operand).elemType)}`);
  if (!sizes.includes(v.size) || v.rank > 1) throw ctx.error('SHAPE_MISMATCH', `${what} ${formatShape(v.shape)} must be a scalar${sizes.length > 1 ? ` or have ${sizes[1]} values` : ''}`);
  // A steady plan is remade when a host value changes, so reading a constant's values here is safe.
  if (v.constant && v.numbers().every((z) => z === 0)) return 'none';
  return v.size === 1 ? 'scalar' : 'vector';
}

/** A zero point input as the product takes it; a scalar's 0-d view of a constant made once. */
function zeroPointTensor(ctx: OpContext, i: number, form: 'scalar' | 'vector'): Tensor {
  const t = ctx.tensor(i);
  if (form === 'vector') return t;
  return ctx.input(i).constant ? ctx.memo(`scalar-${i}`, () => reshape(t, [])) : reshape(t, []);
}

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

/** What a QGemm node derives from its inputs' types, shapes and constants: checked once per steady run. */
interface QGemmPlan {
  readonly transA: boolean;
  readonly transB: boolean;
  readonly n: number;
  readonly type: 'float32' | 'int8' | 'uint8';
  readonly elemType: number;
  readonly aZero: 'none' | 'scalar' | 'vector';
  readonly bZero: 'none' | 'scalar' | 'vector';
  readonly yZero: 'none' | 'scalar' | 'vector';
  readonly constantScale: boolean;
  readonly constantBias: boolean;
}

function qgemmPlan(ctx: OpContext): QGemmPlan {
  for (const [i, what] of [[0, 'A'], [3, 'B']] as const) {
    const type = ctx.input(i).elemType;
    if (!EIGHT_BIT.has(type)) throw ctx.error('UNSUPPORTED_DTYPE', `${what} is ${dataTypeName(type)}; int8 or uint8 expected`);
  }
  const [a, b] = [ctx.input(0).shape, ctx.input(3).shape];
  if (a.length !== 2 || b.length !== 2) throw ctx.error('INVALID_SHAPE', `A ${formatShape(a)} and B ${formatShape(b)} must be 2-D`);
  const transA = ctx.attrs.int('transA', 0) !== 0;
  const transB = ctx.attrs.int('transB', 0) !== 0;
  const k = transA ? a[0] : a[1];
  const [k2, n] = transB ? [b[1], b[0]] : b;
  if (k !== k2) throw ctx.error('SHAPE_MISMATCH', `A ${formatShape(a)} and B ${formatShape(b)} do not multiply (transA ${Number(transA)}, transB ${Number(transB)})`);
  checkScale(ctx, 1, 'a_scale', [1]);
  checkScale(ctx, 4, 'b_scale', [1, n]);
  const aZero = zeroPointForm(ctx, 2, 0, [1], 'a_zero_point');
  const bZero = zeroPointForm(ctx, 5, 3, [1, n], 'b_zero_point');
  if (ctx.has(5) && ctx.input(5).size !== ctx.input(4).size) {
    throw ctx.error('SHAPE_MISMATCH', `b_zero_point has ${ctx.input(5).size} values and b_scale ${ctx.input(4).size}: they must match`);
  }
  if (ctx.has(7)) checkScale(ctx, 7, 'y_scale', [1]);
  let type: QGemmPlan['type'] = 'float32';
  let elemType: number = DataType.FLOAT;
  let yZero: QGemmPlan['yZero'] = 'none';
  if (ctx.has(8)) {
    elemType = ctx.input(8).elemType;
    if (!EIGHT_BIT.has(elemType)) throw ctx.error('UNSUPPORTED_DTYPE', `y_zero_point is ${dataTypeName(elemType)}; int8 or uint8 expected`);
    if (!ctx.has(7)) throw ctx.error('INVALID_MODEL', 'y_zero_point is given without y_scale');
    yZero = zeroPointForm(ctx, 8, 8, [1], 'y_zero_point');
    type = elemType === DataType.INT8 ? 'int8' : 'uint8';
  }
  if (ctx.has(6)) {
    const c = ctx.input(6);
    if (c.elemType !== DataType.INT32) throw ctx.error('UNSUPPORTED_DTYPE', `C is ${dataTypeName(c.elemType)}; int32 expected`);
    const perColumn = c.size === n && (c.rank === 1 || (c.rank === 2 && c.shape[0] === 1));
    if (!(c.size === 1 || perColumn)) throw ctx.error('UNSUPPORTED_OP', `C ${formatShape(c.shape)}: minnow takes a bias per tensor or per column ([${n}] or [1, ${n}])`);
  }
  return { transA, transB, n, type, elemType, aZero, bZero, yZero, constantScale: constantInputs(ctx, [1, 4, 7]), constantBias: constantInputs(ctx, [6]) };
}

/** A scalar 0 of `dtype`, made once per node (absent or all-zero zero points). */
const zero = (ctx: OpContext, dtype: 'int8' | 'uint8'): Tensor => ctx.memo(`zero-${dtype}`, () => full([], 0, { dtype, backend: ctx.backend }));

const eightBitDType = (elemType: number): 'int8' | 'uint8' => (elemType === DataType.INT8 ? 'int8' : 'uint8');

export const QGemm: OperatorDefinition = {
  sinceVersion: 1,
  run: (ctx) => {
    const plan = ctx.steady(() => qgemmPlan(ctx));
    const a = ctx.tensor(0);
    const b = ctx.tensor(3);
    const left = plan.transA ? transpose(a) : a;
    // A constant B's transposed view is made once (views of constants live as long as they do).
    const right = !plan.transB ? b : ctx.input(3).constant ? ctx.memo('b-transposed', () => transpose(b)) : transpose(b);
    const n = plan.n;
    const scale = plan.constantScale ? ctx.memo('scale', () => makeScale(ctx, n)) : makeScale(ctx, n);
    const bias = !ctx.has(6) ? undefined : plan.constantBias ? ctx.memo('bias', () => makeBias(ctx, n)) : makeBias(ctx, n);
    const aZero = plan.aZero === 'none' ? zero(ctx, eightBitDType(ctx.input(0).elemType)) : zeroPointTensor(ctx, 2, plan.aZero);
    const bZero = plan.bZero === 'none' ? zero(ctx, eightBitDType(ctx.input(3).elemType)) : zeroPointTensor(ctx, 5, plan.bZero);
    const outZero = plan.type === 'float32' ? undefined : plan.yZero === 'none' ? zero(ctx, plan.type) : zeroPointTensor(ctx, 8, 'scalar');
    return [Value.fromTensor(matmulIntegerScaled(left, right, { aZero, bZero, scale, bias, type: plan.type, outZero }), plan.elemType)];
  },
};
