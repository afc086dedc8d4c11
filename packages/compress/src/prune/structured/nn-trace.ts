import { MinnowError, noGrad, scope, zeros, type Tensor } from '@minnow/core';
import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, LayerNorm, LeakyReLU, Linear, MaxPool2d, ReLU, Sequential, Sigmoid, Tanh,
  type AnyModule,
} from '@minnow/nn';
import { convGeometry } from '../../quantize/nn/fold-batchnorm.js';
import { RebuiltSequential } from '../../quantize/nn/rebuild.js';
import { axisGroups, axisLength, groupAxis, mergeAxis, type ChannelAxis, type FloatArray } from './channel-map.js';
import type { ChannelGroups } from './groups.js';
import { channelNorms } from './importance.js';
import type { ChannelNorm } from './types.js';

/**
 * Traces the channel groups of an nn model: a chain of layers (Sequentials, nested ones
 * flattened) run in order, with the shape of every layer's input learnt from one forward pass.
 * Each Linear and Conv2d starts a group of its output channels; the layers after it follow those
 * channels on their channel axis until a layer that consumes them (the next Linear or Conv2d, whose
 * input columns then go with them). What cannot follow them (a LayerNorm over the channels, the
 * model's output) blocks the group. A layer this tracer does not know is refused, by name.
 */

export type WeightedLayer = Linear | Conv2d | BatchNorm1d | BatchNorm2d | LayerNorm;

/** A layer with weights and the channel axes its tensors are cut along (undefined: not cut). */
export interface LayerPlan {
  readonly path: string;
  readonly module: WeightedLayer;
  /** Input channels (Linear and Conv2d weights' axis 1). */
  readonly input?: ChannelAxis;
  /** Output channels: axis 0 of every weight, bias and statistic (a depthwise Conv2d's are its input's). */
  readonly output?: ChannelAxis;
}

/** The channels flowing out of the last layer: which axis of the activation they are on, and how. */
interface Flow {
  readonly axis: number;
  readonly map: ChannelAxis;
}

interface ChainEntry {
  readonly path: string;
  readonly module: AnyModule;
}

type LayerClass = abstract new (...args: never[]) => AnyModule;

/** The layers the tracer follows channels through (exactly these classes: a subclass may do more in forward). */
const TRACED: readonly LayerClass[] = [
  Linear, Conv2d, BatchNorm1d, BatchNorm2d, LayerNorm, MaxPool2d, AvgPool2d, Flatten, ReLU, LeakyReLU, GELU, Sigmoid, Tanh, Dropout,
];

export const isPlainSequential = (m: AnyModule): m is Sequential => m.constructor === Sequential || m.constructor === RebuiltSequential;

/** The layers of `root` in the order they run; refuses any module it cannot see through. */
function flattenChain(op: string, root: AnyModule): ChainEntry[] {
  const out: ChainEntry[] = [];
  const seen = new Set<AnyModule>();
  const visit = (m: AnyModule, path: string): void => {
    if (isPlainSequential(m)) {
      for (const [name, child] of m.namedChildren()) visit(child, path ? `${path}.${name}` : name);
      return;
    }
    const where = path === '' ? 'the model' : `"${path}"`;
    if (!TRACED.includes(m.constructor as LayerClass)) {
      const known = ['Sequential', ...TRACED.map((c) => c.name)].join(', ');
      throw new MinnowError('UNSUPPORTED_OP', `${op}: cannot trace channels through ${where} (${m.constructor.name}): structured pruning follows chains of ${known}`);
    }
    if (m.parameters().length > 0 && seen.has(m)) throw new MinnowError('UNSUPPORTED_OP', `${op}: layer ${where} (${m.constructor.name}) appears twice in the model; shared weights cannot be pruned structurally`);
    seen.add(m);
    out.push({ path, module: m });
  };
  visit(root, '');
  return out;
}

/** The input shape of every layer and, last, the model's output shape, from one eval-mode forward on zeros. */
function layerShapes(op: string, root: AnyModule, chain: readonly ChainEntry[], inputShape: readonly number[]): number[][] {
  const first = root.parameters()[0];
  const modes = root.namedModules().map(([, m]) => [m, m.training] as const);
  root.eval();
  try {
    return noGrad(() => scope(() => {
      let h: Tensor = zeros(inputShape, { dtype: first?.dtype ?? 'float32', backend: first?.backend.name });
      const shapes = [[...h.shape]];
      for (const { module } of chain) {
        h = (module as unknown as { forward(x: Tensor): Tensor }).forward(h);
        shapes.push([...h.shape]);
      }
      return shapes;
    }));
  } catch (error) {
    if (error instanceof MinnowError) throw new MinnowError(error.code, `${op}: the model does not run on inputShape [${inputShape.join(',')}]: ${error.message}`);
    throw error;
  } finally {
    // Parents first: each train() call sets the subtree, its children then restore their own.
    for (const [m, training] of modes) m.train(training);
  }
}

/** Reads a tensor's values once (a layer's weight serves both the norms and the rebuild). */
export class TensorReader {
  private readonly cache = new Map<Tensor, Promise<ArrayLike<number>>>();

