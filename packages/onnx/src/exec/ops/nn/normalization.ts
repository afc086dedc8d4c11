import {
  abs, add, cast, div, equal, formatShape, isFloatDType, mean, mul, normalizeAxis, pad, pow, reciprocal, reshape, shapesEqual, slice, sqrt, sub,
  sum, where, type Tensor,
} from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { Value } from '../../value.js';

function floatInput(ctx: OpContext, i: number): Tensor {
  const t = ctx.tensor(i);
  if (!isFloatDType(t.dtype)) throw ctx.error('UNSUPPORTED_DTYPE', `${ctx.node.opType} input ${i} must be a float tensor, got ${t.dtype}`);
  return t;
}

/** Whether output `i` is asked for (listed and named). */
const wants = (ctx: OpContext, i: number): boolean => i < ctx.node.output.length && ctx.node.output[i] !== '';

/** (x - mean) / sqrt(variance + eps) over `axes` (kept), with the mean and 1/std it used. */
function standardize(x: Tensor, axes: readonly number[], epsilon: number): { y: Tensor; mean: Tensor; invStd: Tensor; variance: Tensor } {
  const m = mean(x, { axes, keepDims: true });
  const centered = sub(x, m);
  const variance = mean(mul(centered, centered), { axes, keepDims: true });
  const invStd = reciprocal(sqrt(add(variance, epsilon)));
  return { y: mul(centered, invStd), mean: m, invStd, variance };
}

/** A per-channel parameter [C] (or, for BatchNormalization's spatial=0, [C, D1, ...]) shaped to broadcast over x [N, C, ...]. */
function channelParameter(ctx: OpContext, x: Tensor, p: Tensor, name: string, perActivation = false): Tensor {
  const channels = x.shape[1];
  if (p.rank === 1 && p.shape[0] === channels) return reshape(p, [1, channels, ...x.shape.slice(2).map(() => 1)]);
  if (perActivation && shapesEqual(p.shape, x.shape.slice(1))) return reshape(p, [1, ...p.shape]);
  throw ctx.error('SHAPE_MISMATCH', `${name} ${formatShape(p.shape)} must have one value per channel (${channels}) of input ${formatShape(x.shape)}`);
}

const exceptChannels = (x: Tensor): number[] => x.shape.map((_, i) => i).filter((i) => i !== 1);

/**
 * BatchNormalization. Inference normalises with the given running statistics. Training mode
 * (training_mode=1 from opset 14; is_test=0 before opset 7; more than one output at opsets 7 to
 * 13) normalises with the batch's own mean and population variance and outputs the running
 * statistics moved toward them by momentum. Opsets before 14 also list saved_mean and saved_var:
 * saved_mean is the batch mean, while saved_var's meaning was never pinned down (variance or its
 * inverse square root, by runtime), so asking for it is unsupported.
 */
export const BatchNormalization: OperatorDefinition = {
  run: (ctx) => {
    const x = floatInput(ctx, 0);
    if (x.rank < 2) throw ctx.error('INVALID_SHAPE', `input ${formatShape(x.shape)} must be [N, C, ...]`);
    const epsilon = ctx.attrs.float('epsilon', 1e-5);
    const perActivation = ctx.opset < 9 && ctx.attrs.int('spatial', 1) === 0;
    const [scale, bias, runningMean, runningVar] = [1, 2, 3, 4].map((i) => floatInput(ctx, i));
    const [s, b, m, v] = [[scale, 'scale'], [bias, 'B'], [runningMean, 'input_mean'], [runningVar, 'input_var']].map(
      ([p, name]) => channelParameter(ctx, x, p as Tensor, name as string, perActivation),
    );
    let training: boolean;
    if (ctx.opset >= 14) training = ctx.attrs.int('training_mode', 0) !== 0;
    else if (ctx.opset < 7) training = ctx.attrs.int('is_test', 0) === 0;
    else training = [1, 2, 3, 4].some((i) => wants(ctx, i));
    if (!training) return [add(mul(mul(sub(x, m), reciprocal(sqrt(add(v, epsilon)))), s), b)];

    if (ctx.opset < 14 && wants(ctx, 4)) throw ctx.error('UNSUPPORTED_OP', `the saved_var output of training-mode BatchNormalization (opset ${ctx.opset}) is not supported: its definition differs between runtimes`);
    const axes = perActivation ? [0] : exceptChannels(x);
    const batch = standardize(x, axes, epsilon);
    const momentum = ctx.attrs.float('momentum', 0.9);
    const moved = (running: Tensor, current: Tensor): Tensor => reshape(add(mul(running, momentum), mul(current, 1 - momentum)), running.shape);
    const outputs: (Tensor | undefined)[] = [add(mul(batch.y, s), b)];
    if (wants(ctx, 1)) outputs[1] = moved(runningMean, reshape(batch.mean, runningMean.shape));
    if (wants(ctx, 2)) outputs[2] = moved(runningVar, reshape(batch.variance, runningVar.shape));
    if (wants(ctx, 3)) outputs[3] = reshape(batch.mean, runningMean.shape);
    return outputs;
  },
};

