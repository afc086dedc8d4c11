import {
  cast, clamp, formatShape, fromArray, gather, integerRange, isFloatDType, mul, reshape, round, roundHalfToEven, sum, where, type Tensor,
} from '@minnow/core';
import { exactIntegerRange, isUnsignedType } from '../../dtypes.js';
import type { OpContext, OperatorTable } from '../../operator.js';
import { Value, aliasTensor } from '../../value.js';
import { axesOf } from './common.js';
import { planAxis, type CoordinateMode, type NearestMode, type ResizeOptions } from './resize-plan.js';

/**
 * Resize (opsets 10, 11, 13, 18, 19) and the Upsample it replaced (7, 9). Output sizes and per-axis
 * index and weight tables are computed on the host (resize-plan.ts); the device applies them one
 * axis at a time: a gather of the taps, a multiply by the weights and a sum over the taps (nearest
 * is the gather alone, so it is exact for every dtype). Integer inputs interpolate in float64 and
 * are rounded half to even and saturated back, as the reference does.
 */

interface ResizeRequest extends ResizeOptions {
  readonly extrapolation: number;
  /** Per dim of the input. */
  readonly scales: number[];
  readonly sizes: number[];
  readonly roi: [number, number][];
}

const COORDINATE_MODES: Record<string, number> = {
  half_pixel: 11, pytorch_half_pixel: 11, align_corners: 11, asymmetric: 11, tf_crop_and_resize: 11, tf_half_pixel_for_nn: 11, half_pixel_symmetric: 19,
};
const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

function checkChoice(ctx: OpContext, name: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) throw ctx.error('UNSUPPORTED_OP', `${name} '${value}' is not one of ${allowed.join(', ')} at opset ${ctx.opset}`);
}

/** Output sizes and scales per dim, from `scales` or `sizes` over `axes` (keep_aspect_ratio_policy applies to sizes). */
function outputGeometry(ctx: OpContext, shape: readonly number[], axes: readonly number[], scales?: number[], sizes?: number[]): { scales: number[]; sizes: number[] } {
  if ((scales === undefined) === (sizes === undefined)) throw ctx.error('INVALID_MODEL', 'exactly one of scales and sizes must be given');
  const given = (scales ?? sizes) as number[];
  if (given.length !== axes.length) throw ctx.error('INVALID_ARGUMENT', `${scales ? 'scales' : 'sizes'} ${formatShape(given)} must have ${axes.length} entries, one per resized axis of ${formatShape(shape)}`);
  const outScales = shape.map(() => 1);
  const outSizes = [...shape];
  if (scales !== undefined) {
    axes.forEach((d, i) => {
      if (!(scales[i] > 0)) throw ctx.error('INVALID_ARGUMENT', `scale ${scales[i]} on axis ${d} must be positive`);
      outScales[d] = scales[i];
      outSizes[d] = Math.floor(scales[i] * shape[d]);
    });
    return { scales: outScales, sizes: outSizes };
  }
  const wanted = sizes as number[];
  if (wanted.some((s) => !Number.isSafeInteger(s) || s < 0)) throw ctx.error('INVALID_ARGUMENT', `sizes ${formatShape(wanted)} must be non-negative integers`);
  const policy = ctx.opset >= 18 ? ctx.attrs.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
  checkChoice(ctx, 'keep_aspect_ratio_policy', policy, ['stretch', 'not_larger', 'not_smaller']);
  const ratios = axes.map((d, i) => wanted[i] / shape[d]);
  if (policy === 'stretch') {
    axes.forEach((d, i) => {
      outScales[d] = ratios[i];
      outSizes[d] = wanted[i];
    });
  } else {
    const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
    for (const d of axes) {
      outScales[d] = scale;
      outSizes[d] = Math.floor(scale * shape[d] + 0.5);
    }
  }
  return { scales: outScales, sizes: outSizes };
}

function resizeRequest(ctx: OpContext): ResizeRequest {
  const shape = ctx.input(0).shape;
  const legacy = ctx.opset < 11;
  const mode = ctx.attrs.string('mode', 'nearest');
  checkChoice(ctx, 'mode', mode, legacy ? ['nearest', 'linear'] : ['nearest', 'linear', 'cubic']);
  const coordinates = legacy ? 'asymmetric' : ctx.attrs.string('coordinate_transformation_mode', 'half_pixel');
  const modes = Object.keys(COORDINATE_MODES).filter((m) => ctx.opset >= COORDINATE_MODES[m] && !(m === 'tf_half_pixel_for_nn' && ctx.opset >= 13));
  if (!legacy) checkChoice(ctx, 'coordinate_transformation_mode', coordinates, modes);
  const nearest = legacy ? 'legacy' : ctx.attrs.string('nearest_mode', 'round_prefer_floor');
  if (!legacy) checkChoice(ctx, 'nearest_mode', nearest, NEAREST_MODES);
  const axes = ctx.opset >= 18 && ctx.attrs.has('axes') ? axesOf(ctx, ctx.attrs.ints('axes'), shape.length) : shape.map((_, i) => i);
  const present = (i: number) => (ctx.has(i) && ctx.input(i).size > 0 ? ctx.ints(i) : undefined);
  const geometry = legacy ? outputGeometry(ctx, shape, axes, ctx.ints(1)) : outputGeometry(ctx, shape, axes, present(2), present(3));
  const roi = shape.map(() => [0, 1] as [number, number]);
  const givenRoi = legacy ? undefined : present(1);
  if (coordinates === 'tf_crop_and_resize') {
    if (givenRoi === undefined || givenRoi.length !== 2 * axes.length) {
      throw ctx.error('INVALID_ARGUMENT', `tf_crop_and_resize needs roi with ${2 * axes.length} values [starts..., ends...], got ${givenRoi ? formatShape(givenRoi) : 'none'}`);
    }
    axes.forEach((d, i) => {
      roi[d] = [givenRoi[i], givenRoi[axes.length + i]];
    });
  }
  return {
    mode: mode as ResizeOptions['mode'],
    coordinates: coordinates as CoordinateMode,
    nearest: nearest as NearestMode,
    cubicA: ctx.attrs.float('cubic_coeff_a', -0.75),
    excludeOutside: ctx.attrs.int('exclude_outside', 0) !== 0,
    antialias: ctx.opset >= 18 && ctx.attrs.int('antialias', 0) !== 0,
    extrapolation: ctx.attrs.float('extrapolation_value', 0),
    ...geometry,
    roi,
  };
}

