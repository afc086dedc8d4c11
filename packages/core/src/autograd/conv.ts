import type { Tensor } from '../tensor.js';
import { conv2d } from '../ops/primitives.js';
import type { Conv2dAttrs } from '../ops/table.js';
import { permute, reshape, slice } from '../ops/view.js';
import { interleaveZeros, padThenCrop } from './compose.js';

/**
 * The gradients of conv2d, both composed from conv2d itself, so every backend's convolution kernel
 * trains too. Forward: out[n, o, i, j] = sum over c in o's group, p, q of
 *   x[n, c, i*s + p*d - padTop, j*s + q*d - padLeft] * w[o, c', p, q].
 */

/**
 * d/dx: a transposed convolution. The gradient is spread by the stride (zero insertion), padded so
 * that a stride-1 convolution with the flipped kernel, dilated as before, lands on every input
 * position (negative padding crops outputs that only saw padding), and convolved with the weight
 * whose in/out channel roles are swapped within each group.
 */
export function conv2dInputGrad(g: Tensor, w: Tensor, inputShape: readonly number[], attrs: Conv2dAttrs): Tensor {
  const [, c, h, wd] = inputShape;
  const [o, cg, kh, kw] = w.shape;
  const groups = attrs.groups;
  const [sh, sw] = attrs.stride;
  const [dh, dw] = attrs.dilation;
  const [pt, pl] = attrs.padding;
  const spread = interleaveZeros(g, [1, 1, sh, sw]);
  const [lenH, lenW] = spread.shape.slice(2);
  const beforeH = (kh - 1) * dh - pt;
  const beforeW = (kw - 1) * dw - pl;
  const padded = padThenCrop(spread, [
    [0, 0],
    [0, 0],
    [beforeH, h + (kh - 1) * dh - beforeH - lenH],
    [beforeW, wd + (kw - 1) * dw - beforeW - lenW],
  ]);
  const flipped = slice(w, [0, 0, -1, -1], [null, null, null, null], [1, 1, -1, -1]);
  const swapped = reshape(permute(reshape(flipped, [groups, o / groups, cg, kh, kw]), [0, 2, 1, 3, 4]), [c, o / groups, kh, kw]);
  return conv2d(padded, swapped, { dilation: [dh, dw], groups });
}

/**
 * d/dw: a convolution of the input with the gradient as its kernel, batch and channels swapped:
 * the batch becomes the summed (channel) dim, the forward stride becomes the dilation and the
 * forward dilation the stride. Groups stay groups by putting (group, batch) in the channel dim.
 * The input is padded as in the forward pass and cropped to the rows and columns actually read.
 */
export function conv2dWeightGrad(x: Tensor, g: Tensor, weightShape: readonly number[], attrs: Conv2dAttrs): Tensor {
  const [n, , h, wd] = x.shape;
  const [, cg, kh, kw] = weightShape;
  const [outH, outW] = g.shape.slice(2);
  const groups = attrs.groups;
  const [sh, sw] = attrs.stride;
  const [dh, dw] = attrs.dilation;
  const [pt, pl] = attrs.padding;
  const usedH = (outH - 1) * sh + (kh - 1) * dh + 1;
  const usedW = (outW - 1) * sw + (kw - 1) * dw + 1;
  const xp = padThenCrop(x, [[0, 0], [0, 0], [pt, usedH - h - pt], [pl, usedW - wd - pl]]);
  const xs = reshape(permute(reshape(xp, [n, groups, cg, usedH, usedW]), [2, 1, 0, 3, 4]), [cg, groups * n, usedH, usedW]);
  const gs = permute(g, [1, 0, 2, 3]);
  const r = conv2d(xs, gs, { stride: [dh, dw], dilation: [sh, sw], groups });
  return permute(r, [1, 0, 2, 3]);
}
