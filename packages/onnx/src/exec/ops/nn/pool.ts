import {
  abs, add, arange, div, expand, formatShape, fromArray, integerRange, isFloatDType, less, max, maximum, mean, mul, pad, pow, reshape, slice, sqrt,
  where, type Tensor,
} from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { Value } from '../../value.js';
import { kernelShapeAttr, windowGeometry, type WindowGeometry } from './spatial.js';

/**
 * The pools, for any number of spatial dims: the input is padded once, then each kernel tap reads
 * a strided slice of it (one element per output position) and the slices are combined, max or
 * sum. Work is kernel volume x output size, as a direct loop's would be.
 */

function poolInput(ctx: OpContext, allowIntegers: boolean): Tensor {
  const x = ctx.tensor(0);
  if (x.rank < 3) throw ctx.error('INVALID_SHAPE', `input ${formatShape(x.shape)} must be [N, C, ...spatial]`);
  if (!isFloatDType(x.dtype) && !(allowIntegers && (x.dtype === 'int8' || x.dtype === 'uint8'))) {
    throw ctx.error('UNSUPPORTED_DTYPE', `${ctx.node.opType} does not take ${x.dtype} input`);
  }
  return x;
}

function poolGeometry(ctx: OpContext, x: Tensor): WindowGeometry {
  const dims = x.rank - 2;
  const ceilMode = ctx.attrs.int('ceil_mode', 0);
  if (ceilMode !== 0 && ceilMode !== 1) throw ctx.error('INVALID_MODEL', `ceil_mode must be 0 or 1, got ${ceilMode}`);
  return windowGeometry(ctx, x.shape.slice(2), kernelShapeAttr(ctx, dims), { ceilMode: ceilMode === 1 });
}

