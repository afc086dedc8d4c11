import type { DType } from '../dtype.js';
import { FLOAT_DTYPES, NUMERIC_DTYPES, SIGNED_DTYPES, DTYPES } from '../dtype.js';

/**
 * The primitive op table: every op minnow's engine knows natively, as data. Everything else (softmax,
 * layer norm, GELU, losses, attention) is composed from these in core and so runs on every backend.
 *
 * - `kernel` ops must be implemented by every backend: a Backend's kernels are a
 *   `Record<KernelOp, Kernel>`, so a missing one is a compile error.
 * - `view` ops (reshape, permute, expand, slice) never touch data: core computes new strides and an
 *   offset over the same storage. `contiguous` materialises a view through the `cast` kernel.
 * - Every primitive, kernel and view alike, has a gradient rule in autograd/gradients.ts, in a
 *   table typed over PrimOp like this one: a primitive added here without a rule does not compile.
 *
 * Kernel contract, shared by all backends (see backend.ts):
 * - the output is a fresh contiguous buffer of the shape and dtype that core inferred;
 * - inputs are strided views (shape, strides, offset), possibly with stride 0 where broadcast;
 * - elementwise inputs arrive already broadcast to the output shape (as stride-0 views, never copies);
 * - reductions get `axes` and write the output with those axes kept as size 1.
 */

export type PrimitiveKind = 'unary' | 'binary' | 'ternary' | 'reduce' | 'view' | 'special';

export interface PrimitiveSpec {
  readonly kind: PrimitiveKind;
  /** Number of tensor inputs. */
  readonly arity: number;
  /** dtypes accepted by the first input (elementwise ops require all data inputs to share it). */
  readonly dtypes: readonly DType[];
  readonly doc: string;
}

/** Attributes of each primitive, as the kernels receive them (already validated and normalised). */
export interface PrimitiveAttrs {
  neg: Record<string, never>;
  exp: Record<string, never>;
  log: Record<string, never>;
  sqrt: Record<string, never>;
  reciprocal: Record<string, never>;
  tanh: Record<string, never>;
  abs: Record<string, never>;
  sign: Record<string, never>;
  floor: Record<string, never>;
  round: Record<string, never>;
  cast: { dtype: DType };
  add: Record<string, never>;
  sub: Record<string, never>;
  mul: Record<string, never>;
  div: Record<string, never>;
  max: Record<string, never>;
  min: Record<string, never>;
  pow: Record<string, never>;
  cmplt: Record<string, never>;
  cmpeq: Record<string, never>;
  where: Record<string, never>;
  sum: { axes: readonly number[] };
  reduceMax: { axes: readonly number[] };
  pad: { pads: readonly (readonly [number, number])[]; value: number };
  matmul: Record<string, never>;
  conv2d: Conv2dAttrs;
  gather: { axis: number };
  matmulInteger: Record<string, never>;
  spmm: Record<string, never>;
  quantize: QuantizeAttrs;
  dequantize: DequantizeAttrs;
  matmulIntegerScaled: MatmulIntegerScaledAttrs;
  reshape: { shape: readonly number[] };
  permute: { axes: readonly number[] };
  expand: { shape: readonly number[] };
  slice: { starts: readonly number[]; ends: readonly number[]; steps: readonly number[] };
}

export interface Conv2dAttrs {
  /** [strideH, strideW] */
  readonly stride: readonly [number, number];
  /** [top, left, bottom, right], zero padding */
  readonly padding: readonly [number, number, number, number];
  /** [dilationH, dilationW] */
  readonly dilation: readonly [number, number];
  readonly groups: number;
}

/** Storage targets of quantize: int4/uint4 saturate to 4 bits but are held in int8/uint8 tensors. */
export type QuantizedType = 'int8' | 'uint8' | 'int4' | 'uint4';

/**
 * Quantization parameters (scale, zero point) are views with the rank of x. Along `axis` the index
 * of element i is floor(i / blockSize); every other dim indexes them directly (often with stride 0).
 * Per tensor, per axis and blocked quantization are all this one form: core normalises them.
 */
export interface QuantizeAttrs {
  readonly axis: number;
  readonly blockSize: number;
  readonly type: QuantizedType;
}

export interface DequantizeAttrs {
  readonly axis: number;
  readonly blockSize: number;
}

/** What matmulIntegerScaled writes: the scaled accumulator as float32, or requantized to 8 bits. */
export type ScaledOutputType = 'float32' | 'int8' | 'uint8';

export interface MatmulIntegerScaledAttrs {
  readonly type: ScaledOutputType;
  /** Scale and bias are per row of a ([M]) rather than per column of b ([N]) when they are not scalars. */
  readonly perRow: boolean;
  /**
   * How many of b's trailing dims form K and N: b is [...batch, ...K dims, ...N dims] (1 and 1 for
   * a matrix), read through its strides, K and N the products of their dims. A convolution passes
   * its input's patches this way, as a view: no gathered copy, no positions outside the output.
   */
  readonly bKDims: number;
  readonly bNDims: number;
}

export type PrimOp = keyof PrimitiveAttrs;

const unary = (dtypes: readonly DType[], doc: string): PrimitiveSpec => ({ kind: 'unary', arity: 1, dtypes, doc });
const binary = (dtypes: readonly DType[], doc: string): PrimitiveSpec => ({ kind: 'binary', arity: 2, dtypes, doc });

