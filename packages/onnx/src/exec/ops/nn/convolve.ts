import { add, conv2d, contiguous, formatShape, pad, permute, reshape, slice, type Tensor } from '@minnow/core';
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

/** Adds a per-channel bias [M] to y [N, M, ...]. */
export function addChannelBias(ctx: OpContext, y: Tensor, bias: Tensor | undefined): Tensor {
  if (bias === undefined) return y;
  const channels = y.shape[1];
  if (bias.size !== channels) throw ctx.error('SHAPE_MISMATCH', `bias ${formatShape(bias.shape)} must have one value per output channel (${channels})`);
  return add(y, reshape(bias, [1, channels, ...y.shape.slice(2).map(() => 1)]));
}
