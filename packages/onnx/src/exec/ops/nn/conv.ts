import { contiguous, formatShape, isFloatDType, pad, permute, reshape, slice, type Tensor } from '@minnow/core';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { addChannelBias, convolve, planConvolution, runConvolution } from './convolve.js';
import { autoPadOf, kernelShapeAttr, padsAttr, perDimAttr, windowGeometry } from './spatial.js';

function requireFloat(ctx: OpContext, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    if (!isFloatDType(t.dtype)) throw ctx.error('UNSUPPORTED_DTYPE', `${ctx.node.opType} computes float tensors, got ${t.dtype}`);
  }
}

/** Checks x [N, C, ...] against w [M, C/group, ...] and returns the group count. */
export function checkConvShapes(ctx: OpContext, x: readonly number[], w: readonly number[]): number {
  const group = ctx.attrs.int('group', 1);
  if (x.length < 3) throw ctx.error('INVALID_SHAPE', `input ${formatShape(x)} must be [N, C, ...spatial]`);
  if (w.length !== x.length) throw ctx.error('SHAPE_MISMATCH', `weight ${formatShape(w)} must have the input's rank (input ${formatShape(x)})`);
  if (group < 1 || x[1] !== w[1] * group || w[0] % group !== 0) {
    throw ctx.error('SHAPE_MISMATCH', `input ${formatShape(x)} and weight ${formatShape(w)} do not agree for group=${group} (weight dim 1 must be C/group, dim 0 divisible by group)`);
  }
  return group;
}

/** Conv: cross-correlation with bias, over 1, 2 or 3 spatial dims. */
export const Conv: OperatorDefinition = {
  run: (ctx) => {
    const x = ctx.tensor(0);
    const w = ctx.tensor(1);
    const plan = ctx.steady(() => {
      requireFloat(ctx, x, w);
      const groups = checkConvShapes(ctx, x.shape, w.shape);
      const kernel = kernelShapeAttr(ctx, x.rank - 2, w.shape.slice(2));
      const geometry = windowGeometry(ctx, x.shape.slice(2), kernel);
      return { ...planConvolution(ctx, x.shape, w.shape, { ...geometry, groups }), biasKey: `conv:bias:rank${x.rank}` };
    });
    // Initialisers are the same tensors every run: their views are made once.
    const y = runConvolution(ctx, plan, x, w, ctx.input(1).constant ? 'conv:weight' : undefined);
    return [addChannelBias(ctx, y, ctx.optionalTensor(2), ctx.has(2) && ctx.input(2).constant ? plan.biasKey : undefined)];
  },
};

/**
 * ConvTranspose as a convolution: the input spread out by the strides (stride - 1 zeros between
 * neighbours), padded by the kernel extent less the begin pads, and convolved with the weight
 * flipped in space and with its in/out channels swapped per group.
 */
export const ConvTranspose: OperatorDefinition = {
  run: (ctx) => {
    const x = ctx.tensor(0);
    const w = ctx.tensor(1);
    requireFloat(ctx, x, w);
    const dims = x.rank - 2;
    const groups = ctx.attrs.int('group', 1);
    if (dims < 1) throw ctx.error('INVALID_SHAPE', `input ${formatShape(x.shape)} must be [N, C, ...spatial]`);
    if (w.rank !== x.rank || groups < 1 || w.shape[0] !== x.shape[1] || x.shape[1] % groups !== 0) {
      throw ctx.error('SHAPE_MISMATCH', `input ${formatShape(x.shape)} and weight ${formatShape(w.shape)} do not agree for group=${groups} (weight is [C, M/group, ...kernel])`);
    }
    const input = x.shape.slice(2);
    const kernel = kernelShapeAttr(ctx, dims, w.shape.slice(2));
    const strides = perDimAttr(ctx, 'strides', dims, 1, 1);
    const dilations = perDimAttr(ctx, 'dilations', dims, 1, 1);
    const outputPadding = perDimAttr(ctx, 'output_padding', dims, 0, 0);
    const { begins, output } = transposeGeometry(ctx, input, kernel, strides, dilations, outputPadding);

    const spread = spreadByStrides(x, strides);
    const padding: [number, number][] = [[0, 0], [0, 0]];
    for (let i = 0; i < dims; i++) {
      const reach = (kernel[i] - 1) * dilations[i];
      const spreadLength = (input[i] - 1) * strides[i] + 1;
      const before = reach - begins[i];
      const after = output[i] + reach - spreadLength - before;
      // spreadByStrides leaves stride - 1 trailing zeros past spreadLength: take them off `after`.
      padding.push([before, after - (strides[i] - 1)]);
    }
    const padded = pad(spread, padding);
    const y = convolve(ctx, padded, flippedWeight(w, groups), { strides: input.map(() => 1), dilations, pads: new Array<number>(2 * dims).fill(0), groups });
    return [addChannelBias(ctx, y, ctx.optionalTensor(2))];
  },
};

