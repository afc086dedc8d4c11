import type { BufferView } from '../backend.js';
import type { DType } from '../dtype.js';
import { FLOAT_DTYPES, allocateArray, assertDType, isDType, isFloatDType } from '../dtype.js';
import { MinnowError, formatShape } from '../errors.js';
import { runKernel } from '../dispatch.js';
import { broadcastShapes, broadcastStrides, normalizeAxes, normalizeAxis, shapesEqual } from '../shape.js';
import { Storage, Tensor } from '../tensor.js';
import { full } from './creation.js';
import type { Conv2dAttrs, QuantizedType } from './table.js';
import { PRIMITIVES } from './table.js';
import { reshape, slice } from './view.js';

/**
 * One wrapper per kernel primitive: the single place where each primitive's shape and dtype rules
 * live. Everything else in minnow calls these.
 */

/** A tensor operand, or a JS number or boolean taken in the dtype of the other operand. */
export type Operand = Tensor | number | boolean;

/** Throws INVALID_ARGUMENT naming the op and argument unless `value` is a live Tensor. */
export function expectTensor(op: string, argument: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: ${argument} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  }
}

type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'reciprocal' | 'tanh' | 'abs' | 'sign' | 'floor' | 'round';
type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'cmplt' | 'cmpeq';

function unary(op: UnaryOp, x: Tensor): Tensor {
  expectTensor(op, 'x', x);
  assertDType(op, x.dtype, PRIMITIVES[op].dtypes);
  return runKernel(op, [x], NO_ATTRS, { shape: x.shape, dtype: x.dtype });
}

