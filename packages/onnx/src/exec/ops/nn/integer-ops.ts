import {
  add, cast, clamp, concat, contiguous, dequantize, div, formatShape, fromArray, full, matmul, matmulInteger, matmulIntegerScaled, mul, pad, quantize, reshape,
  round, slice, sub, Tensor,
} from '@minnow/core';
import { dataTypeName } from '../../../ir/tensor.js';
import { DataType } from '../../../ir/types.js';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { Value } from '../../value.js';
import { checkConvShapes } from './conv.js';
import { kernelShapeAttr, windowGeometry, type WindowGeometry } from './spatial.js';

/**
 * The integer products: MatMulInteger and ConvInteger (int32 results), and QLinearMatMul and
 * QLinearConv, which requantize the int32 accumulators: round_half_even(acc * (sa * sb / sy)) + zy,
 * saturated, with the multiplier rounded to float32 at each step as onnxruntime forms it.
 *
 * The usual forms (a and y per tensor, b per tensor or per output channel, one group) run on core's
 * matmulIntegerScaled, which requantizes in the product's epilogue: f32(acc + bias) * multiplier,
 * rounded half to even, + zero point, saturated, as onnxruntime's MlasRequantizeOutput does.
 * The other forms run on matmulInteger (convolutions gather their patches first, im2col), then
 * requantize in two passes of core's quantization kernels: dequantize (int32 -> float32, acc times
 * the multiplier, the bias entering as a negated zero point) and quantize with scale 1 (a division
 * by 1 is exact). The two agree wherever |acc + bias| < 2^24 (float32 holds it exactly).
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

/** A float scale input (float, float16 or bfloat16, computed in float32), size-1 ones as scalars. */
function scaleInput(ctx: OpContext, i: number): Tensor {
  const s = ctx.tensor(i);
  if (s.dtype !== 'float32') throw ctx.error('UNSUPPORTED_DTYPE', `scale input ${i} is ${dataTypeName(ctx.input(i).elemType)}; float, float16 or bfloat16 expected`);
  return s.size === 1 ? reshape(s, []) : s;
}

/** A scale input's values on the host (constants are read without touching the device). */
function scaleValues(ctx: OpContext, i: number): number[] {
  scaleInput(ctx, i);
  return ctx.input(i).numbers();
}

/**
 * A tensor computed from inputs `from` (scales, a bias): made once per node when they are all
 * constants (the session's memo), else on every run.
 */
function derived(ctx: OpContext, key: string, from: readonly number[], make: () => Tensor): Tensor {
  return from.every((i) => !ctx.has(i) || ctx.input(i).constant) ? ctx.memo(key, make) : make();
}

