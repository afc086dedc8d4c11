import { MinnowError, Random, linear, type Tensor } from '@minnow/core';
import { kaimingUniform, toRandom, uniformInit, type Seed } from '../init.js';
import { Module } from '../module.js';

/** Where a layer's parameters are created. */
export interface ParameterOptions {
  /** float32 (default) or float64. */
  readonly dtype?: 'float32' | 'float64';
  /** A backend name; defaults to the default backend. */
  readonly backend?: string;
}

export interface LinearOptions extends ParameterOptions {
  /**
   * Seeds the default initialisation (required: randomness in minnow is replayable). Pass one
   * Random to several layers so they draw different values from one stream.
   */
  readonly seed: Seed;
  /** Learn an additive bias (default true). */
  readonly bias?: boolean;
}

/**
 * y = x W^T + b over the last axis: x [..., inFeatures] -> [..., outFeatures]; weight
 * [outFeatures, inFeatures], bias [outFeatures].
 *
 * Initialised as PyTorch's nn.Linear: weight kaiming-uniform with a = sqrt(5), which is
 * U(-1/sqrt(in), 1/sqrt(in)), then bias U(-1/sqrt(in), 1/sqrt(in)), both drawn (weight first)
 * from the stream `seed` names.
 */
export class Linear extends Module<[Tensor], Tensor> {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions) {
    super();
    checkSize('Linear', 'inFeatures', inFeatures);
    checkSize('Linear', 'outFeatures', outFeatures);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const rng = toRandom('Linear', options?.seed);
    const shape = [outFeatures, inFeatures];
    this.registerParameter('weight', kaimingUniform(shape, { seed: rng, a: Math.sqrt(5), dtype: options.dtype, backend: options.backend }));
    if (options.bias ?? true) this.registerParameter('bias', defaultBias(outFeatures, inFeatures, rng, options));
  }

  get weight(): Tensor {
    return this.ownParameter('weight');
  }

  get bias(): Tensor | null {
    return this.optionalParameter('bias');
  }

  override forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias ?? undefined);
  }
}

/** PyTorch's default bias: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function defaultBias(size: number, fanIn: number, rng: Random, options: ParameterOptions): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return uniformInit([size], -bound, bound, { seed: rng, dtype: options.dtype, backend: options.backend });
}

/** Throws INVALID_ARGUMENT unless `value` is a positive integer. */
export function checkSize(op: string, what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: ${what} must be a positive integer, got ${value}`);
}
