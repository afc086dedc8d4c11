// Conv2D, DepthwiseConv2D and SeparableConv2D as ONNX Conv over NCHW, kernels moved from Keras's
// [kh, kw, in, out] to ONNX's [out, in, kh, kw].
import { attr } from '@minnow/onnx';
import { singleInput, unsupported, type LayerCall, type LayerConverter, type Value } from '../context.js';
import { activationOf, applyActivation } from './activations.js';
import { readPadding, windowAttributes, windowOutput, type Window } from './window.js';

/** [kh, kw, in, out] (Keras, row-major) to [out, in, kh, kw] (ONNX). */
function hwioToOihw(kernel: Float32Array, kh: number, kw: number, inputs: number, outputs: number): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < inputs; i++) {
        const from = ((y * kw + x) * inputs + i) * outputs;
        for (let o = 0; o < outputs; o++) out[((o * inputs + i) * kh + y) * kw + x] = kernel[from + o];
      }
    }
  }
  return out;
}

function readWindow(call: LayerCall): Window {
  const { config } = call;
  config.channelsLastOnly();
  const window: Window = {
    kernel: config.pair('kernel_size'),
    strides: config.pair('strides', [1, 1]),
    dilations: config.pair('dilation_rate', [1, 1]),
    padding: readPadding(call),
  };
  return window;
}

/** The input's channel count, which sizes the kernel, so it must be known. */
function channelsOf(call: LayerCall, x: Value): number {
  const channels = x.shape[3];
  if (channels === null) throw unsupported(call.layer, 'input channels unknown (None); the kernel cannot be laid out');
  return channels;
}

interface ConvOp {
  readonly weightName: string;
  readonly bias?: string;
  readonly window: Window;
  readonly group: number;
  readonly outChannels: number;
  readonly hint: string;
}

/** One ONNX Conv on the channels-first form of `x`. */
function conv(call: LayerCall, x: Value, op: ConvOp): Value {
  const { builder } = call.ctx;
  const input = call.ctx.channelsFirst(x);
  const [height, width] = windowOutput(op.window, x.shape[1], x.shape[2]);
  const inputs = [input.name, op.weightName, ...(op.bias ? [op.bias] : [])];
  const attributes = [...windowAttributes(op.window, x.shape[1], x.shape[2]), attr.ints('dilations', op.window.dilations), attr.int('group', op.group)];
  const name = builder.node('Conv', inputs, op.hint, attributes);
  return { name, shape: [x.shape[0], height, width, op.outChannels], channelsFirst: true };
}

function biasOf(call: LayerCall, size: number): string | undefined {
  if (!call.config.boolean('use_bias', true)) return undefined;
  const bias = call.ctx.weight(call.layer, 'bias', [size]);
  return call.ctx.builder.floats(bias.name, bias.values, [size]);
}

const conv2d: LayerConverter = (call) => {
  const x = singleInput(call, [4]);
  const { ctx, layer, config } = call;
  const window = readWindow(call);
  const filters = config.count('filters');
  const groups = config.count('groups', 1);
  const channels = channelsOf(call, x);
  if (channels % groups !== 0) throw unsupported(layer, `${channels} input channels do not split into ${groups} groups`);
  const [kh, kw] = window.kernel;
  const kernel = ctx.weight(layer, 'kernel', [kh, kw, channels / groups, filters]);
  const weightName = ctx.builder.floats(kernel.name, hwioToOihw(kernel.values, kh, kw, channels / groups, filters), [filters, channels / groups, kh, kw]);
  const y = conv(call, x, { weightName, bias: biasOf(call, filters), window, group: groups, outChannels: filters, hint: layer.name });
  return applyActivation(ctx, y, activationOf(call), layer);
};

/**
 * A depthwise kernel [kh, kw, C, M] as the weight of an ONNX Conv with group C: output channel
 * c * M + m reads input channel c, the order TensorFlow's depthwise convolution writes.
 */
function depthwise(call: LayerCall, x: Value, window: Window, bias: boolean, hint: string): Value {
  const { ctx, layer, config } = call;
  const channels = channelsOf(call, x);
  const [kh, kw] = window.kernel;
  // TF.js leaves depth_multiplier out of SeparableConv2D's config, so the kernel's shape says it.
  const kernel = ctx.weight(layer, 'depthwise_kernel', [kh, kw, channels, layer.config.depth_multiplier == null ? null : config.count('depth_multiplier')]);
  const multiplier = kernel.shape[3];
  const out = channels * multiplier;
  // [kh, kw, C, M] read as [kh, kw, 1, C * M] is already in output-channel order.
  const weightName = ctx.builder.floats(kernel.name, hwioToOihw(kernel.values, kh, kw, 1, out), [out, 1, kh, kw]);
  return conv(call, x, { weightName, bias: bias ? biasOf(call, out) : undefined, window, group: channels, outChannels: out, hint });
}

const depthwiseConv2d: LayerConverter = (call) => {
  const x = singleInput(call, [4]);
  const y = depthwise(call, x, readWindow(call), true, call.layer.name);
  return applyActivation(call.ctx, y, activationOf(call), call.layer);
};

/** A depthwise convolution (no bias) and then a 1x1 pointwise one with the layer's bias. */
const separableConv2d: LayerConverter = (call) => {
  const x = singleInput(call, [4]);
  const { ctx, layer, config } = call;
  const window = readWindow(call);
  const mid = depthwise(call, x, window, false, `${layer.name}_depthwise`);
  const filters = config.count('filters');
  const inner = mid.shape[3] as number;
  const pointwise = ctx.weight(layer, 'pointwise_kernel', [1, 1, inner, filters]);
  const weightName = ctx.builder.floats(pointwise.name, hwioToOihw(pointwise.values, 1, 1, inner, filters), [filters, inner, 1, 1]);
  const unit: Window = { kernel: [1, 1], strides: [1, 1], dilations: [1, 1], padding: 'valid' };
  const y = conv(call, mid, { weightName, bias: biasOf(call, filters), window: unit, group: 1, outChannels: filters, hint: layer.name });
  return applyActivation(ctx, y, activationOf(call), layer);
};

export const CONV_LAYERS: Record<string, LayerConverter> = {
  Conv2D: conv2d,
  Convolution2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  SeparableConvolution2D: separableConv2d,
};