const QUANTIZED_OUTPUT: Partial<Record<number, 'int8' | 'uint8'>> = { [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8' };

/** The output's quantized type, ONNX's and core's: y_zero_point's, else (ONNX's reference) input 0's. */
function outputType(ctx: OpContext, yZero: number): { elemType: number; dtype: 'int8' | 'uint8' } {
  const elemType = (ctx.has(yZero) ? ctx.input(yZero) : ctx.input(0)).elemType;
  const dtype = QUANTIZED_OUTPUT[elemType];
  if (dtype === undefined) throw ctx.error('UNSUPPORTED_DTYPE', `output type ${dataTypeName(elemType)} is not supported (int8 or uint8)`);
  return { elemType, dtype };
}

/** f32(f32(xs * ws[c]) / ys) for each of `channels` (ws one value, or one per channel): onnxruntime's multiplier. */
function multipliers(xs: number, ws: readonly number[], ys: number, channels: number): Float32Array {
  return Float32Array.from({ length: channels }, (_, c) => Math.fround(Math.fround(xs * ws[ws.length === 1 ? 0 : c]) / ys));
}

/**
 * saturate(round_half_even((acc + bias) * multiplier) + zeroPoint) into `type`, multiplier and
 * bias per tensor (one value) or per index along `axis` of acc. The bias (int32) enters
 * dequantize as a negated zero point: the kernel subtracts it exactly (in float64), and the
 * product is rounded once to float32, as onnxruntime rounds acc * multiplier.
 */
function requantize(acc: Tensor, multiplier: Float32Array, axis: number, bias: Int32Array | undefined, zeroPoint: Tensor | undefined, type: 'int8' | 'uint8'): Tensor {
  const backend = acc.backend.name;
  let y: Tensor;
  if (multiplier.length === 1 && bias === undefined) {
    y = dequantize(acc, fromArray(multiplier, [], { backend }), undefined);
  } else if (axis === acc.rank - 1 && bias === undefined) {
    // Per column: the kernels' per-axis runs would be one element long. float32(acc) (exact below
    // 2^24, rounded as onnxruntime rounds it above) times the broadcast row of multipliers instead.
    y = mul(dequantize(acc, full([], 1, { backend }), undefined), fromArray(multiplier, [multiplier.length], { backend }));
  } else {
    const channels = acc.shape[axis];
    const scale = multiplier.length === 1 ? new Float32Array(channels).fill(multiplier[0]) : multiplier;
    const negated = Int32Array.from({ length: channels }, (_, c) => (bias === undefined ? 0 : -bias[c]));
    y = dequantize(acc, fromArray(scale, [channels], { backend }), fromArray(negated, [channels], { backend }), { axis });
  }
  return quantize(y, full([], 1, { backend }), zeroPoint, type);
}

/**
 * The requantization in float64, for the scale forms core's per-axis kernels do not take (a per
 * row, [..., M, 1] or [..., 1, N] scales): the multiplier is still formed in float32.
 */
function requantizeBroadcast(acc: Tensor, multiplier: Tensor, zeroPoint: Tensor | undefined, type: 'int8' | 'uint8'): Tensor {
  let y = mul(cast(acc, 'float64'), cast(multiplier, 'float64'));
  if (zeroPoint !== undefined) y = add(y, cast(zeroPoint, 'float64'));
  const [lo, hi] = type === 'int8' ? [-128, 127] : [0, 255];
  return cast(clamp(round(y), lo, hi), type);
}

export const QLinearMatMul: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const a = quantizedInput(ctx, 0);
    const b = quantizedInput(ctx, 3);
    const type = outputType(ctx, 7);
    const yZero = zeroPointInput(ctx, 7, 7);
    const aZero = zeroPointInput(ctx, 2, 0);
    const bZero = zeroPointInput(ctx, 5, 3);
    const aScale = scaleInput(ctx, 1);
    const bScale = scaleInput(ctx, 4);
    const yScale = scaleInput(ctx, 6);
    const n = b.rank === 0 ? 1 : b.shape[b.rank - 1];
    // The usual forms: one requantizing product, the multipliers made once per node.
    if (a.rank >= 2 && b.rank >= 2 && aScale.rank === 0 && yScale.rank === 0 && (aZero === undefined || aZero.rank === 0)
      && (bScale.rank === 0 || (bScale.rank === 1 && bScale.shape[0] === n)) && (bZero === undefined || bZero.rank === 0 || (bZero.rank === 1 && bZero.shape[0] === n))) {
      const scale = derived(ctx, 'multiplier', [1, 4, 6], () => {
        const m = multipliers(scaleValues(ctx, 1)[0], scaleValues(ctx, 4), scaleValues(ctx, 6)[0], bScale.size);
        return fromArray(m, m.length === 1 ? [] : [m.length], { backend: ctx.backend });
      });
      return [Value.fromTensor(matmulIntegerScaled(a, b, { aZero, bZero, scale, type: type.dtype, outZero: yZero }), type.elemType)];
    }
    const acc = integerProduct(ctx, a, b, aZero, bZero);
    const columns = acc.rank === 0 ? 1 : acc.shape[acc.rank - 1];
    // Other per-tensor or per-column forms (1-D operands, per-row a zero points) requantize on the quantization kernels.
    if (aScale.rank === 0 && yScale.rank === 0 && (bScale.rank === 0 || (bScale.rank === 1 && bScale.shape[0] === columns && acc.rank >= 1))) {
      const m = multipliers(scaleValues(ctx, 1)[0], scaleValues(ctx, 4), scaleValues(ctx, 6)[0], bScale.size);
      return [Value.fromTensor(requantize(acc, m, acc.rank - 1, undefined, yZero, type.dtype), type.elemType)];
    }
    // a's scale may be per row ([M], or [..., M, 1]), b's and y's per column ([N], or [..., 1, N]).
    const perRow = aScale.rank === 1 && a.rank >= 2 ? reshape(aScale, [aScale.shape[0], 1]) : aScale;
    const multiplier = div(mul(perRow, bScale), yScale);
    return [Value.fromTensor(requantizeBroadcast(acc, multiplier, yZero, type.dtype), type.elemType)];
  },
};

/** A convolution's layout, checked: groups, geometry (pads, strides, dilations, output dims). */
interface ConvPlan {
  readonly groups: number;
  readonly geometry: WindowGeometry;
}