/** Applies the request to the node's input 0 on the device. */
function applyResize(ctx: OpContext, request: ResizeRequest): Value {
  const input = ctx.input(0);
  const x = ctx.tensor(0);
  const interpolate = request.mode !== 'nearest';
  if (interpolate && x.dtype === 'bool') throw ctx.error('UNSUPPORTED_DTYPE', `${request.mode} resize of bool is not defined`);
  const float = isFloatDType(x.dtype) ? x.dtype : 'float64';
  let t: Tensor = interpolate ? cast(x, float) : x;
  // Integer results are rounded half to even and saturated to the type, the extrapolation value too.
  const integers = !isFloatDType(x.dtype) && x.dtype !== 'bool';
  const range = integers ? integerRange(x.dtype) : { min: 0, max: 0 };
  const [lo, hi] = exactIntegerRange(input.elemType) ?? [isUnsignedType(input.elemType) ? 0 : range.min, range.max];
  const extrapolation = integers && !interpolate ? Math.min(Math.max(roundHalfToEven(request.extrapolation), lo), hi) : request.extrapolation;
  const backend = ctx.backend;
  for (let d = 0; d < input.rank; d++) {
    const from = input.shape[d];
    const to = request.sizes[d];
    const [start, end] = request.roi[d];
    const croppedRoi = request.coordinates === 'tf_crop_and_resize' && (Math.abs(start) > 1e-9 || Math.abs(end - 1) > 1e-9);
    if (from === 0) {
      if (to !== 0) throw ctx.error('INVALID_SHAPE', `cannot resize the empty axis ${d} of ${formatShape(input.shape)} to ${to}`);
      continue;
    }
    if (to === from && Math.abs(request.scales[d] - 1) <= 1e-9 && !croppedRoi) continue;
    const plan = planAxis(request, from, to, request.scales[d], request.roi[d]);
    const along = (n: number) => input.shape.map((_, k) => (k === d ? n : 1));
    if (plan.weights === undefined || to === 0) {
      t = gather(t, fromArray(plan.indices.subarray(0, to), [to], { dtype: 'int32', backend }), d);
    } else {
      const taps = gather(t, fromArray(plan.indices, [to * plan.taps], { dtype: 'int32', backend }), d);
      const split = [...t.shape.slice(0, d), to, plan.taps, ...t.shape.slice(d + 1)];
      const weightShape = [...along(1).slice(0, d), to, plan.taps, ...along(1).slice(d + 1)];
      const weights = fromArray(float === 'float32' ? Float32Array.from(plan.weights) : plan.weights, weightShape, { dtype: float, backend });
      t = sum(mul(reshape(taps, split), weights), { axes: [d + 1] });
    }
    if (plan.outside?.some((o) => o === 1)) {
      t = where(fromArray(plan.outside, along(to), { dtype: 'bool', backend }), extrapolation, t);
    }
  }
  if (interpolate && integers) t = cast(clamp(round(t), lo, hi), x.dtype);
  // Nothing resized: the output is a new reference to the input's tensor, not the input's own.
  return Value.fromTensor(t === x ? aliasTensor(x) : t, input.elemType);
}

function upsample(ctx: OpContext) {
  if (ctx.opset < 7) throw ctx.error('UNSUPPORTED_OP', `Upsample before opset 7 (experimental) is not supported`);
  if (ctx.opset >= 10) throw ctx.error('UNSUPPORTED_OP', `Upsample is deprecated from opset 10 (opset ${ctx.opset}): use Resize`);
  const shape = ctx.input(0).shape;
  const mode = ctx.attrs.string('mode', 'nearest');
  checkChoice(ctx, 'mode', mode, ['nearest', 'linear']);
  const scales = ctx.opset >= 9 ? ctx.ints(1) : ctx.attrs.floats('scales');
  if (scales.some((s) => !(s >= 1))) throw ctx.error('INVALID_ARGUMENT', `scales ${formatShape(scales)} must all be >= 1`);
  const geometry = outputGeometry(ctx, shape, shape.map((_, i) => i), scales);
  return [applyResize(ctx, {
    mode: mode as 'nearest' | 'linear', coordinates: 'asymmetric', nearest: 'legacy', cubicA: -0.75, excludeOutside: false, antialias: false,
    extrapolation: 0, ...geometry, roi: shape.map(() => [0, 1]),
  })];
}

export const resizeOperators: OperatorTable = {
  Resize: { sinceVersion: 10, run: (ctx) => [applyResize(ctx, resizeRequest(ctx))] },
  Upsample: { run: upsample },
};
