import type { NodeProto } from '@minnow/onnx';
import type { LayerPrecision, QuantScheme } from '../types.js';
import type { ActivationQuantizer } from './activations.js';
import { weightGranularity, type WeightLayout } from './layout.js';
import type { RoundingOptions } from '../weight-rounding.js';
import type { LayerStatistics } from './layer-statistics.js';
import type { GraphScope, NameSource } from './model-edit.js';
import { floatWeightValues, type QuantizedWeight, type WeightRoundingRequest, type WeightStore } from './weights.js';

/** What the per-node rewrites (QDQ, dynamic, QOperator) share while one graph is rewritten. */
export interface RewriteContext {
  readonly names: NameSource;
  readonly weights: WeightStore;
  /** Present for static quantization: calibrated activation ranges. */
  readonly activations: ActivationQuantizer | undefined;
  readonly scope: GraphScope;
  /** Weight clipping and rounding beyond min-max round-to-nearest, with the layer statistics they read. */
  readonly rounding: { readonly options: RoundingOptions; readonly statistics: LayerStatistics | undefined } | undefined;
  /** Adds a node before the node being rewritten. */
  emit(node: NodeProto): void;
}

/** How one node's weights are quantized. */
export interface WeightChoice {
  readonly precision: Exclude<LayerPrecision, 'float'>;
  readonly perChannel: boolean;
  /** Blocked along the reduction axis (int4 default 32; int8 only when asked). */
  readonly blockSize: number | undefined;
  /** A zero point per scale (affine) instead of a grid symmetric about 0. */
  readonly affine: boolean;
}

/** What a rewrite did, for the report (the node's own name and op are added by the caller). */
export interface RewriteResult {
  readonly nodes: NodeProto[];
  readonly weightBits: number;
  readonly weightScale: { readonly min: number; readonly max: number };
  readonly activationScale?: number;
  /** Bytes of the quantized initialisers this node reads (shared ones counted at each reader). */
  readonly bytesAfter: number;
  /** Whatever was kept in float for a reason worth telling (a bias that overflows int32 ...). */
  readonly note?: string;
}

export function weightScheme(layout: WeightLayout, choice: WeightChoice): QuantScheme {
  return {
    type: choice.precision,
    symmetric: !choice.affine,
    granularity: weightGranularity(layout, choice.perChannel, choice.blockSize),
  };
}

/** What the store needs to round `node`'s weight, seen with output axis `outputAxis`, as the options ask. */
export function roundingRequest(ctx: RewriteContext, node: NodeProto, layout: WeightLayout, outputAxis: number): WeightRoundingRequest | undefined {
  if (ctx.rounding === undefined) return undefined;
  return { options: ctx.rounding.options, outputAxis, moments: ctx.rounding.statistics?.forLayout(node, layout) };
}

/** `node`'s weight as stored, quantized under the choice (the QDQ, weight-only and QOperator forms). */
export function quantizeStoredWeight(ctx: RewriteContext, node: NodeProto, layout: WeightLayout, choice: WeightChoice): QuantizedWeight {
  const source = { name: layout.weight.name ?? '', tensor: layout.weight, owner: layout.owner, form: '', values: floatWeightValues(layout.weight), dims: layout.weight.dims };
  return ctx.weights.quantize(source, weightScheme(layout, choice), roundingRequest(ctx, node, layout, layout.outputAxis));
}

export function scaleRange(weight: QuantizedWeight): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const s of weight.params.scale) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  return { min, max };
}

export const bitsOf = (precision: Exclude<LayerPrecision, 'float'>): number => (precision === 'int4' ? 4 : 8);