function planConv(ctx: OpContext, x: Tensor, w: Tensor): ConvPlan {
  const groups = checkConvShapes(ctx, x.shape, w.shape);
  const kernel = kernelShapeAttr(ctx, x.rank - 2, w.shape.slice(2));
  return { groups, geometry: windowGeometry(ctx, x.shape.slice(2), kernel) };
}

const product = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

/**
 * x's patches as a view [N, C, ...kernel, ...output] over x (padded first with its zero point when
 * the convolution pads): tap t of output position o reads o * stride + t * dilation along each
 * spatial dim. matmulIntegerScaled reads it in place as [N, C * prod(kernel), prod(output)]
 * (bDims): no gathered copy, and only the output's own positions.
 */
function patchView(x: Tensor, g: WindowGeometry, zeroPoint: number): Tensor {
  const dims = g.kernel.length;
  const pairs: [number, number][] = [[0, 0], [0, 0], ...Array.from({ length: dims }, (_, i) => [g.pads[i], g.pads[dims + i]] as [number, number])];
  const padded = pairs.some(([b, e]) => b !== 0 || e !== 0) ? pad(x, pairs, zeroPoint) : x;
  const spatial = padded.strides.slice(2);
  return new Tensor(padded.storage, [...padded.shape.slice(0, 2), ...g.kernel, ...g.output], [
    padded.strides[0], padded.strides[1], ...g.dilations.map((d, i) => d * spatial[i]), ...g.strides.map((s, i) => s * spatial[i]),
  ], padded.offset);
}

/**
 * The patches of x [N, C, ...spatial] as the columns of one matrix per image, [N, C * prod(kernel), P],
 * rows ordered (c, kernel taps row-major) as the weight [M, C/groups * prod(kernel)] is. x is padded
 * first with its zero point (padding reads as zero after the zero point comes off, as ONNX pads).
 *
 * With one stride s for every spatial dim, the patches are a single strided view of the padded
 * input: output position p over the padded plane's full rows ("full width": p = o1 * R1 + ... with
 * R the padded row strides) sits at p * s, so a tap's values for every p are one run with stride s
 * and the gather is one strided copy of rank 2 + dims (the wasm copy kernel takes 4 dims: 2-D
 * convolution). Positions whose inner indices pass the output's extent are computed and dropped;
 * `valid` maps the product [N, M, P] onto [N, M, ...output]. Unequal strides gather exact positions.
 */
function im2col(x: Tensor, g: WindowGeometry, zeroPoint: number): { columns: Tensor; valid: (y: Tensor) => Tensor } {
  const dims = g.kernel.length;
  const [n, c] = x.shape;
  const pairs: [number, number][] = [[0, 0], [0, 0], ...Array.from({ length: dims }, (_, i) => [g.pads[i], g.pads[dims + i]] as [number, number])];
  const padded = contiguous(pairs.some(([b, e]) => b !== 0 || e !== 0) ? pad(x, pairs, zeroPoint) : x);
  const extents = padded.shape.slice(2);
  const rowStrides = extents.map((_, i) => product(extents.slice(i + 1)));
  const plane = product(extents);
  const taps = g.kernel.map((_, i) => g.dilations[i] * rowStrides[i]);
  const rows = c * product(g.kernel);
  const view = (shape: number[], strides: number[]): Tensor => new Tensor(padded.storage, shape, strides, padded.offset);
  if (g.strides.every((s) => s === g.strides[0])) {
    const s = g.strides[0];
    const positions = g.output.reduce((p, o, i) => p + (o - 1) * rowStrides[i], 0) + 1;
    const gathered = contiguous(view([n * c, ...g.kernel, positions], [plane, ...taps, s]));
    const columns = reshape(gathered, [n, rows, positions]);
    const valid = (y: Tensor): Tensor => {
      const strides = [y.shape[1] * positions, positions, ...rowStrides];
      return new Tensor(y.storage, [y.shape[0], y.shape[1], ...g.output], strides, y.offset);
    };
    return { columns, valid };
  }
  const positions = product(g.output);
  const gathered = contiguous(view([n, c, ...g.kernel, ...g.output], [c * plane, plane, ...taps, ...g.strides.map((s, i) => s * rowStrides[i])]));
  return { columns: reshape(gathered, [n, rows, positions]), valid: (y) => reshape(y, [y.shape[0], y.shape[1], ...g.output]) };
}

