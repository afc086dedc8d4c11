import { MinnowError, add, conv2d, linear, reshape, scope, type Tensor } from '@minnow/core';
import { BatchNorm1d, BatchNorm2d, Conv2d, Linear, type AnyModule } from '@minnow/nn';
import type { QuantScheme } from '../types.js';
import { canFold, convGeometry, foldedParameters, type BatchNorm } from './fold-batchnorm.js';
import type { ConvGeometry } from './quantized-conv2d.js';
import type { Visit } from './rebuild.js';

/**
 * The layers module quantization acts on (Linear and Conv2d, each with the BatchNorm after it
 * folded in), described once so that PTQ's observation, QAT's training and the conversion to
 * integer layers agree on the maths.
 */

export interface LayerSpec {
  readonly kind: 'Linear' | 'Conv2d';
  /** Dotted path of the layer in the source model. */
  readonly path: string;
  /** 'Linear', 'Conv2d', or with a folded BatchNorm 'Conv2d+BatchNorm2d'. */
  readonly op: string;
  /** Conv2d only. */
  readonly geometry?: ConvGeometry;
}

export const isQuantizable = (m: AnyModule): m is Linear | Conv2d => m instanceof Linear || m instanceof Conv2d;

/** A source layer with its folded float parameters (new tensors the caller owns). */
export interface SourceLayer {
  readonly spec: LayerSpec;
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** Whether the BatchNorm after the layer was folded in (the rebuild then skips it). */
  readonly foldedNext: boolean;
}

/** Reads the Linear or Conv2d a rebuild visits, folding the BatchNorm that follows it when it can. */
export function sourceLayer(visit: Visit): SourceLayer {
  const layer = visit.module;
  if (!isQuantizable(layer)) throw new MinnowError('INTERNAL', `sourceLayer: ${visit.path} is not a Linear or Conv2d`);
  const next = visit.next?.module;
  const bn = (next instanceof BatchNorm1d || next instanceof BatchNorm2d) && canFold(layer, next) ? (next as BatchNorm) : null;
  const { weight, bias } = foldedParameters(layer, bn);
  const kind = layer instanceof Linear ? 'Linear' : 'Conv2d';
  const spec: LayerSpec = {
    kind,
    path: visit.path,
    op: bn ? `${kind}+${bn.constructor.name}` : kind,
    ...(layer instanceof Conv2d ? { geometry: convGeometry(layer) } : {}),
  };
  return { spec, weight, bias, foldedNext: bn !== null };
}

/** The float layer: x W^T + b, or conv2d(x, W) + b per channel. */
export function floatForward(spec: LayerSpec, x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  if (spec.kind === 'Linear') return linear(x, weight, bias ?? undefined);
  return scope(() => {
    const y = conv2d(x, weight, spec.geometry);
    return bias ? add(y, reshape(bias, [weight.shape[0], 1, 1])) : y;
  });
}

/** Weight shorthand of module quantization: int8 per output channel, or int4 in blocks along the input. */
export type WeightQuantization = 'int8' | 'int4' | QuantScheme;

/**
 * The scheme for a layer's weights: 'int8' is symmetric per output channel (axis 0); 'int4' is
 * symmetric in blocks of `blockSize` (default 32) along axis 1 (Linear: the inputs; Conv2d: the
 * input channels, as ONNX blocks a Conv weight); a QuantScheme is taken as given.
 */
export function resolveWeightScheme(weights: WeightQuantization, blockSize = 32): QuantScheme {
  if (weights === 'int8') return { type: 'int8', symmetric: true, granularity: { kind: 'axis', axis: 0 } };
  if (weights === 'int4') {
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new MinnowError('INVALID_ARGUMENT', `module quantization: blockSize must be a positive integer, got ${blockSize}`);
    return { type: 'int4', symmetric: true, granularity: { kind: 'block', axis: 1, blockSize } };
  }
  if (typeof weights !== 'object' || weights === null || !('type' in weights) || !('granularity' in weights)) {
    throw new MinnowError('INVALID_ARGUMENT', `module quantization: weights must be 'int8', 'int4' or a QuantScheme, got ${JSON.stringify(weights)}`);
  }
  if (weights.type !== 'int8' && weights.type !== 'int4') {
    throw new MinnowError('INVALID_ARGUMENT', `module quantization: weights are signed and symmetric (int8 or int4, zero point 0), got ${weights.type}`);
  }
  return weights;
}

/** Whether `include`/`exclude` (module paths or class names) select the layer. */
export function selects(path: string, className: string, include: readonly string[] | undefined, exclude: readonly string[] | undefined): boolean {
  const named = (list: readonly string[]) => list.includes(path) || list.includes(className);
  if (include && !named(include)) return false;
  return !(exclude && named(exclude));
}

/** Float bytes of a layer's weight and bias, for the report. */
export function floatBytes(weight: Tensor, bias: Tensor | null): number {
  const width = weight.dtype === 'float64' ? 8 : 4;
  return (weight.size + (bias?.size ?? 0)) * width;
}
