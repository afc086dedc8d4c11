// Activations, named in a layer's `activation` config or as layers of their own (Activation, ReLU,
// LeakyReLU, ELU, Softmax). Each maps to the ONNX op with TF.js's constants.
import { attr, type AttributeProto } from '@minnow/onnx';
import { singleInput, unsupported, type ConversionContext, type LayerCall, type LayerConverter, type Value } from '../context.js';
import type { KerasLayer } from '../model-json.js';

// tf.selu's constants (the float32 roundings of the SELU paper's values).
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

function unary(ctx: ConversionContext, v: Value, op: string, hint: string, attributes: AttributeProto[] = []): Value {
  return { ...v, name: ctx.builder.node(op, [v.name], hint, attributes) };
}

function clip(ctx: ConversionContext, v: Value, min: number, max: number, hint: string): Value {
  const b = ctx.builder;
  return { ...v, name: b.node('Clip', [v.name, b.floatScalar(min), b.floatScalar(max)], hint) };
}

/** Softmax over the Keras axis, whichever layout the value is in. */
function softmax(ctx: ConversionContext, v: Value, axis: number, hint: string): Value {
  return unary(ctx, v, 'Softmax', hint, [attr.int('axis', ctx.onnxAxis(v, axis))]);
}

export const ACTIVATIONS = [
  'linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'log_softmax', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'silu',
  'hard_sigmoid', 'exponential', 'mish', 'gelu', 'gelu_new',
];

/** x * f(x), for the gated activations (swish, mish, gelu). */
function gated(ctx: ConversionContext, v: Value, gate: string, hint: string): Value {
  return { ...v, name: ctx.builder.node('Mul', [v.name, gate], hint) };
}

/** GELU as TF.js computes it, with erf: 0.5 x (1 + erf(x / sqrt 2)). */
function gelu(ctx: ConversionContext, v: Value, hint: string): Value {
  const b = ctx.builder;
  const erf = b.node('Erf', [b.node('Div', [v.name, b.floatScalar(Math.SQRT2)], `${hint}_scaled`)], `${hint}_erf`);
  const half = b.node('Mul', [b.node('Add', [erf, b.floatScalar(1)], `${hint}_plus1`), b.floatScalar(0.5)], `${hint}_cdf`);
  return gated(ctx, v, half, hint);
}

/** TF.js's gelu_new, the tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
function geluTanh(ctx: ConversionContext, v: Value, hint: string): Value {
  const b = ctx.builder;
  const cube = b.node('Mul', [b.node('Mul', [v.name, v.name], `${hint}_sq`), v.name], `${hint}_cube`);
  const inner = b.node('Add', [v.name, b.node('Mul', [cube, b.floatScalar(0.044715)], `${hint}_cube_scaled`)], `${hint}_inner`);
  const tanh = b.node('Tanh', [b.node('Mul', [inner, b.floatScalar(Math.sqrt(2 / Math.PI))], `${hint}_arg`)], `${hint}_tanh`);
  const half = b.node('Mul', [b.node('Add', [tanh, b.floatScalar(1)], `${hint}_plus1`), b.floatScalar(0.5)], `${hint}_cdf`);
  return gated(ctx, v, half, hint);
}

/** Applies a Keras activation by name (`linear`, or none, is the identity). */
export function applyActivation(ctx: ConversionContext, v: Value, activation: string, layer: KerasLayer): Value {
  const hint = `${layer.name}_${activation}`;
  switch (activation) {
    case 'linear': return v;
    case 'relu': return unary(ctx, v, 'Relu', hint);
    case 'relu6': return clip(ctx, v, 0, 6, hint);
    case 'sigmoid': return unary(ctx, v, 'Sigmoid', hint);
    case 'tanh': return unary(ctx, v, 'Tanh', hint);
    case 'softmax': return softmax(ctx, v, -1, hint);
    case 'log_softmax':
    case 'logSoftmax': return unary(ctx, v, 'LogSoftmax', hint, [attr.int('axis', ctx.onnxAxis(v, -1))]);
    case 'elu': return unary(ctx, v, 'Elu', hint, [attr.float('alpha', 1)]);
    case 'selu': return unary(ctx, v, 'Selu', hint, [attr.float('alpha', SELU_ALPHA), attr.float('gamma', SELU_SCALE)]);
    case 'softplus': return unary(ctx, v, 'Softplus', hint);
    case 'softsign': return unary(ctx, v, 'Softsign', hint);
    case 'exponential': return unary(ctx, v, 'Exp', hint);
    // TF.js's hard sigmoid is Keras 2's: clip(0.2 x + 0.5, 0, 1), ONNX's defaults.
    case 'hardSigmoid':
    case 'hard_sigmoid': return unary(ctx, v, 'HardSigmoid', hint, [attr.float('alpha', 0.2), attr.float('beta', 0.5)]);
    case 'swish':
    case 'silu': return gated(ctx, v, ctx.builder.node('Sigmoid', [v.name], `${hint}_gate`), hint);
    case 'mish': {
      const softplus = ctx.builder.node('Softplus', [v.name], `${hint}_softplus`);
      return gated(ctx, v, ctx.builder.node('Tanh', [softplus], `${hint}_gate`), hint);
    }
    case 'gelu': return gelu(ctx, v, hint);
    case 'gelu_new': return geluTanh(ctx, v, hint);
    default:
      throw unsupported(layer, `activation '${activation}' is not supported (supported: ${ACTIVATIONS.join(', ')})`);
  }
}

/** The `activation` a layer's config names (a string, or Keras 3's serialised form of a built-in one). */
export function activationOf(call: LayerCall): string {
  const value = call.layer.config.activation;
  if (value === undefined || value === null) return 'linear';
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    const name = v.config ?? v.class_name;
    if (typeof name === 'string') return name;
  }
  throw unsupported(call.layer, `activation ${JSON.stringify(value)} is not a named activation`);
}

const activationLayer: LayerConverter = (call) => applyActivation(call.ctx, singleInput(call), activationOf(call), call.layer);

/** ReLU(max_value, negative_slope, threshold); TF.js writes only max_value. */
const reluLayer: LayerConverter = (call) => {
  const v = singleInput(call);
  const { config, ctx, layer } = call;
  const maxValue = config.number('max_value', Infinity);
  if (config.number('negative_slope', 0) !== 0 || config.number('threshold', 0) !== 0) {
    throw unsupported(layer, 'ReLU with negative_slope or threshold is not supported (max_value is)');
  }
  if (maxValue === Infinity) return unary(ctx, v, 'Relu', layer.name);
  return clip(ctx, v, 0, maxValue, layer.name);
};

/** LeakyReLU: Keras 2 and TF.js call the slope alpha, Keras 3 negative_slope; both default to 0.3. */
const leakyReluLayer: LayerConverter = (call) => {
  const slope = call.config.number('negative_slope', call.config.number('alpha', 0.3));
  return unary(call.ctx, singleInput(call), 'LeakyRelu', call.layer.name, [attr.float('alpha', slope)]);
};

const eluLayer: LayerConverter = (call) =>
  unary(call.ctx, singleInput(call), 'Elu', call.layer.name, [attr.float('alpha', call.config.number('alpha', 1))]);

const softmaxLayer: LayerConverter = (call) => softmax(call.ctx, singleInput(call), call.config.axis('axis', -1), call.layer.name);

export const ACTIVATION_LAYERS: Record<string, LayerConverter> = {
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyReluLayer,
  ELU: eluLayer,
  Softmax: softmaxLayer,
};