function checkConvZeroPoints(ctx: OpContext, xZero: Tensor | undefined, wZero: Tensor | undefined, m: number): void {
  if (xZero !== undefined && xZero.rank !== 0) throw ctx.error('SHAPE_MISMATCH', `x_zero_point ${formatShape(xZero.shape)} must be a scalar (per tensor)`);
  if (wZero !== undefined && wZero.rank !== 0 && !(wZero.rank === 1 && wZero.shape[0] === m)) {
    throw ctx.error('SHAPE_MISMATCH', `w_zero_point ${formatShape(wZero.shape)} must be a scalar or have one value per output channel (${m})`);
  }
}

/**
 * The convolution of (x - xZero) with (w - wZero) as int32 [N, M, P] over im2col's positions, by
 * core's matmulInteger: the weight as [groups, M/groups, C/groups * prod(kernel)] against the
 * columns [N, groups, ..., P]. Per-channel weight zero points that differ between groups take one
 * product per group.
 */
function integerConvolution(ctx: OpContext, x: Tensor, w: Tensor, xZero: Tensor | undefined, wZero: Tensor | undefined, plan: ConvPlan): { acc: Tensor; valid: (y: Tensor) => Tensor } {
  const { groups, geometry } = plan;
  checkConvZeroPoints(ctx, xZero, wZero, w.shape[0]);
  const m = w.shape[0];
  const xz = xZero === undefined ? 0 : ctx.input(2).numbers()[0];
  const { columns, valid } = im2col(x, geometry, xz);
  const [n, rows, positions] = columns.shape;
  const depth = rows / groups;
  const weights = reshape(contiguous(w), [groups, m / groups, depth]);
  const grouped = reshape(columns, [n, groups, depth, positions]);
  let acc: Tensor;
  if (groups === 1 || wZero === undefined || wZero.rank === 0) {
    acc = matmulInteger(weights, grouped, wZero, xZero);
  } else {
    const per = m / groups;
    const parts = Array.from({ length: groups }, (_, i) => matmulInteger(
      reshape(slice(weights, [i, 0, 0], [i + 1, per, depth]), [per, depth]),
      reshape(slice(grouped, [0, i, 0, 0], [n, i + 1, depth, positions]), [n, depth, positions]),
      slice(wZero, [i * per], [(i + 1) * per]), xZero));
    acc = concat(parts, 1);
  }
  return { acc: reshape(acc, [n, m, positions]), valid };
}

export const ConvInteger: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const x = quantizedInput(ctx, 0);
    const w = quantizedInput(ctx, 1);
    const { acc, valid } = integerConvolution(ctx, x, w, zeroPointInput(ctx, 2, 0), zeroPointInput(ctx, 3, 1), planConv(ctx, x, w));
    return [Value.fromTensor(contiguous(valid(acc)), DataType.INT32)];
  },
};

/** What a QLinearConv node derives from its inputs' types, shapes and constants: checked once per steady run. */
interface QConvPlan extends ConvPlan {
  readonly m: number;
  readonly type: { elemType: number; dtype: 'int8' | 'uint8' };
  /** x's zero point as a number (for padding), 0 when absent. */
  readonly xz: number;
  readonly wScaleSize: number;
  readonly constantScale: boolean;
  readonly constantBias: boolean;
}

