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
    if (a.rank !== 2 || b.rank !== 2) throw ctx.error('INVALID_SHAPE', `A and B must be 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
    const alpha = ctx.attrs.float('alpha', 1);
    const beta = ctx.attrs.float('beta', 1);
    if (a.dtype === 'int32' && (!Number.isInteger(alpha) || !Number.isInteger(beta))) {
      throw ctx.error('UNSUPPORTED_OP', `alpha ${alpha} and beta ${beta} must be integers for integer Gemm`);
    }
    const left = ctx.attrs.int('transA', 0) ? transpose(a) : a;
    const right = ctx.attrs.int('transB', 0) ? transpose(b) : b;
    const [m, k] = left.shape;
    const [k2, n] = right.shape;
    if (k !== k2) throw ctx.error('SHAPE_MISMATCH', `A' ${formatShape(left.shape)} and B' ${formatShape(right.shape)} do not multiply (transA ${ctx.attrs.int('transA', 0)}, transB ${ctx.attrs.int('transB', 0)})`);
    let y = matmul(left, right);
    if (alpha !== 1) y = mul(y, alpha);
    if (!ctx.has(2) || beta === 0) return [y];
    const c = ctx.tensor(2);
    const fits = c.rank <= 2 && c.shape.every((d, i) => d === 1 || d === [m, n][i + 2 - c.rank]);
    if (!fits) throw ctx.error('SHAPE_MISMATCH', `C ${formatShape(c.shape)} does not broadcast to the result [${m},${n}]`);
    return [add(y, beta === 1 ? c : mul(c, beta))];
  },
};
