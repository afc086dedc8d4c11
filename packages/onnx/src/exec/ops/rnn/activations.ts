import {
  abs, add, clamp, div, exp, less, maximum, minimum, mul, sigmoid, softplus, sub, tanh, where, type Tensor,
} from '@minnow/core';
import type { OpContext } from '../../operator.js';

/** One activation of a recurrent op with its alpha and beta already resolved. */
export type Activation = (x: Tensor) => Tensor;

interface ActivationSpec {
  /** Alpha and beta defaults (undefined: the function takes no such parameter). */
  readonly alpha?: number;
  readonly beta?: number;
  make(alpha: number, beta: number): Activation;
}

/**
 * The activations the ONNX recurrent ops name, with the defaults of the ONNX operators of the same
 * name (ThresholdedRelu 1, LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1). Affine and ScaledTanh have
 * no operator any more; their defaults (1, 0) and (1, 1) make them the identity and plain tanh.
 */
const ACTIVATIONS: Readonly<Record<string, ActivationSpec>> = {
  relu: { make: () => (x) => maximum(x, 0) },
  tanh: { make: () => (x) => tanh(x) },
  sigmoid: { make: () => (x) => sigmoid(x) },
  affine: { alpha: 1, beta: 0, make: (alpha, beta) => (x) => add(mul(x, alpha), beta) },
  leakyrelu: { alpha: 0.01, make: (alpha) => (x) => where(less(x, 0), mul(x, alpha), x) },
  // The recurrent ops' spec: x if x >= alpha else 0.
  thresholdedrelu: { alpha: 1, make: (alpha) => (x) => where(less(x, alpha), 0, x) },
  scaledtanh: { alpha: 1, beta: 1, make: (alpha, beta) => (x) => mul(tanh(mul(x, beta)), alpha) },
  hardsigmoid: { alpha: 0.2, beta: 0.5, make: (alpha, beta) => (x) => minimum(maximum(add(mul(x, alpha), beta), 0), 1) },
  elu: { alpha: 1, make: (alpha) => (x) => where(less(x, 0), mul(sub(exp(x), 1), alpha), x) },
  softsign: { make: () => (x) => div(x, add(abs(x), 1)) },
  softplus: { make: () => (x) => softplus(x) },
};

/**
 * The node's activations, `perDirection` for each direction (the `activations` attribute, or
 * `defaults`). Alphas and betas are consumed in order by the functions that take them, as the spec
 * says and onnxruntime does; a function with none left takes its default. A bidirectional node that
 * lists only one direction's functions uses them for both.
 */
export function resolveActivations(ctx: OpContext, defaults: readonly string[], directions: number): Activation[][] {
  const perDirection = defaults.length;
  let names = ctx.attrs.strings('activations', []);
  if (names.length === 0) names = Array.from({ length: directions }, () => defaults).flat();
  else if (names.length === perDirection && directions === 2) names = [...names, ...names];
  if (names.length !== perDirection * directions) {
    throw ctx.error('INVALID_MODEL', `attribute 'activations' lists ${names.length} functions, ${perDirection * directions} expected (${perDirection} per direction)`);
  }
  const alphas = ctx.attrs.floats('activation_alpha', []);
  const betas = ctx.attrs.floats('activation_beta', []);
  let nextAlpha = 0;
  let nextBeta = 0;
  const resolved = names.map((name) => {
    const spec = ACTIVATIONS[name.toLowerCase()];
    if (spec === undefined) {
      throw ctx.error('UNSUPPORTED_OP', `activation '${name}' is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus`);
    }
    const alpha = spec.alpha === undefined ? 0 : nextAlpha < alphas.length ? alphas[nextAlpha++] : spec.alpha;
    const beta = spec.beta === undefined ? 0 : nextBeta < betas.length ? betas[nextBeta++] : spec.beta;
    return spec.make(alpha, beta);
  });
  return Array.from({ length: directions }, (_, d) => resolved.slice(d * perDirection, (d + 1) * perDirection));
}

/** Applies the cell clip (the `clip` attribute) to an activation's input, as the spec places it. */
export function withClip(activation: Activation, clip: number | undefined): Activation {
  if (clip === undefined) return activation;
  return (x) => activation(clamp(x, -clip, clip));
}