function qconvPlan(ctx: OpContext): QConvPlan {
  for (const i of [0, 3]) {
    const t = ctx.input(i).elemType;
    if (!QUANTIZED_INPUTS.has(t)) throw ctx.error('UNSUPPORTED_DTYPE', `input ${i} is ${dataTypeName(t)}; ${ctx.node.opType} takes int8 or uint8`);
  }
  const [xShape, wShape] = [ctx.input(0).shape, ctx.input(3).shape];
  const m = wShape[0];
  const type = outputType(ctx, 7);
  for (const i of [1, 4, 6]) if (ctx.input(i).elemType !== DataType.FLOAT) scaleInput(ctx, i); // raises the dtype error
  const [xScale, wScale, yScale] = [ctx.input(1), ctx.input(4), ctx.input(6)];
  if (xScale.size !== 1 || yScale.size !== 1) throw ctx.error('SHAPE_MISMATCH', 'x_scale and y_scale must be scalars (per tensor)');
  if (wScale.size !== 1 && !(wScale.rank === 1 && wScale.shape[0] === m)) {
    throw ctx.error('SHAPE_MISMATCH', `w_scale ${formatShape(wScale.shape)} must be a scalar or have one value per output channel (${m})`);
  }
  if (ctx.has(8)) {
    if (ctx.input(8).elemType !== DataType.INT32) throw ctx.error('UNSUPPORTED_DTYPE', `bias is ${dataTypeName(ctx.input(8).elemType)}, int32 expected`);
    if (ctx.input(8).size !== m) throw ctx.error('SHAPE_MISMATCH', `bias ${formatShape(ctx.input(8).shape)} must have one value per output channel (${m})`);
  }
  for (const [z, operand] of [[2, 0], [5, 3], [7, 7]] as const) {
    if (ctx.has(z) && ctx.input(z).elemType !== ctx.input(operand).elemType) {
      throw ctx.error('INVALID_MODEL', `zero point input ${z} is ${dataTypeName(ctx.input(z).elemType)}, its operand (input ${operand}) ${dataTypeName(ctx.input(operand).elemType)}`);
    }
  }
  if (ctx.has(2) && ctx.input(2).size !== 1) throw ctx.error('SHAPE_MISMATCH', `x_zero_point ${formatShape(ctx.input(2).shape)} must be a scalar (per tensor)`);
  if (ctx.has(5) && ctx.input(5).size !== 1 && !(ctx.input(5).rank === 1 && ctx.input(5).shape[0] === m)) {
    throw ctx.error('SHAPE_MISMATCH', `w_zero_point ${formatShape(ctx.input(5).shape)} must be a scalar or have one value per output channel (${m})`);
  }
  const groups = checkConvShapes(ctx, xShape, wShape);
  const kernel = kernelShapeAttr(ctx, xShape.length - 2, wShape.slice(2));
  return {
    groups, geometry: windowGeometry(ctx, xShape.slice(2), kernel), m, type,
    xz: ctx.has(2) ? ctx.input(2).numbers()[0] : 0,
    wScaleSize: wScale.size,
    constantScale: [1, 4, 6].every((i) => ctx.input(i).constant),
    constantBias: !ctx.has(8) || ctx.input(8).constant,
  };
}

/** Zero point input `i` as the product takes it (a scalar as 0-d, made once for a constant); undefined when absent. */
function zeroPointOf(ctx: OpContext, i: number): Tensor | undefined {
  if (!ctx.has(i)) return undefined;
  const t = ctx.tensor(i);
  if (t.size !== 1) return t;
  return ctx.input(i).constant ? ctx.memo(`zero-${i}`, () => reshape(t, [])) : reshape(t, []);
}

export const QLinearConv: OperatorDefinition = {
  sinceVersion: 10,
  run: (ctx) => {
    const plan = ctx.steady(() => qconvPlan(ctx));
    const { m, type } = plan;
    const x = ctx.tensor(0);
    const w = ctx.tensor(3);
    const xZero = zeroPointOf(ctx, 2);
    const wZero = zeroPointOf(ctx, 5);
    const yZero = zeroPointOf(ctx, 7);
    const multiplier = (): Float32Array => multipliers(ctx.input(1).numbers()[0], ctx.input(4).numbers(), ctx.input(6).numbers()[0], plan.wScaleSize);
    if (plan.groups === 1) {
      // One requantizing product: the weights [M, C * taps] (per-channel parameters run down its rows) times each image's patches.
      const patches = patchView(x, plan.geometry, plan.xz);
      const spatial = plan.geometry.kernel.length;
      const depth = product(patches.shape.slice(1, 2 + spatial));
      const weights = ctx.input(3).constant ? ctx.memo('weights', () => reshape(contiguous(w), [m, depth])) : reshape(contiguous(w), [m, depth]);
      const makeScale = (): Tensor => {
        const values = multiplier();
        return fromArray(values, values.length === 1 ? [] : [m], { backend: ctx.backend });
      };
      const scale = plan.constantScale ? ctx.memo('multiplier', makeScale) : makeScale();
      const makeBias = (): Tensor => fromArray(Int32Array.from(ctx.input(8).numbers()), [m], { dtype: 'int32', backend: ctx.backend });
      const bias = !ctx.has(8) ? undefined : plan.constantBias ? ctx.memo('bias', makeBias) : makeBias();
      const y = matmulIntegerScaled(weights, patches, {
        aZero: wZero, bZero: xZero, scale, bias, type: type.dtype, outZero: yZero, perRow: true, bDims: { k: 1 + spatial, n: spatial },
      });
      return [Value.fromTensor(reshape(y, [x.shape[0], m, ...plan.geometry.output]), type.elemType)];
    }
    const { acc, valid } = integerConvolution(ctx, x, w, xZero, wZero, plan);
    const bias = ctx.has(8) ? Int32Array.from(ctx.input(8).numbers()) : undefined;
    const y = requantize(acc, multiplier(), 1, bias, yZero, type.dtype);
    return [Value.fromTensor(contiguous(valid(y)), type.elemType)];
  },
};