export const InstanceNormalization: OperatorDefinition = {
  run: (ctx) => {
    const x = floatInput(ctx, 0);
    if (x.rank < 3) throw ctx.error('INVALID_SHAPE', `input ${formatShape(x.shape)} must be [N, C, ...spatial]`);
    const { y } = standardize(x, x.shape.map((_, i) => i).slice(2), ctx.attrs.float('epsilon', 1e-5));
    return [add(mul(y, channelParameter(ctx, x, floatInput(ctx, 1), 'scale')), channelParameter(ctx, x, floatInput(ctx, 2), 'B'))];
  },
};

/** stash_type 1 (float) is the only precision the spec's Mean/InvStdDev types allow. */
function checkStashType(ctx: OpContext): void {
  const stash = ctx.attrs.int('stash_type', 1);
  if (stash !== DataType.FLOAT) throw ctx.error('UNSUPPORTED_OP', `stash_type ${stash} is not supported (only 1, float)`);
}

/** LayerNormalization over dims [axis, rank); Mean and InvStdDev (float, as stash_type 1 makes them) when asked for. */
export const LayerNormalization: OperatorDefinition = {
  sinceVersion: 17,
  run: (ctx) => {
    const x = floatInput(ctx, 0);
    checkStashType(ctx);
    const rawAxis = ctx.attrs.int('axis', -1);
    if (rawAxis < -x.rank || rawAxis >= x.rank) throw ctx.error('INVALID_MODEL', `axis ${rawAxis} is out of range for input ${formatShape(x.shape)}`);
    const axis = rawAxis < 0 ? rawAxis + x.rank : rawAxis;
    const axes = x.shape.map((_, i) => i).slice(axis);
    const { y, mean: m, invStd } = standardize(x, axes, ctx.attrs.float('epsilon', 1e-5));
    let out = mul(y, floatInput(ctx, 1));
    if (ctx.has(2)) out = add(out, floatInput(ctx, 2));
    if (!shapesEqual(out.shape, x.shape)) throw ctx.error('SHAPE_MISMATCH', `Scale/B do not broadcast to input ${formatShape(x.shape)} (result ${formatShape(out.shape)})`);
    const asFloat = (t: Tensor): Value => Value.fromTensor(t.dtype === 'float32' ? t : cast(t, 'float32'), DataType.FLOAT);
    const outputs: (Tensor | Value | undefined)[] = [out];
    if (wants(ctx, 1)) outputs[1] = asFloat(m);
    if (wants(ctx, 2)) outputs[2] = asFloat(invStd);
    return outputs;
  },
};

/**
 * GroupNormalization: statistics per instance per group of channels. Opset 18 takes scale and
 * bias per group; opset 21 per channel.
 */