  read(t: Tensor): Promise<ArrayLike<number>> {
    let values = this.cache.get(t);
    if (!values) {
      values = t.data() as Promise<ArrayLike<number>>;
      this.cache.set(t, values);
    }
    return values;
  }

  async floats(t: Tensor): Promise<FloatArray> {
    return (await this.read(t)) as FloatArray;
  }
}

/**
 * Traces `root` for `inputShape`, creating and joining groups in `groups`; returns the plan of
 * every layer with weights, in model order.
 */
export async function traceModule(
  op: string, root: AnyModule, inputShape: readonly number[], norm: ChannelNorm, groups: ChannelGroups, reader: TensorReader,
): Promise<LayerPlan[]> {
  const chain = flattenChain(op, root);
  const shapes = layerShapes(op, root, chain, inputShape);
  const plans: LayerPlan[] = [];
  let flow: Flow | undefined;
  const block = (reason: string): void => {
    for (const g of axisGroups(flow!.map)) groups.block(g, reason);
    flow = undefined;
  };
  /** The flow as the input channels of a layer acting on `axis`; a flow on another axis is blocked. */
  const consume = (path: string, axis: number, what: string): ChannelAxis | undefined => {
    if (!flow) return undefined;
    if (flow.axis !== axis) {
      block(`${what} "${path}" acts on axis ${axis} of its input, the channels are on axis ${flow.axis}`);
      return undefined;
    }
    for (const g of axisGroups(flow.map)) groups.follow(g, path);
    return flow.map;
  };
  for (let i = 0; i < chain.length; i++) {
    const { path, module: m } = chain[i];
    const inShape = shapes[i];
    const outShape = shapes[i + 1];
    const rank = inShape.length;
    if (m instanceof Linear || (m instanceof Conv2d && convGeometry(m).groups === 1)) {
      const axis = m instanceof Linear ? rank - 1 : 1;
      const input = consume(path, axis, m.constructor.name);
      if (input && axisLength(input) !== inShape[axis]) throw new MinnowError('INTERNAL', `${op}: traced ${axisLength(input)} channels into "${path}", it takes ${inShape[axis]}`);
      const norms = channelNorms(await reader.floats(m.weight), m.weight.shape, 0, norm);
      const output = groupAxis(groups.create(path, norms), norms.length);
      plans.push({ path, module: m, input, output });
      flow = { axis: m instanceof Linear ? outShape.length - 1 : 1, map: output };
    } else if (m instanceof Conv2d) {
      const g = convGeometry(m).groups;
      const depthwise = g === m.inChannels && g === m.outChannels;
      if (flow && depthwise && flow.axis === 1 && flow.map.outer === 1 && flow.map.inner === 1) {
        // A depthwise filter reads and writes one channel: it joins its input's group as a producer.
        const norms = channelNorms(await reader.floats(m.weight), m.weight.shape, 0, norm);
        let offset = 0;
        for (const s of flow.map.segments) {
          if (s.group !== undefined) groups.addProducer(s.group, path, norms.slice(offset, offset + s.size));
          offset += s.size;
        }
        plans.push({ path, module: m, output: flow.map });
      } else {
        if (flow) block(`Conv2d "${path}" has groups ${g}${depthwise ? ' and its input channels are not traced one to one' : ', which ties channels in blocks'}`);
        plans.push({ path, module: m });
        flow = undefined;
      }
    } else if (m instanceof BatchNorm1d || m instanceof BatchNorm2d) {
      plans.push({ path, module: m, output: consume(path, 1, m.constructor.name) });
    } else if (m instanceof LayerNorm) {
      if (flow && flow.axis >= rank - m.normalizedShape.length) block(`LayerNorm "${path}" normalises over the channels`);
      plans.push({ path, module: m });
    } else if (m instanceof MaxPool2d || m instanceof AvgPool2d) {
      if (flow && flow.axis !== 1) block(`${m.constructor.name} "${path}" pools axes 2 and 3, the channels are on axis ${flow.axis}`);
    } else if (m instanceof Flatten) {
      if (flow) flow = flattened(flow, m, inShape);
    }
    // The rest (activations, Dropout) act on each element alone: the flow passes unchanged.
  }
  if (flow) block('its channels are the model\'s output');
  return plans;
}

/** The flow after Flatten: merged with its neighbours when inside the flattened dims, shifted when after them. */
function flattened(flow: Flow, layer: Flatten, shape: readonly number[]): Flow {
  const rank = Math.max(1, shape.length);
  const start = layer.startDim < 0 ? layer.startDim + rank : layer.startDim;
  const end = layer.endDim < 0 ? layer.endDim + rank : layer.endDim;
  if (flow.axis < start) return flow;
  if (flow.axis > end) return { axis: flow.axis - (end - start), map: flow.map };
  const product = (from: number, to: number): number => shape.slice(from, to).reduce((a, b) => a * b, 1);
  return { axis: start, map: mergeAxis(flow.map, product(start, flow.axis), product(flow.axis + 1, end + 1)) };
}
