import { MinnowError } from '@minnow/core';
import type { Tensor } from '@minnow/core';
import { Conv2d, Linear, Module, Sequential, type AnyModule } from '@minnow/nn';
import { selects } from '../../quantize/nn/layer-spec.js';
import { ChannelGroups } from './groups.js';
import { checkChannelOptions } from './importance.js';
import { layerChannels, rebuildLayer } from './nn-rebuild.js';
import { TensorReader, isPlainSequential, traceModule, type WeightedLayer } from './nn-trace.js';
import type { ModuleChannelPruneOptions, ModuleChannelPruneResult, StructuredLayerReport } from './types.js';

const OP = 'pruneChannels';

type Layer = Module<[Tensor], Tensor>;

/**
 * The model's tree again, each layer with weights replaced by its pruned copy. Unlike quantize's
 * rebuild (whose RebuiltSequential exportModule does not convert), the containers are plain
 * Sequentials, so a pruned model exports to ONNX; that is safe because every layer with tensors
 * is new: the layers shared with the source (activations, pooling, Flatten, Dropout) hold none,
 * so disposing either model cannot free the other's. The tracer has already refused every other
 * kind of container.
 */
function rebuildTree(m: AnyModule, made: ReadonlyMap<AnyModule, WeightedLayer>): Layer {
  if (isPlainSequential(m)) return new Sequential(...m.layers.map((child) => rebuildTree(child as AnyModule, made)));
  return (made.get(m) ?? m) as Layer;
}

/**
 * Structured pruning of an nn model: removes the least important output channels of every Conv2d
 * and output neurons of every Linear, physically. Each layer is rebuilt smaller, and so is every
 * layer that indexes those channels: the BatchNorm after a Conv2d loses the same entries, the next
 * Conv2d the same input channels, the Linear after a Flatten the H*W block of input features each
 * removed channel fed (H*W from `inputShape`). A depthwise Conv2d prunes with its input's group.
 * Channels nothing can follow keep all their channels and the report says why (the model's
 * output, a LayerNorm over them); a layer the tracer does not know is refused by name.
 *
 * Importance is the L1 (or L2) norm of each channel's weights in the layers that produce it,
 * summed over its group; each group keeps round((1 - sparsity) * channels) channels, at least one,
 * ties to the lower index. The model is not changed; the result shares no tensor with it.
 *
 * ```ts
 * const { module, layers, params } = await pruneChannels(cnn, { sparsity: 0.5, inputShape: [1, 1, 28, 28] });
 * ```
 */
export async function pruneChannels(model: AnyModule, options: ModuleChannelPruneOptions): Promise<ModuleChannelPruneResult> {
  if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', `${OP}: model must be a Module`);
  const norm = checkChannelOptions(OP, options?.sparsity, options?.norm);
  const shape = options.inputShape;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new MinnowError('INVALID_ARGUMENT', `${OP}: inputShape must list the model input's dims, batch included (e.g. [1, 3, 32, 32]), got ${JSON.stringify(shape)}`);
  }
  const groups = new ChannelGroups();
  const reader = new TensorReader();
  const plans = await traceModule(OP, model, shape, norm, groups, reader);
  if (!plans.some((p) => p.module instanceof Linear || p.module instanceof Conv2d)) {
    throw new MinnowError('INVALID_ARGUMENT', `${OP}: the model has no Linear or Conv2d layer whose channels could be pruned`);
  }
  const classOf = new Map(plans.map((p) => [p.path, p.module.constructor.name]));
  groups.decide(options.sparsity, (layer) => (
    selects(layer, classOf.get(layer) ?? '', options.include, options.exclude) ? undefined : `"${layer}" is not selected (include/exclude)`
  ));
  const made = new Map<AnyModule, WeightedLayer>();
  try {
    for (const plan of plans) made.set(plan.module, await rebuildLayer(plan, (g) => groups.keptOf(g), reader));
    const module = rebuildTree(model, made);
    // Same tree, same paths: each module takes its source's mode (parents first, so children keep their own).
    const modes = new Map(model.namedModules().map(([path, m]) => [path, m.training]));
    for (const [path, m] of module.namedModules()) m.train(modes.get(path) ?? model.training);
    const layers = plans.map((p): StructuredLayerReport => {
      const after = made.get(p.module)!;
      const [a, b] = [layerChannels(p.module), layerChannels(after)];
      return {
        layer: p.path,
        op: p.module.constructor.name,
        inChannels: { before: a.inputs, after: b.inputs },
        outChannels: { before: a.outputs, after: b.outputs },
        params: { before: p.module.parameterCount(), after: after.parameterCount() },
      };
    });
    return { module, layers, groups: groups.report(), params: { before: model.parameterCount(), after: module.parameterCount() } };
  } catch (error) {
    for (const m of made.values()) m.dispose();
    throw error;
  }
}