/** x padded with `value` by the geometry's pads, and past the end as far as ceil-mode windows reach. */
function padForWindows(x: Tensor, g: WindowGeometry, value: number): Tensor {
  const dims = g.kernel.length;
  const pairs: [number, number][] = [[0, 0], [0, 0]];
  for (let i = 0; i < dims; i++) {
    const needed = (g.output[i] - 1) * g.strides[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;
    const extra = Math.max(0, needed - (x.shape[i + 2] + g.pads[i] + g.pads[dims + i]));
    pairs.push([g.pads[i], g.pads[dims + i] + extra]);
  }
  return pairs.every(([b, a]) => b === 0 && a === 0) ? x : pad(x, pairs, value);
}

/** Every kernel tap (a position inside the window), in row-major order. */
function taps(kernel: readonly number[]): number[][] {
  let all: number[][] = [[]];
  for (const k of kernel) all = all.flatMap((prefix) => Array.from({ length: k }, (_, j) => [...prefix, j]));
  return all;
}

/** The slice of the padded input that `tap` reads for every output position: [N, C, ...output]. */
function tapSlice(padded: Tensor, g: WindowGeometry, tap: readonly number[]): Tensor {
  const starts = tap.map((j, i) => j * g.dilations[i]);
  const ends = starts.map((s, i) => s + (g.output[i] - 1) * g.strides[i] + 1);
  return slice(padded, [0, 0, ...starts], [padded.shape[0], padded.shape[1], ...ends], [1, 1, ...g.strides]);
}

/** Host values over the output's spatial positions, as a [1, 1, ...output] array. */
function overOutput<T extends Float64Array | Int32Array>(g: WindowGeometry, valueAt: (position: number[]) => number, into: T): T {
  const out = g.output;
  const position = out.map(() => 0);
  for (let flat = 0; flat < into.length; flat++) {
    into[flat] = valueAt(position);
    for (let d = out.length - 1; d >= 0; d--) {
      if (++position[d] < out[d]) break;
      position[d] = 0;
    }
  }
  return into;
}

const outputSize = (g: WindowGeometry): number => g.output.reduce((a, b) => a * b, 1);

export const MaxPool: OperatorDefinition = {
  run: (ctx) => {
    const x = poolInput(ctx, true);
    const g = poolGeometry(ctx, x);
    const storageOrder = ctx.attrs.int('storage_order', 0);
    if (storageOrder !== 0 && storageOrder !== 1) throw ctx.error('INVALID_MODEL', `storage_order must be 0 or 1, got ${storageOrder}`);
    const lowest = isFloatDType(x.dtype) ? -Infinity : integerRange(x.dtype).min;
    const padded = padForWindows(x, g, lowest);
    const wantIndices = ctx.node.output.length > 1 && ctx.node.output[1] !== '';
    if (!wantIndices) {
      let best: Tensor | undefined;
      for (const tap of taps(g.kernel)) {
        const window = tapSlice(padded, g, tap);
        best = best === undefined ? window : maximum(best, window);
      }
      return [best];
    }
    return maxPoolWithIndices(ctx, x, padded, g, storageOrder === 1);
  },
};

/**
 * MaxPool's Indices output: the flat index (int64) of the first maximum in each window, in the
 * input as a whole (batch and channel included); storage_order 1 numbers the spatial dims
 * column-major. Padding never wins: a tap in the padding is taken only over nothing.
 */
function maxPoolWithIndices(ctx: OpContext, x: Tensor, padded: Tensor, g: WindowGeometry, columnMajor: boolean): Value[] {
  const dims = g.kernel.length;
  const spatial = x.shape.slice(2);
  const backend = x.backend.name;
  const place = [1, 1, ...g.output];
  const weights = spatial.map((_, i) => (columnMajor ? spatial.slice(0, i) : spatial.slice(i + 1)).reduce((a, b) => a * b, 1));
  let best: Tensor | undefined;
  let bestIndex: Tensor | undefined;
  for (const tap of taps(g.kernel)) {
    const index = overOutput(g, (o) => {
      let flat = 0;
      for (let i = 0; i < dims; i++) {
        const p = o[i] * g.strides[i] + tap[i] * g.dilations[i] - g.pads[i];
        if (p < 0 || p >= spatial[i]) return -1;
        flat += p * weights[i];
      }
      return flat;
    }, new Int32Array(outputSize(g)));
    const candidateIndex = fromArray(index, place, { dtype: 'int32', backend });
    const window = tapSlice(padded, g, tap);
    if (best === undefined || bestIndex === undefined) {
      best = window;
      bestIndex = expand(candidateIndex, window.shape);
      continue;
    }
    const real = fromArray(Uint8Array.from(index, (v) => (v >= 0 ? 1 : 0)), place, { dtype: 'bool', backend });
    const take = where(less(bestIndex, 0), real, less(best, window));
    best = where(take, window, best);
    bestIndex = where(take, candidateIndex, bestIndex);
  }
  const [n, c] = x.shape;
  const perChannel = spatial.reduce((a, b) => a * b, 1);
  const channelOffsets = reshape(arange(0, n * c * perChannel, perChannel, { dtype: 'int32', backend }), [n, c, ...g.output.map(() => 1)]);
  const flat = n * c === 0 ? (bestIndex as Tensor) : add(bestIndex as Tensor, channelOffsets);
  return [Value.fromTensor(best as Tensor, ctx.input(0).elemType), Value.fromTensor(flat, DataType.INT64)];
}

export const AveragePool: OperatorDefinition = {
  run: (ctx) => {
    const x = poolInput(ctx, false);
    const g = poolGeometry(ctx, x);
    const includePad = ctx.attrs.int('count_include_pad', 0);
    if (includePad !== 0 && includePad !== 1) throw ctx.error('INVALID_MODEL', `count_include_pad must be 0 or 1, got ${includePad}`);
    const total = windowSum(padForWindows(x, g, 0), g);
    return [div(total, windowCounts(x, g, includePad === 1))];
  },
};

function windowSum(padded: Tensor, g: WindowGeometry): Tensor {
  let total: Tensor | undefined;
  for (const tap of taps(g.kernel)) {
    const window = tapSlice(padded, g, tap);
    total = total === undefined ? window : add(total, window);
  }
  return total as Tensor;
}

/**
 * How many elements each window averages: the real ones, or with count_include_pad the padded
 * extent too; never the cells past the end that ceil mode adds (as ONNX's reference counts).
 * A number when every window holds the whole kernel.
 */
function windowCounts(x: Tensor, g: WindowGeometry, includePad: boolean): Tensor | number {
  const dims = g.kernel.length;
  const perDim = g.kernel.map((k, i) => Array.from({ length: g.output[i] }, (_, o) => {
    const length = x.shape[i + 2];
    const [lo, hi] = includePad ? [0, length + g.pads[i] + g.pads[dims + i]] : [g.pads[i], g.pads[i] + length];
    let count = 0;
    for (let j = 0; j < k; j++) {
      const p = o * g.strides[i] + j * g.dilations[i];
      if (p >= lo && p < hi) count++;
    }
    return count;
  }));
  const volume = g.kernel.reduce((a, b) => a * b, 1);
  if (perDim.every((counts, i) => counts.every((c) => c === g.kernel[i]))) return volume;
  const counts = overOutput(g, (o) => o.reduce((acc, oi, i) => acc * perDim[i][oi], 1), new Float64Array(outputSize(g)));
  const typed = x.dtype === 'float64' ? counts : Float32Array.from(counts);
  return fromArray(typed, [1, 1, ...g.output], { dtype: x.dtype, backend: x.backend.name });
}

/** LpPool: (sum over the window of |x|^p)^(1/p), zero padding (ONNX's test data; its reference op scales by kernel/count instead). */
export const LpPool: OperatorDefinition = {
  run: (ctx) => {
    const x = poolInput(ctx, false);
    // LpPool-1 has a float p; from opset 2 it is an int.
    const p = ctx.opset < 2 ? ctx.attrs.float('p', 2) : ctx.attrs.int('p', 2);
    if (!(p > 0)) throw ctx.error('INVALID_MODEL', `p must be positive, got ${p}`);
    const g = poolGeometry(ctx, x);
    const powered = p === 1 ? abs(x) : p === 2 ? mul(x, x) : pow(abs(x), p);
    const total = windowSum(padForWindows(powered, g, 0), g);
    return [p === 1 ? total : p === 2 ? sqrt(total) : pow(total, 1 / p)];
  },
};

const spatialAxes = (x: Tensor): number[] => x.shape.map((_, i) => i).slice(2);

export const GlobalAveragePool: OperatorDefinition = {
  run: (ctx) => {
    const x = poolInput(ctx, false);
    return [mean(x, { axes: spatialAxes(x), keepDims: true })];
  },
};

export const GlobalMaxPool: OperatorDefinition = {
  run: (ctx) => {
    const x = poolInput(ctx, true);
    return [max(x, { axes: spatialAxes(x), keepDims: true })];
  },
};
