import { add, conv2d, contiguous, formatShape, pad, permute, reshape, slice, type Conv2dOptions, type Tensor } from '@minnow/core';
import type { OpContext } from '../../operator.js';

/** How one convolution is laid out: per spatial dim strides, dilations and ONNX-order pads, plus groups. */
export interface ConvLayout {
  readonly strides: readonly number[];
  readonly dilations: readonly number[];
  /** [begins..., ends...]; negative pads crop. */
  readonly pads: readonly number[];
  readonly groups: number;
}

/**
 * N-D cross-correlation of x [N, C, ...spatial] with w [M, C/groups, ...kernel] (no bias), for 1, 2
 * and 3 spatial dims, all on core's conv2d: 1-D gets a unit height; 3-D sums one conv2d per kernel
 * depth tap, each over the depth positions that tap reads (strided slices folded into the batch).
 */
export function convolve(ctx: OpContext, x: Tensor, w: Tensor, layout: ConvLayout): Tensor {
  const dims = x.rank - 2;
  if (dims < 1 || dims > 3) throw ctx.error('UNSUPPORTED_OP', `convolution over ${dims} spatial dims (input ${formatShape(x.shape)}) is not supported: minnow convolves 1-D, 2-D and 3-D`);
  if (w.rank !== x.rank) throw ctx.error('SHAPE_MISMATCH', `weight ${formatShape(w.shape)} must have the input's rank ${x.rank} (input ${formatShape(x.shape)})`);
  let { pads } = layout;
  let source = x;
  if (pads.some((p) => p < 0)) {
    // conv2d pads only outward: crop (and pad) first, then convolve unpadded.
    source = pad(x, [[0, 0], [0, 0], ...Array.from({ length: dims }, (_, i) => [pads[i], pads[dims + i]] as [number, number])]);
    pads = new Array<number>(2 * dims).fill(0);
  }
  if (dims === 1) {
    const [n, c, length] = source.shape;
    const y = conv2d(reshape(source, [n, c, 1, length]), reshape(w, [w.shape[0], w.shape[1], 1, w.shape[2]]), {
      stride: [1, layout.strides[0]], dilation: [1, layout.dilations[0]], padding: [0, pads[0], 0, pads[1]], groups: layout.groups,
    });
    return reshape(y, [y.shape[0], y.shape[1], y.shape[3]]);
  }
  if (dims === 2) {
    return conv2d(source, w, {
      stride: [layout.strides[0], layout.strides[1]],
      dilation: [layout.dilations[0], layout.dilations[1]],
      padding: [pads[0], pads[1], pads[2], pads[3]],
      groups: layout.groups,
    });
  }
  return convolve3d(ctx, source, w, { ...layout, pads });
}

/**
 * A convolution worked out for given input and weight shapes, to run again and again (a node's
 * steady plan): 1-D and 2-D convolutions without cropping go straight to conv2d with the views and
 * options computed here; the rest (3-D, negative pads) run through convolve.
 */
export interface ConvolutionPlan {
  readonly layout: ConvLayout;
  /** conv2d's input and weight shapes for a 1-D convolution (undefined: already 2-D, or not direct). */
  readonly inputAs2d?: readonly number[];
  readonly weightAs2d?: readonly number[];
  /** conv2d's options when it is called directly. */
  readonly conv2d?: Conv2dOptions;
  /** The output shape of a 1-D convolution, from conv2d's [N, M, 1, L]. */
  readonly outputShape?: readonly number[];
}

export function planConvolution(ctx: OpContext, x: readonly number[], w: readonly number[], layout: ConvLayout): ConvolutionPlan {
  const dims = x.length - 2;
  if (dims < 1 || dims > 3) throw ctx.error('UNSUPPORTED_OP', `convolution over ${dims} spatial dims (input ${formatShape(x)}) is not supported: minnow convolves 1-D, 2-D and 3-D`);
  if (w.length !== x.length) throw ctx.error('SHAPE_MISMATCH', `weight ${formatShape(w)} must have the input's rank ${x.length} (input ${formatShape(x)})`);
  const { pads, strides, dilations, groups } = layout;
  if (dims === 3 || pads.some((p) => p < 0)) return { layout };
  if (dims === 2) {
    return { layout, conv2d: { stride: [strides[0], strides[1]], dilation: [dilations[0], dilations[1]], padding: [pads[0], pads[1], pads[2], pads[3]], groups } };
  }
  const [n, c, length] = x;
  return {
    layout,
    inputAs2d: [n, c, 1, length],
    weightAs2d: [w[0], w[1], 1, w[2]],
    conv2d: { stride: [1, strides[0]], dilation: [1, dilations[0]], padding: [0, pads[0], 0, pads[1]], groups },
    outputShape: [n, w[0], Math.floor((length + pads[0] + pads[1] - dilations[0] * (w[2] - 1) - 1) / strides[0]) + 1],
  };
}

