import { add, formatShape, matmul, mul, transpose, type Tensor } from '@minnow/core';
import type { OperatorDefinition, OpContext } from '../../operator.js';

/** The dtypes core's matmul computes; ONNX's int64/uint32/uint64 ride on int32 (see dtypes.ts). */
const MATMUL_DTYPES = new Set(['float32', 'float64', 'int32']);

function matmulOperand(ctx: OpContext, i: number): Tensor {
  const t = ctx.tensor(i);
  if (!MATMUL_DTYPES.has(t.dtype)) throw ctx.error('UNSUPPORTED_DTYPE', `${ctx.node.opType} does not take ${t.dtype} input ${i}`);
  if (t.rank === 0) throw ctx.error('INVALID_SHAPE', `input ${i} must have rank >= 1, got a scalar`);
  return t;
}

/** numpy matmul: 1-D operands gain a dim (then lose it), batch dims broadcast. */
export const MatMul: OperatorDefinition = {
  run: (ctx) => {
    const a = matmulOperand(ctx, 0);
    const b = matmulOperand(ctx, 1);
    const k = a.shape[a.rank - 1];
    const k2 = b.rank === 1 ? b.shape[0] : b.shape[b.rank - 2];
    if (k !== k2) throw ctx.error('SHAPE_MISMATCH', `inner dims differ: ${formatShape(a.shape)} x ${formatShape(b.shape)} (${k} vs ${k2})`);
    return [matmul(a, b)];
  },
};

/** Y = alpha * A' B' + beta * C, A' and B' optionally transposed, C broadcast to [M, N] (and optional from opset 11). */
export const Gemm: OperatorDefinition = {
  run: (ctx) => {
    const a = matmulOperand(ctx, 0);
    const b = matmulOperand(ctx, 1);
    const plan = ctx.steady(() => gemmPlan(ctx, a, b));
    const left = plan.transA ? transpose(a) : a;
    // An initialiser B is the same tensor every run: its transposed view is made once.
    const right = !plan.transB ? b : ctx.input(1).constant ? ctx.memo('gemm:transposed-b', () => transpose(b)) : transpose(b);
    let y = matmul(left, right);
    if (plan.alpha !== 1) y = mul(y, plan.alpha);
    if (!plan.addC) return [y];
    const c = ctx.tensor(2);
    return [add(y, plan.beta === 1 ? c : mul(c, plan.beta))];
  },
};

/** Gemm's attributes, checked against the operands' shapes. */
function gemmPlan(ctx: OpContext, a: Tensor, b: Tensor) {
  if (a.rank !== 2 || b.rank !== 2) throw ctx.error('INVALID_SHAPE', `A and B must be 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const alpha = ctx.attrs.float('alpha', 1);
  const beta = ctx.attrs.float('beta', 1);
  if (a.dtype === 'int32' && (!Number.isInteger(alpha) || !Number.isInteger(beta))) {
    throw ctx.error('UNSUPPORTED_OP', `alpha ${alpha} and beta ${beta} must be integers for integer Gemm`);
  }
  const transA = ctx.attrs.int('transA', 0) !== 0;
  const transB = ctx.attrs.int('transB', 0) !== 0;
  const [m, k] = transA ? [a.shape[1], a.shape[0]] : a.shape;
  const [k2, n] = transB ? [b.shape[1], b.shape[0]] : b.shape;
  if (k !== k2) {
    throw ctx.error('SHAPE_MISMATCH', `A' [${m},${k}] and B' [${k2},${n}] do not multiply (transA ${Number(transA)}, transB ${Number(transB)})`);
  }
  const addC = ctx.has(2) && beta !== 0;
  if (addC) {
    const c = ctx.input(2).shape;
    const fits = c.length <= 2 && c.every((d, i) => d === 1 || d === [m, n][i + 2 - c.length]);
    if (!fits) throw ctx.error('SHAPE_MISMATCH', `C ${formatShape(c)} does not broadcast to the result [${m},${n}]`);
  }
  return { alpha, beta, transA, transB, addC };
}
