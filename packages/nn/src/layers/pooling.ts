import type { Tensor } from '@minnow/core';
import { avgPool2d, maxPool2d, type AvgPool2dOptions, type MaxPool2dOptions, type Pair } from '../functional.js';
import { Module } from '../module.js';

/** Max pooling over NCHW input; sizes, padding and tie gradients as `maxPool2d` documents. */
export class MaxPool2d extends Module<[Tensor], Tensor> {
  constructor(readonly kernelSize: Pair, readonly options: MaxPool2dOptions = {}) {
    super();
  }

  override forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options);
  }
}

/** Average pooling over NCHW input; sizes and divisors as `avgPool2d` documents. */
export class AvgPool2d extends Module<[Tensor], Tensor> {
  constructor(readonly kernelSize: Pair, readonly options: AvgPool2dOptions = {}) {
    super();
  }

  override forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options);
  }
}