export const GroupNormalization: OperatorDefinition = {
  sinceVersion: 18,
  run: (ctx) => {
    const x = floatInput(ctx, 0);
    if (ctx.opset >= 21) checkStashType(ctx);
    const groups = ctx.attrs.int('num_groups');
    if (x.rank < 2) throw ctx.error('INVALID_SHAPE', `input ${formatShape(x.shape)} must be [N, C, ...]`);
    const [n, c] = x.shape;
    if (groups < 1 || c % groups !== 0) throw ctx.error('INVALID_MODEL', `num_groups ${groups} must divide the ${c} channels`);
    const scale = floatInput(ctx, 1);
    const bias = floatInput(ctx, 2);
    const { y } = standardize(reshape(x, [n, groups, x.size / Math.max(1, n * groups)]), [2], ctx.attrs.float('epsilon', 1e-5));
    if (ctx.opset < 21) {
      for (const [p, name] of [[scale, 'scale'], [bias, 'bias']] as const) {
        if (p.rank !== 1 || p.shape[0] !== groups) throw ctx.error('SHAPE_MISMATCH', `${name} ${formatShape(p.shape)} must have one value per group (${groups}) at opset ${ctx.opset}`);
      }
      return [reshape(add(mul(y, reshape(scale, [1, groups, 1])), reshape(bias, [1, groups, 1])), x.shape)];
    }
    const normalized = reshape(y, x.shape);
    return [add(mul(normalized, channelParameter(ctx, x, scale, 'scale')), channelParameter(ctx, x, bias, 'bias'))];
  },
};

/** x divided by its L1 or L2 norm along axis (0 where the norm is 0). */
export const LpNormalization: OperatorDefinition = {
  run: (ctx) => {
    const x = floatInput(ctx, 0);
    const p = ctx.attrs.int('p', 2);
    if (p !== 1 && p !== 2) throw ctx.error('INVALID_MODEL', `p must be 1 or 2, got ${p}`);
    const axis = normalizeAxis('LpNormalization', ctx.attrs.int('axis', -1), x.rank, x.shape);
    const norm = p === 1 ? sum(abs(x), { axes: axis, keepDims: true }) : sqrt(sum(mul(x, x), { axes: axis, keepDims: true }));
    return [where(equal(norm, 0), 0, div(x, norm))];
  },
};

/** (x - mean) / (std + 1e-9) over axes, the epsilon of the spec's function body. */
export const MeanVarianceNormalization: OperatorDefinition = {
  sinceVersion: 9,
  run: (ctx) => {
    const x = floatInput(ctx, 0);
    const axes = ctx.attrs.ints('axes', [0, 2, 3]).map((a) => {
      if (a < -x.rank || a >= x.rank) throw ctx.error('INVALID_MODEL', `axis ${a} is out of range for input ${formatShape(x.shape)}`);
      return a < 0 ? a + x.rank : a;
    });
    const m = mean(x, { axes, keepDims: true });
    const centered = sub(x, m);
    const std = sqrt(mean(mul(centered, centered), { axes, keepDims: true }));
    return [div(centered, add(std, 1e-9))];
  },
};

/** Local response normalisation across channels: x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels)^beta. */
export const LRN: OperatorDefinition = {
  run: (ctx) => {
    const x = floatInput(ctx, 0);
    if (x.rank < 3) throw ctx.error('INVALID_SHAPE', `input ${formatShape(x.shape)} must be [N, C, ...spatial]`);
    const size = ctx.attrs.int('size');
    if (size < 1) throw ctx.error('INVALID_MODEL', `size must be positive, got ${size}`);
    const alpha = ctx.attrs.float('alpha', 1e-4);
    const beta = ctx.attrs.float('beta', 0.75);
    const bias = ctx.attrs.float('bias', 1);
    const channels = x.shape[1];
    const before = Math.floor((size - 1) / 2);
    const after = Math.ceil((size - 1) / 2);
    const squares = pad(mul(x, x), x.shape.map((_, i) => (i === 1 ? [before, after] : [0, 0]) as [number, number]));
    let total: Tensor | undefined;
    for (let j = 0; j < size; j++) {
      const window = slice(squares, x.shape.map((_, i) => (i === 1 ? j : 0)), x.shape.map((d, i) => (i === 1 ? j + channels : d)));
      total = total === undefined ? window : add(total, window);
    }
    return [div(x, pow(add(mul(total as Tensor, alpha / size), bias), beta))];
  },
};