/** Begin pads and output dims, from explicit pads, auto_pad, or output_shape (which wins, as the spec says). */
function transposeGeometry(
  ctx: OpContext, input: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[], outputPadding: readonly number[],
): { begins: number[]; output: number[] } {
  const dims = input.length;
  const full = input.map((l, i) => strides[i] * (l - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1);
  const autoPad = autoPadOf(ctx);
  let output: number[] | undefined;
  if (ctx.attrs.has('output_shape')) {
    output = ctx.attrs.ints('output_shape');
    // Early exporters wrote the whole shape, batch and channels included.
    if (output.length === dims + 2) output = output.slice(2);
    if (output.length !== dims) throw ctx.error('INVALID_MODEL', `output_shape [${output}] must have ${dims} entries`);
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    output = input.map((l, i) => l * strides[i]);
  }
  if (output !== undefined) {
    const out = output;
    // Total padding below zero (an output larger than the full result) pads nothing and extends the end, as onnxruntime does.
    const totals = full.map((f, i) => Math.max(0, f - out[i]));
    const begins = totals.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : t - Math.floor(t / 2)));
    return { begins, output: out };
  }
  const pads = autoPad === 'VALID' ? new Array<number>(2 * dims).fill(0) : padsAttr(ctx, dims);
  const result = full.map((f, i) => f - pads[i] - pads[dims + i]);
  if (result.some((d) => d < 1)) throw ctx.error('SHAPE_MISMATCH', `pads [${pads}] leave no output for input spatial dims [${input}] and kernel [${kernel}]`);
  return { begins: pads.slice(0, dims), output: result };
}

/** x [N, C, L1, ...] as [N, C, L1 * s1, ...] with each element followed by s - 1 zeros. */
function spreadByStrides(x: Tensor, strides: readonly number[]): Tensor {
  if (strides.every((s) => s === 1)) return x;
  const spatial = x.shape.slice(2);
  const interleaved = reshape(x, [x.shape[0], x.shape[1], ...spatial.flatMap((l) => [l, 1])]);
  const padded = pad(interleaved, [[0, 0], [0, 0], ...strides.flatMap((s) => [[0, 0], [0, s - 1]] as [number, number][])]);
  return reshape(padded, [x.shape[0], x.shape[1], ...spatial.map((l, i) => l * strides[i])]);
}

/** w [C, M/g, ...k] as a convolution weight [M, C/g, ...k], flipped along every spatial dim. */
function flippedWeight(w: Tensor, groups: number): Tensor {
  const [c, mg, ...kernel] = w.shape;
  const dims = kernel.length;
  const grouped = reshape(w, [groups, c / groups, mg, ...kernel]);
  const swapped = reshape(contiguous(permute(grouped, [0, 2, 1, ...kernel.map((_, i) => i + 3)])), [groups * mg, c / groups, ...kernel]);
  const flipped = slice(swapped, [0, 0, ...kernel.map((k) => k - 1)], [null, null, ...kernel.map(() => null)], [1, 1, ...new Array<number>(dims).fill(-1)]);
  return contiguous(flipped);
}