export const PRIMITIVES: { readonly [K in PrimOp]: PrimitiveSpec } = {
  neg: unary(SIGNED_DTYPES, '-x'),
  exp: unary(FLOAT_DTYPES, 'e^x'),
  log: unary(FLOAT_DTYPES, 'natural logarithm; -inf at 0, NaN below'),
  sqrt: unary(FLOAT_DTYPES, 'square root; NaN below 0'),
  reciprocal: unary(FLOAT_DTYPES, '1/x'),
  tanh: unary(FLOAT_DTYPES, 'hyperbolic tangent'),
  abs: unary(NUMERIC_DTYPES, '|x| (int8 -128 stays -128, as in two\'s complement)'),
  sign: unary(NUMERIC_DTYPES, '-1, 0 or 1 (NaN stays NaN)'),
  floor: unary(FLOAT_DTYPES, 'round toward -inf'),
  round: unary(FLOAT_DTYPES, 'round half to even (ONNX Round, numpy.round)'),
  cast: unary(DTYPES, 'convert dtype: float to int truncates toward zero then wraps; to bool is x != 0; same dtype copies (contiguous)'),
  add: binary(NUMERIC_DTYPES, 'a + b (integers wrap)'),
  sub: binary(NUMERIC_DTYPES, 'a - b (integers wrap)'),
  mul: binary(NUMERIC_DTYPES, 'a * b (integers wrap)'),
  div: binary(NUMERIC_DTYPES, 'a / b; integers truncate toward zero, and integer division by zero is an error'),
  max: binary(NUMERIC_DTYPES, 'elementwise maximum; NaN wins'),
  min: binary(NUMERIC_DTYPES, 'elementwise minimum; NaN wins'),
  pow: binary(FLOAT_DTYPES, 'a ^ b'),
  cmplt: binary(NUMERIC_DTYPES, 'a < b, to bool'),
  cmpeq: binary(DTYPES, 'a == b, to bool'),
  where: { kind: 'ternary', arity: 3, dtypes: ['bool'], doc: 'cond ? a : b; cond is bool, a and b share a dtype' },
  sum: { kind: 'reduce', arity: 1, dtypes: NUMERIC_DTYPES, doc: 'sum over axes; integers accumulate to int32' },
  reduceMax: { kind: 'reduce', arity: 1, dtypes: NUMERIC_DTYPES, doc: 'maximum over axes (non-empty); NaN wins' },
  pad: { kind: 'special', arity: 1, dtypes: DTYPES, doc: 'constant padding before/after each dim (non-negative; core slices for negative pads)' },
  matmul: { kind: 'special', arity: 2, dtypes: ['float32', 'float64', 'int32'], doc: 'batched [..., M, K] x [..., K, N]; batch dims arrive broadcast' },
  conv2d: { kind: 'special', arity: 2, dtypes: FLOAT_DTYPES, doc: 'NCHW input x OIHW weight, with stride, zero padding, dilation and groups; no bias' },
  gather: { kind: 'special', arity: 2, dtypes: DTYPES, doc: 'ONNX Gather: take indices (int32, negative counts from the end) along axis' },
  matmulInteger: {
    kind: 'special',
    arity: 4,
    dtypes: ['int8', 'uint8'],
    doc: 'ONNX MatMulInteger: (a - aZero) x (b - bZero) to int32; aZero per tensor or per row [M], bZero per tensor or per column [N]',
  },
  spmm: {
    kind: 'special',
    arity: 4,
    dtypes: FLOAT_DTYPES,
    doc: 'sparse x dense: CSR values [nnz], colIndices int32 [nnz], rowPointers int32 [M+1] times dense [K, N] (values dtype) -> [M, N]; indices checked by core (ops/sparse.ts) before any kernel sees them',
  },
  quantize: {
    kind: 'special',
    arity: 3,
    dtypes: FLOAT_DTYPES,
    doc: 'ONNX QuantizeLinear: saturate(roundHalfEven(x / scale) + zeroPoint), per tensor, per axis or blocked',
  },
  dequantize: {
    kind: 'special',
    arity: 3,
    dtypes: ['int8', 'uint8', 'int32'],
    doc: 'ONNX DequantizeLinear: (x - zeroPoint) * scale, to the dtype of scale',
  },
  matmulIntegerScaled: {
    kind: 'special',
    arity: 7,
    dtypes: ['int8', 'uint8'],
    doc: 'matmulInteger with its epilogue fused (onnxruntime QGemm, QLinearMatMul, QLinearConv): inputs a, b, aZero, bZero, scale (float32), bias (int32), outZero; '
      + 'acc = (a - aZero) x (b - bZero) + bias in int32, y = f32(f32(acc) * scale), out = y (float32) or saturate(roundHalfEven(y) + outZero) (int8/uint8; NaN to the lowest value); '
      + 'scale and bias per tensor, per row [M] or per column [N]; b may have several K dims and N dims (bKDims, bNDims), read through its strides',
  },
  reshape: { kind: 'view', arity: 1, dtypes: DTYPES, doc: 'new shape, same elements in row-major order (copies only when strides forbid a view)' },
  permute: { kind: 'view', arity: 1, dtypes: DTYPES, doc: 'reorder dims' },
  expand: { kind: 'view', arity: 1, dtypes: DTYPES, doc: 'broadcast to a larger shape with stride 0' },
  slice: { kind: 'view', arity: 1, dtypes: DTYPES, doc: 'start:end:step per dim (steps may be negative)' },
};

export type ViewOp = 'reshape' | 'permute' | 'expand' | 'slice';
/** The ops every backend must implement; the view ops are core's alone. */
export type KernelOp = Exclude<PrimOp, ViewOp>;

export const KERNEL_OPS: readonly KernelOp[] = (Object.keys(PRIMITIVES) as PrimOp[]).filter(
  (op): op is KernelOp => PRIMITIVES[op].kind !== 'view',
);
