import { MinnowError, add, clone, mul, noGrad, reciprocal, reshape, scope, sqrt, sub, type Tensor } from '@minnow/core';
import { BatchNorm1d, BatchNorm2d, Conv2d, Linear } from '@minnow/nn';
import type { ConvGeometry } from './quantized-conv2d.js';

/**
 * BatchNorm folded into the Linear or Conv2d before it, with the running statistics (eval mode):
 *   w' = w * gamma / sqrt(var + eps)   (per output channel)
 *   b' = (b - mean) * gamma / sqrt(var + eps) + beta
 * so that quantization sees the weights the deployed model multiplies by, and one layer does the work of two.
 */

export type BatchNorm = BatchNorm1d | BatchNorm2d;

/** Whether `bn` can be folded into `layer`: running statistics kept, one per output channel of the layer. */
export function canFold(layer: Linear | Conv2d, bn: BatchNorm): boolean {
  const out = layer instanceof Linear ? layer.outFeatures : layer.outChannels;
  const rankFits = layer instanceof Linear ? bn instanceof BatchNorm1d : bn instanceof BatchNorm2d;
  return rankFits && bn.trackRunningStats && bn.numFeatures === out;
}

/** The layer's weight and bias with `bn` folded in (or plain copies without one): new tensors the caller owns, not on any tape. */
export function foldedParameters(layer: Linear | Conv2d, bn: BatchNorm | null): { weight: Tensor; bias: Tensor | null } {
  return noGrad(() => scope(() => {
    const weight = layer.weight;
    const bias = layer.bias;
    if (!bn) return { weight: clone(weight), bias: bias ? clone(bias) : null };
    if (!canFold(layer, bn)) throw new MinnowError('INTERNAL', 'foldedParameters: BatchNorm does not fit the layer before it');
    const factor = mul(reciprocal(sqrt(add(bn.runningVar!, bn.eps))), bn.weight ?? 1);
    const out = weight.shape[0];
    const foldedWeight = mul(weight, reshape(factor, [out, ...weight.shape.slice(1).map(() => 1)]));
    const shifted = mul(bias ? sub(bias, bn.runningMean!) : mul(bn.runningMean!, -1), factor);
    return { weight: foldedWeight, bias: bn.bias ? add(shifted, bn.bias) : shifted };
  }));
}

/** Conv2d's stride, padding, dilation and groups, normalised. */
export function convGeometry(conv: Conv2d): ConvGeometry {
  // nn's Conv2d keeps its options private (it has no public accessor for them yet): read them
  // from the instance, and fail loudly if that field ever moves.
  const options = (conv as unknown as { convOptions?: { stride?: unknown; padding?: unknown; dilation?: unknown; groups?: number } }).convOptions;
  if (!options) throw new MinnowError('INTERNAL', 'convGeometry: Conv2d no longer keeps its options in `convOptions`; update quantize/nn/fold-batchnorm.ts');
  const pair = (v: unknown, fallback: number): [number, number] =>
    v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [(v as number[])[0], (v as number[])[1]];
  const p = options.padding ?? 0;
  const padding: [number, number, number, number] = typeof p === 'number'
    ? [p, p, p, p]
    : (p as number[]).length === 2 ? [(p as number[])[0], (p as number[])[1], (p as number[])[0], (p as number[])[1]] : [...(p as [number, number, number, number])];
  return { stride: pair(options.stride, 1), padding, dilation: pair(options.dilation, 1), groups: options.groups ?? 1 };
}
