import { MinnowError, fromArray, scope, type Tensor } from '@minnow/core';
import { BatchNorm1d, BatchNorm2d, Conv2d, LayerNorm, Linear, type AnyModule } from '@minnow/nn';
import { convGeometry } from '../../quantize/nn/fold-batchnorm.js';
import { gatherAxis, keptPositions, type FloatArray } from './channel-map.js';
import type { LayerPlan, TensorReader, WeightedLayer } from './nn-trace.js';

/**
 * Builds the pruned copy of one layer with weights: a new Linear, Conv2d, BatchNorm or LayerNorm
 * of the smaller shape, holding the kept slices of the source's parameters and buffers (a layer
 * nothing was cut from is copied whole, so the pruned model shares no tensor with its source).
 */

type KeptOf = (group: number) => readonly number[] | undefined;

/** The new layer, before its values are loaded: same options as `source`, `inputs` and `outputs` channels (and `groups`, for a Conv2d). */
function emptyLike(source: WeightedLayer, inputs: number, outputs: number, groups: number): WeightedLayer {
  const first = [...source.stateDict().values()].find((t) => t.dtype === 'float32' || t.dtype === 'float64');
  const where = { dtype: first?.dtype as 'float32' | 'float64' | undefined, backend: first?.backend.name };
  if (source instanceof Linear) return new Linear(inputs, outputs, { ...where, seed: 0, bias: source.bias !== null });
  if (source instanceof Conv2d) {
    const g = convGeometry(source);
    return new Conv2d(inputs, outputs, source.kernelSize, { ...where, seed: 0, stride: g.stride, padding: g.padding, dilation: g.dilation, groups, bias: source.bias !== null });
  }
  if (source instanceof LayerNorm) return new LayerNorm(source.normalizedShape, { ...where, eps: source.eps, elementwiseAffine: source.weight !== null });
  const options = { ...where, eps: source.eps, momentum: source.momentum, affine: source.weight !== null, trackRunningStats: source.trackRunningStats };
  return source instanceof BatchNorm1d ? new BatchNorm1d(outputs, options) : new BatchNorm2d(outputs, options);
}

/** Channels in and out of a layer (BatchNorm and LayerNorm: their feature count both ways). */
export function layerChannels(layer: AnyModule): { inputs: number; outputs: number } {
  if (layer instanceof Linear) return { inputs: layer.inFeatures, outputs: layer.outFeatures };
  if (layer instanceof Conv2d) return { inputs: layer.inChannels, outputs: layer.outChannels };
  if (layer instanceof BatchNorm1d || layer instanceof BatchNorm2d) return { inputs: layer.numFeatures, outputs: layer.numFeatures };
  if (layer instanceof LayerNorm) {
    const n = layer.normalizedShape.reduce((a, b) => a * b, 1);
    return { inputs: n, outputs: n };
  }
  throw new MinnowError('INTERNAL', `layerChannels: ${layer.constructor.name} has no channels`);
}

export async function rebuildLayer(plan: LayerPlan, keptOf: KeptOf, reader: TensorReader): Promise<WeightedLayer> {
  const source = plan.module;
  const output = plan.output ? keptPositions(plan.output, keptOf) : undefined;
  const input = plan.input ? keptPositions(plan.input, keptOf) : undefined;
  const before = layerChannels(source);
  const groups = source instanceof Conv2d ? convGeometry(source).groups : 1;
  const depthwise = source instanceof Conv2d && groups !== 1 && groups === source.inChannels && groups === source.outChannels;
  const outputs = output?.length ?? before.outputs;
  // A depthwise filter's single input channel is its output channel: both shrink together. Other
  // grouped convolutions are never cut (the tracer blocks their channels), so keep their groups.
  const inputs = depthwise ? outputs : source instanceof Linear || source instanceof Conv2d ? input?.length ?? before.inputs : outputs;
  const entries: [string, Tensor, ArrayLike<number>][] = [];
  for (const [name, t] of source.stateDict()) entries.push([name, t, await reader.read(t)]);
  const layer = emptyLike(source, inputs, outputs, depthwise ? outputs : groups);
  try {
    scope(() => {
      const values = new Map<string, Tensor>();
      for (const [name, t, data] of entries) {
        let cut = { values: data as FloatArray, dims: [...t.shape] };
        // Every per-channel tensor is indexed by output channel on axis 0 (LayerNorm's are not per channel).
        if (output && t.rank > 0 && !(source instanceof LayerNorm)) cut = gatherAxis(cut.values, cut.dims, 0, output);
        if (input && name === 'weight' && !depthwise) cut = gatherAxis(cut.values, cut.dims, 1, input);
        values.set(name, fromArray(cut.values, cut.dims, { dtype: t.dtype, backend: t.backend.name }));
      }
      layer.loadStateDict(values);
    });
  } catch (error) {
    layer.dispose();
    throw error;
  }
  layer.train(source.training);
  return layer;
}
