import {
  MinnowError, add, formatShape, layerNorm, mean, mul, noGrad, reciprocal, reshape, scope, sqrt, square, sub, zeros, type Tensor,
} from '@minnow/core';
import { onesInit, zerosInit } from '../init.js';
import { Module } from '../module.js';
import { checkSize, type ParameterOptions } from './linear.js';

export interface BatchNormOptions extends ParameterOptions {
  /** Added to the variance before the square root (default 1e-5). */
  readonly eps?: number;
  /** Weight of the newest batch in the running statistics (default 0.1, as PyTorch). */
  readonly momentum?: number;
  /** Learn a per-channel scale ('weight', ones) and shift ('bias', zeros). Default true. */
  readonly affine?: boolean;
  /** Keep running statistics for eval mode (default true); without them eval uses batch statistics too. */
  readonly trackRunningStats?: boolean;
}

/**
 * Batch normalisation over the channel axis (1): in training mode each channel is normalised by
 * its batch mean and biased variance, and the running estimates are updated as PyTorch does:
 * running = (1 - momentum) running + momentum batch, with the unbiased variance (n / (n - 1)). In
 * eval mode the running estimates are used. State dict names are PyTorch's: weight, bias,
 * running_mean, running_var, num_batches_tracked (int32 here, int64 there).
 */
abstract class BatchNorm extends Module<[Tensor], Tensor> {
  readonly eps: number;
  readonly momentum: number;
  readonly trackRunningStats: boolean;

  protected constructor(
    private readonly layerName: string,
    readonly numFeatures: number,
    private readonly ranks: readonly number[],
    options: BatchNormOptions,
  ) {
    super();
    checkSize(layerName, 'numFeatures', numFeatures);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (!(this.eps >= 0) || !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new MinnowError('INVALID_ARGUMENT', `${layerName}: eps must be >= 0 and momentum in [0, 1], got ${this.eps} and ${this.momentum}`);
    }
    this.trackRunningStats = options.trackRunningStats ?? true;
    const where = { dtype: options.dtype, backend: options.backend };
    if (options.affine ?? true) {
      this.registerParameter('weight', onesInit([numFeatures], where));
      this.registerParameter('bias', zerosInit([numFeatures], where));
    }
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zerosInit([numFeatures], where));
      this.registerBuffer('running_var', onesInit([numFeatures], where));
      this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32', backend: options.backend }));
    }
  }

  get weight(): Tensor | null {
    return this.optionalParameter('weight');
  }

  get bias(): Tensor | null {
    return this.optionalParameter('bias');
  }

  get runningMean(): Tensor | null {
    return this.trackRunningStats ? this.ownBuffer('running_mean') : null;
  }

  get runningVar(): Tensor | null {
    return this.trackRunningStats ? this.ownBuffer('running_var') : null;
  }

  override forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.rank) || x.shape[1] !== this.numFeatures) {
      const trailing: Record<number, string> = { 2: '', 3: ', L', 4: ', H, W' };
      const expected = this.ranks.map((r) => `[N, ${this.numFeatures}${trailing[r]}]`).join(' or ');
      throw new MinnowError('SHAPE_MISMATCH', `${this.layerName}: expected input ${expected}, got ${formatShape(x.shape)}`);
    }
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const perChannel = x.shape.map((d, i) => (i === 1 ? d : 1));
    const count = axes.reduce((n, a) => n * x.shape[a], 1);
    const useBatch = this.training || !this.trackRunningStats;
    if (this.training && count <= 1) {
      throw new MinnowError('INVALID_SHAPE', `${this.layerName}: training needs more than one value per channel, got input ${formatShape(x.shape)}`);
    }
    return scope(() => {
      let normalized: Tensor;
      if (useBatch) {
        const batchMean = mean(x, { axes, keepDims: true });
        const centered = sub(x, batchMean);
        const batchVar = mean(square(centered), { axes, keepDims: true });
        if (this.training && this.trackRunningStats) this.updateRunningStats(batchMean, batchVar, count);
        normalized = mul(centered, reciprocal(sqrt(add(batchVar, this.eps))));
      } else {
        const runningMean = reshape(this.ownBuffer('running_mean'), perChannel);
        const runningVar = reshape(this.ownBuffer('running_var'), perChannel);
        normalized = mul(sub(x, runningMean), reciprocal(sqrt(add(runningVar, this.eps))));
      }
      const weight = this.weight;
      const bias = this.bias;
      if (weight) normalized = mul(normalized, reshape(weight, perChannel));
      if (bias) normalized = add(normalized, reshape(bias, perChannel));
      return normalized;
    });
  }

  /** In place (assign, under noGrad): the statistics are state, not part of the graph. */
  private updateRunningStats(batchMean: Tensor, batchVar: Tensor, count: number): void {
    noGrad(() =>
      scope(() => {
        const m = this.momentum;
        const runningMean = this.ownBuffer('running_mean');
        const runningVar = this.ownBuffer('running_var');
        const unbiased = mul(reshape(batchVar, [this.numFeatures]), count / (count - 1));
        runningMean.assign(add(mul(runningMean, 1 - m), mul(reshape(batchMean, [this.numFeatures]), m)));
        runningVar.assign(add(mul(runningVar, 1 - m), mul(unbiased, m)));
        const tracked = this.ownBuffer('num_batches_tracked');
        tracked.assign(add(tracked, 1));
      }),
    );
  }
}

/** BatchNorm over [N, C] or [N, C, L] input. */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm1d', numFeatures, [2, 3], options);
  }
}

/** BatchNorm over [N, C, H, W] input. */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm2d', numFeatures, [4], options);
  }
}

export interface LayerNormOptions extends ParameterOptions {
  /** Default 1e-5. */
  readonly eps?: number;
  /** Learn an elementwise scale ('weight', ones) and shift ('bias', zeros) of normalizedShape. Default true. */
  readonly elementwiseAffine?: boolean;
}

/** Layer normalisation over the trailing dims `normalizedShape`, through core's layerNorm (biased variance). */
export class LayerNorm extends Module<[Tensor], Tensor> {
  readonly normalizedShape: readonly number[];
  readonly eps: number;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0) throw new MinnowError('INVALID_ARGUMENT', 'LayerNorm: normalizedShape must name at least one dim');
    this.normalizedShape.forEach((d) => checkSize('LayerNorm', 'normalizedShape', d));
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw new MinnowError('INVALID_ARGUMENT', `LayerNorm: eps must be >= 0, got ${this.eps}`);
    if (options.elementwiseAffine ?? true) {
      const where = { dtype: options.dtype, backend: options.backend };
      this.registerParameter('weight', onesInit(this.normalizedShape, where));
      this.registerParameter('bias', zerosInit(this.normalizedShape, where));
    }
  }

  get weight(): Tensor | null {
    return this.optionalParameter('weight');
  }

  get bias(): Tensor | null {
    return this.optionalParameter('bias');
  }

  override forward(x: Tensor): Tensor {
    const dims = this.normalizedShape.length;
    const trailing = x.shape.slice(x.rank - dims);
    if (x.rank < dims || trailing.some((d, i) => d !== this.normalizedShape[i])) {
      throw new MinnowError('SHAPE_MISMATCH', `LayerNorm: input ${formatShape(x.shape)} does not end in normalizedShape ${formatShape(this.normalizedShape)}`);
    }
    return layerNorm(x, { normalizedDims: dims, weight: this.weight ?? undefined, bias: this.bias ?? undefined, eps: this.eps });
  }
}
