import { assertDType } from '../dtype.js';
import { MinnowError, formatShape } from '../errors.js';
import { runKernel } from '../dispatch.js';
import type { Tensor } from '../tensor.js';
import { full } from './creation.js';
import { expectTensor, matmulShapes } from './primitives.js';
import type { ScaledOutputType } from './table.js';
import { reshape } from './view.js';

export interface MatmulIntegerScaledOptions {
  /** a's zero point: a scalar, or one per row [M]; a's dtype. Default 0. */
  readonly aZero?: Tensor;
  /** b's zero point: a scalar, or one per column [N]; b's dtype. Default 0. */
  readonly bZero?: Tensor;
  /** float32 multiplier of the accumulator: a scalar, or one per row [M] or column [N] (see `perRow`). */
  readonly scale: Tensor;
  /** int32 added to the accumulator before scaling: laid out as `scale`. Default 0. */
  readonly bias?: Tensor;
  /** The output: float32, or int8/uint8 quantized with `outZero`. */
  readonly type: ScaledOutputType;
  /** The output's zero point, a scalar of `type` (int8/uint8 only). Default 0. */
  readonly outZero?: Tensor;
  /** Scale and bias run down the rows (one per row of a, [M]) instead of along the columns ([N]). */
  readonly perRow?: boolean;
}

/**
 * An integer product with its epilogue fused, as onnxruntime's QGemm, QLinearMatMul and
 * QLinearConv run it: acc = (a - aZero) x (b - bZero) + bias in int32 (wrapping); y = f32(f32(acc)
 * x scale); the result is y (float32), or saturate(roundHalfEven(y) + outZero) (int8/uint8; a NaN
 * y, from a NaN or infinite scale, saturates to the lowest value). Batched over leading dims as
 * matmulInteger. One pass over the accumulators, none of them written to memory.
 */
export function matmulIntegerScaled(a: Tensor, b: Tensor, options: MatmulIntegerScaledOptions): Tensor {
  const op = 'matmulIntegerScaled';
  expectTensor(op, 'a', a);
  expectTensor(op, 'b', b);
  expectTensor(op, 'scale', options.scale);
  for (const [name, t] of [['a', a], ['b', b]] as const) assertDType(`${op} ${name}`, t.dtype, ['int8', 'uint8']);
  if (a.rank < 2 || b.rank < 2) throw new MinnowError('INVALID_SHAPE', `${op}: operands must have rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const { type } = options;
  if (type !== 'float32' && type !== 'int8' && type !== 'uint8') throw new MinnowError('INVALID_ARGUMENT', `${op}: type must be float32, int8 or uint8, got ${String(type)}`);
  const perRow = options.perRow ?? false;
  const { shape, views } = matmulShapes(op, a, b);
  const m = a.shape[a.rank - 2];
  const n = b.shape[b.rank - 1];
  const along = perRow ? m : n;
  const backend = a.backend.name;
  const made: Tensor[] = [];
  const orDefault = (t: Tensor | undefined, dtype: 'int8' | 'uint8' | 'int32'): Tensor => {
    if (t !== undefined) return t;
    const z = full([], 0, { dtype, backend });
    made.push(z);
    return z;
  };
  try {
    const za = orDefault(options.aZero, a.dtype as 'int8' | 'uint8');
    const zb = orDefault(options.bZero, b.dtype as 'int8' | 'uint8');
    const bias = orDefault(options.bias, 'int32');
    const zy = orDefault(options.outZero, type === 'float32' ? 'int32' : type);
    for (const [name, z, t, len] of [['aZero', za, a, m], ['bZero', zb, b, n]] as const) {
      if (z.dtype !== t.dtype) throw new MinnowError('DTYPE_MISMATCH', `${op}: ${name} is ${z.dtype} but its operand is ${t.dtype}`);
      if (!(z.size === 1 || (z.rank === 1 && z.shape[0] === len))) {
        throw new MinnowError('SHAPE_MISMATCH', `${op}: ${name} must be a scalar or have shape [${len}], got ${formatShape(z.shape)}`);
      }
    }
    for (const [name, t, dtype] of [['scale', options.scale, 'float32'], ['bias', bias, 'int32']] as const) {
      if (t.dtype !== dtype) throw new MinnowError('DTYPE_MISMATCH', `${op}: ${name} must be ${dtype}, got ${t.dtype}`);
      if (!(t.size === 1 || (t.rank === 1 && t.shape[0] === along))) {
        throw new MinnowError('SHAPE_MISMATCH', `${op}: ${name} must be a scalar or have shape [${along}] (one per ${perRow ? 'row' : 'column'}), got ${formatShape(t.shape)}`);
      }
    }
    if (type !== 'float32' && (zy.dtype !== type || zy.size !== 1)) {
      throw new MinnowError('SHAPE_MISMATCH', `${op}: outZero must be a ${type} scalar, got ${zy.dtype} ${formatShape(zy.shape)}`);
    }
    const scalar = (t: Tensor): Tensor => (t.size === 1 && t.rank !== 0 ? reshape(t, []) : t);
    const params = [za, zb, options.scale, bias, zy].map(scalar);
    made.push(...params.filter((t, i) => t !== [za, zb, options.scale, bias, zy][i]));
    return runKernel(op, [a, b, ...params], { type, perRow }, { shape, dtype: type }, [...views, ...params.map((t) => t.view())]);
  } finally {
    for (const t of made) t.dispose();
  }
}
