// Dense, Flatten, Reshape, and the layers that do nothing at inference (Dropout and its kind).
import { attr } from '@minnow/onnx';
import { singleInput, unsupported, type Dim, type LayerConverter } from '../context.js';
import { invalid } from '../model-json.js';
import { activationOf, applyActivation } from './activations.js';

function product(dims: readonly Dim[]): Dim {
  let n = 1;
  for (const d of dims) {
    if (d === null) return null;
    n *= d;
  }
  return n;
}

/** Dense over the last axis (Keras applies it to every position of a rank > 2 input): Gemm on rank 2, MatMul + Add above. */
const dense: LayerConverter = (call) => {
  const { ctx, layer, config } = call;
  const x = ctx.channelsLast(singleInput(call));
  if (x.shape.length < 2) throw unsupported(layer, 'input of rank 1');
  const units = config.count('units');
  const kernel = ctx.weight(layer, 'kernel', [x.shape[x.shape.length - 1], units]);
  const [inputs] = kernel.shape;
  const b = ctx.builder;
  const weight = b.floats(kernel.name, kernel.values, [inputs, units]);
  const bias = config.boolean('use_bias', true) ? ctx.weight(layer, 'bias', [units]) : undefined;
  const biasName = bias ? b.floats(bias.name, bias.values, [units]) : undefined;
  let name: string;
  if (x.shape.length === 2) {
    name = b.node('Gemm', [x.name, weight, ...(biasName ? [biasName] : [])], layer.name);
  } else {
    name = b.node('MatMul', [x.name, weight], biasName ? `${layer.name}_matmul` : layer.name);
    if (biasName) name = b.node('Add', [name, biasName], layer.name);
  }
  const y = { name, shape: [...x.shape.slice(0, -1), units], channelsFirst: false };
  return applyActivation(ctx, y, activationOf(call), layer);
};

/** Flatten in Keras's order: a channels-first value goes back to channels-last first, so features keep TF's order. */
const flatten: LayerConverter = (call) => {
  const { ctx, layer, config } = call;
  config.channelsLastOnly();
  const x = ctx.channelsLast(singleInput(call));
  if (x.shape.length < 2) throw unsupported(layer, 'input of rank 1');
  if (x.shape.length === 2) return x;
  const name = ctx.builder.node('Flatten', [x.name], layer.name, [attr.int('axis', 1)]);
  return { name, shape: [x.shape[0], product(x.shape.slice(1))], channelsFirst: false };
};

/** Reshape to [batch, ...target_shape] in Keras's (channels-last) element order. */
const reshape: LayerConverter = (call) => {
  const { ctx, layer, config } = call;
  const x = ctx.channelsLast(singleInput(call));
  const target = config.sizes('target_shape');
  if (target.includes(0) || target.filter((d) => d === -1).length > 1) throw invalid(`layer '${layer.name}' (Reshape): target_shape ${JSON.stringify(target)} has a 0 or more than one -1`);
  let shape: Dim[] = target;
  const known = product(x.shape.slice(1));
  if (target.includes(-1)) {
    const rest = target.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
    shape = target.map((d) => (d === -1 ? (known === null ? null : known / rest) : d));
  }
  if (known !== null && !target.includes(-1) && product(shape) !== known) {
    throw invalid(`layer '${layer.name}' (Reshape): ${known} elements per example do not fit target_shape ${JSON.stringify(target)}`);
  }
  // 0 in an ONNX shape copies the input's dim: the batch size, whatever it is at run time.
  const shapeName = ctx.builder.int64s(`${layer.name}_shape`, [0, ...target]);
  const name = ctx.builder.node('Reshape', [x.name, shapeName], layer.name);
  return { name, shape: [x.shape[0], ...shape], channelsFirst: false };
};

/** Layers that only act while training. */
const identity: LayerConverter = (call) => singleInput(call);

export const CORE_LAYERS: Record<string, LayerConverter> = {
  Dense: dense,
  Flatten: flatten,
  Reshape: reshape,
  Dropout: identity,
  SpatialDropout1D: identity,
  SpatialDropout2D: identity,
  SpatialDropout3D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};