/**
 * Runs a planned convolution of x with w. `weightKey`, for a weight that stays the same tensor from
 * run to run (an initialiser), memoises its 2-D view under that key (OpContext.memo).
 */
export function runConvolution(ctx: OpContext, plan: ConvolutionPlan, x: Tensor, w: Tensor, weightKey?: string): Tensor {
  if (plan.conv2d === undefined) return convolve(ctx, x, w, plan.layout);
  if (plan.inputAs2d === undefined) return conv2d(x, w, plan.conv2d);
  const shape = plan.weightAs2d as readonly number[];
  const weight = weightKey === undefined ? reshape(w, shape) : ctx.memo(weightKey, () => reshape(w, shape));
  const y = conv2d(reshape(x, plan.inputAs2d), weight, plan.conv2d);
  return reshape(y, plan.outputShape as readonly number[]);
}

function convolve3d(ctx: OpContext, x: Tensor, w: Tensor, layout: ConvLayout): Tensor {
  const { strides, dilations, pads } = layout;
  const padded = pads[0] !== 0 || pads[3] !== 0 ? pad(x, [[0, 0], [0, 0], [pads[0], pads[3]], [0, 0], [0, 0]]) : x;
  const [n, c, depth, h, wd] = padded.shape;
  const [m, cg, kd, kh, kw] = w.shape;
  const outDepth = Math.floor((depth - (kd - 1) * dilations[0] - 1) / strides[0]) + 1;
  if (outDepth < 1) throw ctx.error('SHAPE_MISMATCH', `kernel depth ${kd} (dilation ${dilations[0]}) is larger than the padded input depth ${depth}`);
  let sum: Tensor | undefined;
  for (let tap = 0; tap < kd; tap++) {
    const start = tap * dilations[0];
    const planes = slice(padded, [0, 0, start, 0, 0], [n, c, start + (outDepth - 1) * strides[0] + 1, h, wd], [1, 1, strides[0], 1, 1]);
    const batch = reshape(contiguous(permute(planes, [0, 2, 1, 3, 4])), [n * outDepth, c, h, wd]);
    const kernel = reshape(slice(w, [0, 0, tap, 0, 0], [m, cg, tap + 1, kh, kw]), [m, cg, kh, kw]);
    const y = conv2d(batch, contiguous(kernel), {
      stride: [strides[1], strides[2]], dilation: [dilations[1], dilations[2]], padding: [pads[1], pads[2], pads[4], pads[5]], groups: layout.groups,
    });
    sum = sum === undefined ? y : add(sum, y);
  }
  const s = sum as Tensor;
  return permute(reshape(s, [n, outDepth, m, s.shape[2], s.shape[3]]), [0, 2, 1, 3, 4]);
}

/** A per-channel vector [M] as [1, M, 1, ...] of the given rank. */
const channelView = (bias: Tensor, rank: number): Tensor => reshape(bias, [1, bias.size, ...new Array<number>(rank - 2).fill(1)]);

/**
 * Adds a per-channel bias [M] to y [N, M, ...]. `biasKey`, for a bias that stays the same tensor
 * from run to run, memoises its broadcastable view under that key (which must name y's rank).
 */
export function addChannelBias(ctx: OpContext, y: Tensor, bias: Tensor | undefined, biasKey?: string): Tensor {
  if (bias === undefined) return y;
  const channels = y.shape[1];
  if (bias.size !== channels) throw ctx.error('SHAPE_MISMATCH', `bias ${formatShape(bias.shape)} must have one value per output channel (${channels})`);
  return add(y, biasKey === undefined ? channelView(bias, y.rank) : ctx.memo(biasKey, () => channelView(bias, y.rank)));
}
