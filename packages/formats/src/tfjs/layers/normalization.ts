// BatchNormalization at inference: the moving statistics, gamma and beta, epsilon from the config.
import { attr } from '@minnow/onnx';
import { singleInput, unsupported, type LayerConverter } from '../context.js';

/**
 * ONNX BatchNormalization normalises over axis 1, so a rank-4 channels-last input goes channels-first
 * and a rank-2 input is already right. Any other layout whose axis is the last one becomes the
 * folded form: x * (gamma / sqrt(var + eps)) + (beta - mean * gamma / sqrt(var + eps)).
 */
const batchNormalization: LayerConverter = (call) => {
  const { ctx, layer, config } = call;
  let x = singleInput(call);
  const rank = x.shape.length;
  const axis = config.axis('axis', -1);
  const keras = axis < 0 ? axis + rank : axis;
  if (keras !== rank - 1) throw unsupported(layer, `normalising axis ${axis} of a rank-${rank} input (the channels axis, last, is supported)`);
  const channels = x.shape[keras];
  if (channels === null) throw unsupported(layer, 'channel count unknown (None)');
  const epsilon = config.number('epsilon', 1e-3);
  const mean = ctx.weight(layer, 'moving_mean', [channels]).values;
  const variance = ctx.weight(layer, 'moving_variance', [channels]).values;
  const gamma = config.boolean('scale', true) ? ctx.weight(layer, 'gamma', [channels]).values : new Float32Array(channels).fill(1);
  const beta = config.boolean('center', true) ? ctx.weight(layer, 'beta', [channels]).values : new Float32Array(channels);
  const b = ctx.builder;
  if (rank === 4 || rank === 2) {
    if (rank === 4) x = ctx.channelsFirst(x);
    const inputs = [
      x.name,
      b.floats(`${layer.name}/gamma`, gamma, [channels]),
      b.floats(`${layer.name}/beta`, beta, [channels]),
      b.floats(`${layer.name}/moving_mean`, mean, [channels]),
      b.floats(`${layer.name}/moving_variance`, variance, [channels]),
    ];
    return { ...x, name: b.node('BatchNormalization', inputs, layer.name, [attr.float('epsilon', epsilon)]) };
  }
  x = ctx.channelsLast(x);
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = gamma[c] / Math.sqrt(variance[c] + epsilon);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  const scaled = b.node('Mul', [x.name, b.floats(`${layer.name}/scale`, scale, [channels])], `${layer.name}_scaled`);
  return { ...x, name: b.node('Add', [scaled, b.floats(`${layer.name}/shift`, shift, [channels])], layer.name) };
};

export const NORMALIZATION_LAYERS: Record<string, LayerConverter> = {
  BatchNormalization: batchNormalization,
};
