import { MinnowError, add, conv2d, formatShape, reshape, scope, type Tensor } from '@minnow/core';
import { kaimingUniform, toRandom, type Seed } from '../init.js';
import { Module } from '../module.js';
import { checkSize, defaultBias, type ParameterOptions } from './linear.js';

export interface Conv2dLayerOptions extends ParameterOptions {
  /** Seeds the default initialisation (required); a shared Random gives layers different draws. */
  readonly seed: Seed;
  readonly stride?: number | readonly [number, number];
  /** Zero padding: one value, [vertical, horizontal], or [top, left, bottom, right]. Default 0. */
  readonly padding?: number | readonly [number, number] | readonly [number, number, number, number];
  readonly dilation?: number | readonly [number, number];
  readonly groups?: number;
  /** Learn a per-output-channel bias (default true). */
  readonly bias?: boolean;
}

/**
 * 2-D convolution over NCHW input through core's conv2d: weight [out, in/groups, kH, kW], bias
 * [out]. Initialised as PyTorch's nn.Conv2d: weight kaiming-uniform with a = sqrt(5), then bias
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)) with fanIn = in/groups * kH * kW, drawn from `seed`'s stream.
 */
export class Conv2d extends Module<[Tensor], Tensor> {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: readonly [number, number];
  private readonly convOptions: { stride?: Conv2dLayerOptions['stride']; padding?: Conv2dLayerOptions['padding']; dilation?: Conv2dLayerOptions['dilation']; groups: number };

  constructor(inChannels: number, outChannels: number, kernelSize: number | readonly [number, number], options: Conv2dLayerOptions) {
    super();
    checkSize('Conv2d', 'inChannels', inChannels);
    checkSize('Conv2d', 'outChannels', outChannels);
    const kernel: [number, number] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : [kernelSize[0], kernelSize[1]];
    kernel.forEach((k) => checkSize('Conv2d', 'kernelSize', k));
    const groups = options?.groups ?? 1;
    checkSize('Conv2d', 'groups', groups);
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new MinnowError('INVALID_ARGUMENT', `Conv2d: inChannels ${inChannels} and outChannels ${outChannels} must both be divisible by groups ${groups}`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernel;
    this.convOptions = { stride: options.stride, padding: options.padding, dilation: options.dilation, groups };
    const rng = toRandom('Conv2d', options.seed);
    const shape = [outChannels, inChannels / groups, kernel[0], kernel[1]];
    this.registerParameter('weight', kaimingUniform(shape, { seed: rng, a: Math.sqrt(5), dtype: options.dtype, backend: options.backend }));
    if (options.bias ?? true) this.registerParameter('bias', defaultBias(outChannels, shape[1] * kernel[0] * kernel[1], rng, options));
  }

  get weight(): Tensor {
    return this.ownParameter('weight');
  }

  get bias(): Tensor | null {
    return this.optionalParameter('bias');
  }

  override forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new MinnowError('SHAPE_MISMATCH', `Conv2d: expected input [N, ${this.inChannels}, H, W], got ${formatShape(x.shape)}`);
    }
    return scope(() => {
      const y = conv2d(x, this.weight, this.convOptions);
      const bias = this.bias;
      return bias ? add(y, reshape(bias, [this.outChannels, 1, 1])) : y;
    });
  }
}