export const neg = (x: Tensor): Tensor => unary('neg', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const sign = (x: Tensor): Tensor => unary('sign', x);
export const floor = (x: Tensor): Tensor => unary('floor', x);
/** Round half to even, as ONNX Round and numpy.round. */
export const round = (x: Tensor): Tensor => unary('round', x);

/** Converts to `dtype` (float to int truncates toward zero, then wraps; to bool is x != 0). */
export function cast(x: Tensor, dtype: DType): Tensor {
  expectTensor('cast', 'x', x);
  if (!isDType(dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `cast: unknown dtype ${String(dtype)}`);
  return runKernel('cast', [x], { dtype }, { shape: x.shape, dtype });
}

/** Runs `fn` on tensor operands, turning number and boolean operands into scalars (of the first tensor's dtype) that are freed after. */
function withOperands<T>(op: string, operands: readonly Operand[], fn: (tensors: Tensor[]) => T): T {
  // The common case, all tensors, skips the scalar machinery (this runs for every elementwise op).
  let allTensors = true;
  for (const o of operands) if (!(o instanceof Tensor)) allTensors = false;
  if (allTensors) return fn(operands as Tensor[]);
  const reference = operands.find((o): o is Tensor => o instanceof Tensor);
  if (!reference) throw new MinnowError('INVALID_ARGUMENT', `${op}: at least one operand must be a Tensor`);
  operands.forEach((o, i) => {
    if (!(o instanceof Tensor) && typeof o !== 'number' && typeof o !== 'boolean') {
      throw new MinnowError('INVALID_ARGUMENT', `${op}: operand ${i} must be a Tensor, number or boolean, got ${o === null ? 'null' : typeof o}`);
    }
  });
  const temporaries: Tensor[] = [];
  const tensors = operands.map((o) => {
    if (o instanceof Tensor) return o;
    // A 0-d tensor straight on the operand's backend: this runs for every op with a number operand.
    const value = allocateArray(reference.dtype, 1);
    value[0] = reference.dtype === 'bool' ? (Number(o) !== 0 ? 1 : 0) : Number(o);
    const t = new Tensor(Storage.fromData(reference.backend, reference.dtype, value), []);
    temporaries.push(t);
    return t;
  });
  try {
    return fn(tensors);
  } finally {
    for (const t of temporaries) t.dispose();
  }
}

/** Views of `tensors` broadcast to `shape` (stride 0 on repeated dims: no copy). */
function broadcastViews(op: string, tensors: readonly Tensor[], shape: readonly number[]): BufferView<unknown>[] {
  return tensors.map((t) => {
    const v = t.view();
    return shapesEqual(t.shape, shape) ? v : { ...v, shape, strides: broadcastStrides(op, t.shape, t.strides, shape) };
  });
}

/** Attributes of the ops that take none: one shared object, not a new one per call. */
const NO_ATTRS = Object.freeze({});

function binary(op: BinaryOp, a: Operand, b: Operand): Tensor {
  // Two tensors, the common case, skip withOperands' arrays and callback.
  if (a instanceof Tensor && b instanceof Tensor) return binaryOfTensors(op, a, b);
  return withOperands(op, [a, b], ([x, y]) => binaryOfTensors(op, x, y));
}

function binaryOfTensors(op: BinaryOp, x: Tensor, y: Tensor): Tensor {
  if (x.dtype !== y.dtype) {
    throw new MinnowError('DTYPE_MISMATCH', `${op}: dtypes ${x.dtype} and ${y.dtype} differ (cast one first)`);
  }
  assertDType(op, x.dtype, PRIMITIVES[op].dtypes);
  const dtype = op === 'cmplt' || op === 'cmpeq' ? 'bool' : x.dtype;
  // Equal shapes need no broadcasting: the operands' own views go to the kernel.
  if (shapesEqual(x.shape, y.shape)) return runKernel(op, [x, y], NO_ATTRS, { shape: x.shape, dtype });
  const shape = broadcastShapes(op, x.shape, y.shape);
  return runKernel(op, [x, y], NO_ATTRS, { shape, dtype }, broadcastViews(op, [x, y], shape));
}

export const add = (a: Operand, b: Operand): Tensor => binary('add', a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary('sub', a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary('mul', a, b);
/** Division; integer dtypes truncate toward zero. */
export const div = (a: Operand, b: Operand): Tensor => binary('div', a, b);
export const maximum = (a: Operand, b: Operand): Tensor => binary('max', a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary('min', a, b);
export const pow = (a: Operand, b: Operand): Tensor => binary('pow', a, b);
export const less = (a: Operand, b: Operand): Tensor => binary('cmplt', a, b);
export const equal = (a: Operand, b: Operand): Tensor => binary('cmpeq', a, b);

/** cond ? a : b, broadcasting all three; cond must be bool. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  expectTensor('where', 'cond', cond);
  if (cond.dtype !== 'bool') throw new MinnowError('UNSUPPORTED_DTYPE', `where: condition must be bool, got ${cond.dtype}`);
  return withOperands('where', [a, b], ([x, y]) => {
    if (x.dtype !== y.dtype) throw new MinnowError('DTYPE_MISMATCH', `where: dtypes ${x.dtype} and ${y.dtype} differ`);
    const shape = broadcastShapes('where', cond.shape, x.shape, y.shape);
    return runKernel('where', [cond, x, y], {}, { shape, dtype: x.dtype }, broadcastViews('where', [cond, x, y], shape));
  });
}

export interface ReduceOptions {
  /** Axes to reduce (negative allowed); all axes when omitted. */
  readonly axes?: number | readonly number[];
  readonly keepDims?: boolean;
}

function reduce(op: 'sum' | 'reduceMax', x: Tensor, options: ReduceOptions): Tensor {
  const name = op === 'sum' ? 'sum' : 'max';
  expectTensor(name, 'x', x);
  assertDType(name, x.dtype, PRIMITIVES[op].dtypes);
  const axes = normalizeAxes(name, options.axes, x.shape);
  if (op === 'reduceMax' && axes.some((a) => x.shape[a] === 0)) {
    throw new MinnowError('INVALID_SHAPE', `max: cannot reduce an empty dim of shape ${formatShape(x.shape)} (no identity for max)`);
  }
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const dtype = op === 'sum' && !isFloatDType(x.dtype) ? 'int32' : x.dtype;
  const out = runKernel(op, [x], { axes }, { shape: kept, dtype });
  if (options.keepDims) return out;
  const squeezed = reshape(out, x.shape.filter((_, i) => !axes.includes(i)));
  out.dispose();
  return squeezed;
}

/** Sum over axes; integer inputs accumulate into int32. */
export const sum = (x: Tensor, options: ReduceOptions = {}): Tensor => reduce('sum', x, options);
/** Maximum over axes. */
export const max = (x: Tensor, options: ReduceOptions = {}): Tensor => reduce('reduceMax', x, options);

/**
 * Constant padding: `pads[d] = [before, after]`. Negative pads crop (through a slice view), as ONNX Pad allows.
 */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  expectTensor('pad', 'x', x);
  if (pads.length !== x.rank || pads.some((p) => p.length !== 2 || !Number.isInteger(p[0]) || !Number.isInteger(p[1]))) {
    throw new MinnowError('INVALID_ARGUMENT', `pad: need one [before, after] integer pair per dim of ${formatShape(x.shape)}, got ${JSON.stringify(pads)}`);
  }
  let source = x;
  if (pads.some(([b, a]) => b < 0 || a < 0)) {
    const starts = pads.map(([b]) => Math.max(0, -b));
    const ends = pads.map(([, a], d) => x.shape[d] - Math.max(0, -a));
    if (ends.some((e, d) => e < starts[d])) {
      throw new MinnowError('OUT_OF_RANGE', `pad: negative pads ${JSON.stringify(pads)} crop more than shape ${formatShape(x.shape)} holds`);
    }
    source = slice(x, starts, ends);
  }
  const positive = pads.map(([b, a]) => [Math.max(0, b), Math.max(0, a)] as const);
  const shape = source.shape.map((d, i) => d + positive[i][0] + positive[i][1]);
  try {
    return runKernel('pad', [source], { pads: positive, value }, { shape, dtype: x.dtype });
  } finally {
    if (source !== x) source.dispose();
  }
}

/**
 * Matrix product with numpy/ONNX MatMul semantics: 1-D operands get a dim prepended (a) or
 * appended (b) and removed after; batch dims broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  expectTensor('matmul', 'a', a);
  expectTensor('matmul', 'b', b);
  if (a.dtype !== b.dtype) throw new MinnowError('DTYPE_MISMATCH', `matmul: dtypes ${a.dtype} and ${b.dtype} differ`);
  if (a.rank === 0 || b.rank === 0) throw new MinnowError('INVALID_SHAPE', `matmul: operands must have rank >= 1, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  try {
    const { shape, views } = matmulShapes('matmul', a2, b2);
    const out = runKernel('matmul', [a2, b2], {}, { shape, dtype: a.dtype }, views);
    if (a.rank > 1 && b.rank > 1) return out;
    const final = shape.slice(0, -2).concat(a.rank > 1 ? [shape[shape.length - 2]] : [], b.rank > 1 ? [shape[shape.length - 1]] : []);
    const squeezed = reshape(out, final);
    out.dispose();
    return squeezed;
  } finally {
    if (a2 !== a) a2.dispose();
    if (b2 !== b) b2.dispose();
  }
}

/** Output shape and broadcast operand views of a batched [..., M, K] x [..., K, N] product. */
export function matmulShapes(op: string, a: Tensor, b: Tensor): { shape: number[]; views: BufferView<unknown>[] } {
  const m = a.shape[a.rank - 2];
  const k = a.shape[a.rank - 1];
  const k2 = b.shape[b.rank - 2];
  const n = b.shape[b.rank - 1];
  if (k !== k2) {
    throw new MinnowError('SHAPE_MISMATCH', `${op}: inner dims differ: ${formatShape(a.shape)} x ${formatShape(b.shape)} (${k} vs ${k2})`);
  }
  // Two matrices (a dense layer's product): no batch dims to broadcast, the views as they are.
  if (a.rank === 2 && b.rank === 2) return { shape: [m, n], views: [a.view(), b.view()] };
  const batch = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const aShape = [...batch, m, k];
  const bShape = [...batch, k, n];
  const views = [
    { ...a.view(), shape: aShape, strides: broadcastStrides(op, a.shape, a.strides, aShape) },
    { ...b.view(), shape: bShape, strides: broadcastStrides(op, b.shape, b.strides, bShape) },
  ];
  return { shape: [...batch, m, n], views };
}

export interface Conv2dOptions {
  readonly stride?: number | readonly [number, number];
  /** A single value, [vertical, horizontal], or [top, left, bottom, right]. */
  readonly padding?: number | readonly [number, number] | readonly [number, number, number, number];
  readonly dilation?: number | readonly [number, number];
  readonly groups?: number;
}

const pair = (v: number | readonly number[] | undefined, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [v[0], v[1]];

/** 2-D convolution (cross-correlation, as every framework computes it): x [N, C, H, W], w [O, C/groups, kH, kW]. */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  expectTensor('conv2d', 'x', x);
  expectTensor('conv2d', 'weight', w);
  if (x.rank !== 4 || w.rank !== 4) {
    throw new MinnowError('INVALID_SHAPE', `conv2d: input and weight must be 4-D (NCHW, OIHW), got ${formatShape(x.shape)} and ${formatShape(w.shape)}`);
  }
  if (x.dtype !== w.dtype) throw new MinnowError('DTYPE_MISMATCH', `conv2d: dtypes ${x.dtype} and ${w.dtype} differ`);
  const stride = pair(options.stride, 1);
  const dilation = pair(options.dilation, 1);
  const p = options.padding ?? 0;
  const padding: [number, number, number, number] =
    typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[1], p[0], p[1]] : [p[0], p[1], p[2], p[3]];
  const groups = options.groups ?? 1;
  const attrs: Conv2dAttrs = { stride, padding, dilation, groups };
  const bad = [...stride, ...dilation, groups].some((v) => !Number.isInteger(v) || v < 1) || padding.some((v) => !Number.isInteger(v) || v < 0);
  if (bad) throw new MinnowError('INVALID_ARGUMENT', `conv2d: bad options ${JSON.stringify(attrs)} (stride, dilation, groups >= 1; padding >= 0)`);
  const [n, c, h, wd] = x.shape;
  const [o, cg, kh, kw] = w.shape;
  if (c % groups !== 0 || o % groups !== 0 || cg !== c / groups) {
    throw new MinnowError('SHAPE_MISMATCH', `conv2d: input ${formatShape(x.shape)} and weight ${formatShape(w.shape)} do not agree for groups=${groups} (weight dim 1 must be C/groups, and O divisible by groups)`);
  }
  const outH = Math.floor((h + padding[0] + padding[2] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const outW = Math.floor((wd + padding[1] + padding[3] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  const extentH = dilation[0] * (kh - 1) + 1;
  const extentW = dilation[1] * (kw - 1) + 1;
  if (h + padding[0] + padding[2] < extentH || wd + padding[1] + padding[3] < extentW) {
    throw new MinnowError('SHAPE_MISMATCH', `conv2d: kernel ${kh}x${kw} (dilation ${dilation}) is larger than the padded input ${formatShape(x.shape)}`);
  }
  return runKernel('conv2d', [x, w], attrs, { shape: [n, o, outH, outW], dtype: x.dtype });
}

/** ONNX Gather: for each index (int32; negative counts from the end) take the slice of `x` along `axis`. */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  expectTensor('gather', 'x', x);
  expectTensor('gather', 'indices', indices);
  if (indices.dtype !== 'int32') throw new MinnowError('UNSUPPORTED_DTYPE', `gather: indices must be int32, got ${indices.dtype}`);
  const a = normalizeAxis('gather', axis, x.rank, x.shape);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return runKernel('gather', [x, indices], { axis: a }, { shape, dtype: x.dtype });
}

/**
 * ONNX MatMulInteger: (a - aZero) x (b - bZero) accumulated in int32. a and b are int8 or uint8;
 * aZero is a scalar or per-row [M] tensor of a's dtype, bZero a scalar or per-column [N] of b's.
 */
export function matmulInteger(a: Tensor, b: Tensor, aZero?: Tensor, bZero?: Tensor): Tensor {
  expectTensor('matmulInteger', 'a', a);
  expectTensor('matmulInteger', 'b', b);
  for (const [name, t] of [['a', a], ['b', b]] as const) assertDType(`matmulInteger ${name}`, t.dtype, ['int8', 'uint8']);
  if (a.rank < 2 || b.rank < 2) throw new MinnowError('INVALID_SHAPE', `matmulInteger: operands must have rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const { shape, views } = matmulShapes('matmulInteger', a, b);
  const m = a.shape[a.rank - 2];
  const n = b.shape[b.rank - 1];
  const za = aZero ?? full([], 0, { dtype: a.dtype, backend: a.backend.name });
  const zb = bZero ?? full([], 0, { dtype: b.dtype, backend: b.backend.name });
  try {
    for (const [name, z, t, len] of [['aZero', za, a, m], ['bZero', zb, b, n]] as const) {
      if (z.dtype !== t.dtype) throw new MinnowError('DTYPE_MISMATCH', `matmulInteger: ${name} is ${z.dtype} but its operand is ${t.dtype}`);
      if (!(z.size === 1 || (z.rank === 1 && z.shape[0] === len))) {
        throw new MinnowError('SHAPE_MISMATCH', `matmulInteger: ${name} must be a scalar or have shape [${len}], got ${formatShape(z.shape)}`);
      }
    }
    return runKernel('matmulInteger', [a, b, za, zb], {}, { shape, dtype: 'int32' }, [...views, za.view(), zb.view()]);
  } finally {
    if (za !== aZero) za.dispose();
    if (zb !== bZero) zb.dispose();
  }
}

export interface QuantizationAxis {
  /**
   * Per tensor when omitted (scale is a scalar); per axis when `axis` is given and scale is 1-D of
   * size x.shape[axis]; blocked when `blockSize` is given too and scale has x's rank with
   * ceil(x.shape[axis] / blockSize) along `axis` (ONNX QuantizeLinear/DequantizeLinear, opset 21).
   */
  readonly axis?: number;
  readonly blockSize?: number;
}

/** Normalises scale/zero-point shapes into the one blocked form the kernels take; returns attrs and views. */
function quantParams(op: string, x: Tensor, scale: Tensor, zeroPoint: Tensor, q: QuantizationAxis) {
  if (!shapesEqual(scale.shape, zeroPoint.shape)) {
    throw new MinnowError('SHAPE_MISMATCH', `${op}: scale ${formatShape(scale.shape)} and zero point ${formatShape(zeroPoint.shape)} differ in shape`);
  }
  const rank = x.rank;
  if (q.axis === undefined) {
    if (scale.size !== 1) throw new MinnowError('SHAPE_MISMATCH', `${op}: per-tensor scale must have one element, got ${formatShape(scale.shape)} (pass axis for per-axis)`);
    const target = x.shape.map(() => 1);
    const views = [scale, zeroPoint].map((t) => ({ ...t.view(), shape: target, strides: target.map(() => 0) }));
    return { axis: 0, blockSize: 1, views };
  }
  const axis = normalizeAxis(op, q.axis, rank, x.shape);
  const dim = x.shape[axis];
  if (q.blockSize === undefined || q.blockSize === 0) {
    if (scale.rank !== 1 || scale.shape[0] !== dim) {
      throw new MinnowError('SHAPE_MISMATCH', `${op}: per-axis scale must have shape [${dim}] for axis ${axis} of ${formatShape(x.shape)}, got ${formatShape(scale.shape)}`);
    }
    const target = x.shape.map((_, d) => (d === axis ? dim : 1));
    const views = [scale, zeroPoint].map((t) => ({ ...t.view(), shape: target, strides: target.map((_, d) => (d === axis ? t.strides[0] : 0)) }));
    return { axis, blockSize: 1, views };
  }
  if (!Number.isInteger(q.blockSize) || q.blockSize < 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: blockSize must be a positive integer, got ${q.blockSize}`);
  const expected = x.shape.map((d, i) => (i === axis ? Math.ceil(d / q.blockSize!) : d));
  if (!shapesEqual(scale.shape, expected)) {
    throw new MinnowError('SHAPE_MISMATCH', `${op}: blocked scale must have shape ${formatShape(expected)} for blockSize ${q.blockSize} on axis ${axis} of ${formatShape(x.shape)}, got ${formatShape(scale.shape)}`);
  }
  return { axis, blockSize: q.blockSize, views: [scale.view(), zeroPoint.view()] };
}

const QUANTIZED_STORAGE: Record<QuantizedType, DType> = { int8: 'int8', uint8: 'uint8', int4: 'int8', uint4: 'uint8' };

/**
 * ONNX QuantizeLinear: saturate(roundHalfEven(x / scale) + zeroPoint) into `type`'s range. int4 and
 * uint4 results are held in int8/uint8 tensors (pack them with packInt4 for storage).
 */
export function quantize(x: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, type: QuantizedType, q: QuantizationAxis = {}): Tensor {
  expectTensor('quantize', 'x', x);
  expectTensor('quantize', 'scale', scale);
  assertDType('quantize', x.dtype, FLOAT_DTYPES);
  if (!(type in QUANTIZED_STORAGE)) throw new MinnowError('UNSUPPORTED_DTYPE', `quantize: unknown quantized type ${String(type)}`);
  if (scale.dtype !== x.dtype) throw new MinnowError('DTYPE_MISMATCH', `quantize: scale is ${scale.dtype} but x is ${x.dtype}`);
  const storage = QUANTIZED_STORAGE[type];
  const zp = zeroPoint ?? full(scale.shape, 0, { dtype: storage, backend: x.backend.name });
  try {
    if (zp.dtype !== storage) throw new MinnowError('DTYPE_MISMATCH', `quantize: zero point for ${type} must be ${storage}, got ${zp.dtype}`);
    const { axis, blockSize, views } = quantParams('quantize', x, scale, zp, q);
    return runKernel('quantize', [x, scale, zp], { axis, blockSize, type }, { shape: x.shape, dtype: storage }, [x.view(), ...views]);
  } finally {
    if (zp !== zeroPoint) zp.dispose();
  }
}

/** ONNX DequantizeLinear: (x - zeroPoint) * scale, in scale's dtype. */
export function dequantize(x: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, q: QuantizationAxis = {}): Tensor {
  expectTensor('dequantize', 'x', x);
  expectTensor('dequantize', 'scale', scale);
  assertDType('dequantize', x.dtype, PRIMITIVES.dequantize.dtypes);
  assertDType('dequantize scale', scale.dtype, FLOAT_DTYPES);
  const zp = zeroPoint ?? full(scale.shape, 0, { dtype: x.dtype, backend: x.backend.name });
  try {
    if (zp.dtype !== x.dtype) throw new MinnowError('DTYPE_MISMATCH', `dequantize: zero point is ${zp.dtype} but x is ${x.dtype}`);
    const { axis, blockSize, views } = quantParams('dequantize', x, scale, zp, q);
    return runKernel('dequantize', [x, scale, zp], { axis, blockSize }, { shape: x.shape, dtype: scale.dtype }, [x.view(), ...views]);
  } finally {
    if (zp !== zeroPoint) zp.dispose();
  }
}

/** Values of a float tensor as a new tensor of the same dtype on the same backend (handy in tests). */
export function clone(x: Tensor): Tensor {
  return runKernel('cast', [x], { dtype: x.dtype }, { shape: x.shape, dtype: x.dtype });
}

