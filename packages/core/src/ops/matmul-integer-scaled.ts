import type { BufferView } from '../backend.js';
import { assertDType, type DType } from '../dtype.js';
import { MinnowError, formatShape } from '../errors.js';
import { runKernel } from '../dispatch.js';
import { broadcastShapes, broadcastStrides, sizeOf } from '../shape.js';
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
  /**
   * b as [...batch, ...K dims, ...N dims]: how many trailing dims make K and N (default 1 and 1, a
   * matrix). The product is then a's [..., M, K] times b read as [..., K, N] through its strides,
   * output [...batch, M, N]: a convolution's patches are a view of its input ([C, kH, kW] by
   * [oH, oW]), so the product reads them in place.
   */
  readonly bDims?: { readonly k: number; readonly n: number };
}

/**
 * An integer product with its epilogue fused, as onnxruntime's QGemm, QLinearMatMul and
 * QLinearConv run it: acc = (a - aZero) x (b - bZero) + bias in int32 (wrapping); y = f32(f32(acc)
 * x scale); the result is y (float32), or saturate(roundHalfEven(y) + outZero) (int8/uint8; a NaN
 * y, from a NaN or infinite scale, saturates to the lowest value). Batched over leading dims as
 * matmulInteger. One pass over the accumulators, none of them written to memory.
 */
export function matmulIntegerScaled(a: Tensor, b: Tensor, options: MatmulIntegerScaledOptions): Tensor {
  expectTensor(OP, 'a', a);
  expectTensor(OP, 'b', b);
  expectTensor(OP, 'scale', options.scale);
  assertDType(`${OP} a`, a.dtype, EIGHT_BIT);
  assertDType(`${OP} b`, b.dtype, EIGHT_BIT);
  if (a.rank < 2 || b.rank < 2) throw new MinnowError('INVALID_SHAPE', `${OP}: operands must have rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const { type } = options;
  if (type !== 'float32' && type !== 'int8' && type !== 'uint8') throw new MinnowError('INVALID_ARGUMENT', `${OP}: type must be float32, int8 or uint8, got ${String(type)}`);
  const perRow = options.perRow ?? false;
  const bKDims = options.bDims?.k ?? 1;
  const bNDims = options.bDims?.n ?? 1;
  const { shape, views } = bKDims === 1 && bNDims === 1 ? matmulShapes(OP, a, b) : tensorShapes(a, b, bKDims, bNDims);
  const m = a.shape[a.rank - 2];
  const n = shape[shape.length - 1];
  // Defaults and one-element vectors become scalars made here, disposed before returning. Plain
  // code, no closures: at batch 1 this wrapper is a real part of a layer's time.
  const made: Tensor[] = [];
  const backend = a.backend.name;
  try {
    const za = parameter(options.aZero, a.dtype, backend, made);
    const zb = parameter(options.bZero, b.dtype, backend, made);
    const scale = parameter(options.scale, 'float32', backend, made);
    const bias = parameter(options.bias, 'int32', backend, made);
    const zy = parameter(options.outZero, type === 'float32' ? 'int32' : type, backend, made);
    checkZeroPoint('aZero', za, a.dtype, m);
    checkZeroPoint('bZero', zb, b.dtype, n);
    checkVector('scale', scale, 'float32', perRow, perRow ? m : n);
    checkVector('bias', bias, 'int32', perRow, perRow ? m : n);
    if (type !== 'float32' && (zy.dtype !== type || zy.size !== 1)) {
      throw new MinnowError('SHAPE_MISMATCH', `${OP}: outZero must be a ${type} scalar, got ${zy.dtype} ${formatShape(zy.shape)}`);
    }
    return runKernel(OP, [a, b, za, zb, scale, bias, zy], { type, perRow, bKDims, bNDims }, { shape, dtype: type },
      [views[0], views[1], za.view(), zb.view(), scale.view(), bias.view(), zy.view()]);
  } finally {
    for (let i = 0; i < made.length; i++) made[i].dispose();
  }
}

const OP = 'matmulIntegerScaled';
const EIGHT_BIT: readonly DType[] = ['int8', 'uint8'];

/** `t`, or 0 of `dtype` when absent, as a scalar when it holds one value; what it makes goes into `made`. */
function parameter(t: Tensor | undefined, dtype: DType, backend: string, made: Tensor[]): Tensor {
  let out: Tensor;
  if (t === undefined) out = full([], 0, { dtype, backend });
  else if (t.size === 1 && t.rank !== 0) out = reshape(t, []);
  else return t;
  made.push(out);
  return out;
}

function checkZeroPoint(name: string, z: Tensor, operand: DType, length: number): void {
  if (z.dtype !== operand) throw new MinnowError('DTYPE_MISMATCH', `${OP}: ${name} is ${z.dtype} but its operand is ${operand}`);
  if (!(z.rank === 0 || (z.rank === 1 && z.shape[0] === length))) {
    throw new MinnowError('SHAPE_MISMATCH', `${OP}: ${name} must be a scalar or have shape [${length}], got ${formatShape(z.shape)}`);
  }
}

function checkVector(name: string, t: Tensor, dtype: DType, perRow: boolean, length: number): void {
  if (t.dtype !== dtype) throw new MinnowError('DTYPE_MISMATCH', `${OP}: ${name} must be ${dtype}, got ${t.dtype}`);
  if (!(t.rank === 0 || (t.rank === 1 && t.shape[0] === length))) {
    throw new MinnowError('SHAPE_MISMATCH', `${OP}: ${name} must be a scalar or have shape [${length}] (one per ${perRow ? 'row' : 'column'}), got ${formatShape(t.shape)}`);
  }
}

/**
 * Output shape and broadcast views when b has several K or N dims: b is [...batch, ...K dims,
 * ...N dims], a [...batch', M, K] with K the product of b's K dims; the batch dims broadcast.
 */
function tensorShapes(a: Tensor, b: Tensor, kDims: number, nDims: number): { shape: number[]; views: BufferView<unknown>[] } {
  if (!Number.isInteger(kDims) || !Number.isInteger(nDims) || kDims < 1 || nDims < 1 || b.rank < kDims + nDims) {
    throw new MinnowError('INVALID_ARGUMENT', `${OP}: bDims {k: ${kDims}, n: ${nDims}} must be positive integers within b's rank (b ${formatShape(b.shape)})`);
  }
  const batchRank = b.rank - kDims - nDims;
  const kShape = b.shape.slice(batchRank, batchRank + kDims);
  const nShape = b.shape.slice(batchRank + kDims);
  const k = sizeOf(kShape);
  const [m, ka] = [a.shape[a.rank - 2], a.shape[a.rank - 1]];
  if (ka !== k) {
    throw new MinnowError('SHAPE_MISMATCH', `${OP}: inner dims differ: ${formatShape(a.shape)} x b's K dims ${formatShape(kShape)} (${ka} vs ${k})`);
  }
  const batch = broadcastShapes(OP, a.shape.slice(0, -2), b.shape.slice(0, batchRank));
  const aShape = [...batch, m, ka];
  const bShape = [...batch, ...kShape, ...nShape];
  return {
    shape: [...batch, m, sizeOf(nShape)],
    views: [
      { ...a.view(), shape: aShape, strides: broadcastStrides(OP, a.shape, a.strides, aShape) },
      { ...b.view(), shape: bShape, strides: broadcastStrides(OP, b.shape, b.strides, bShape) },
    ],
  };
}
