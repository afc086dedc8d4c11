import { gelu, leakyRelu, relu, sigmoid, tanh, type Tensor } from '@minnow/core';
import { Module } from '../module.js';

/** Elementwise activations as modules, for Sequential; each is core's composed op. */

export class ReLU extends Module<[Tensor], Tensor> {
  override forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class LeakyReLU extends Module<[Tensor], Tensor> {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }

  override forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

/** GELU: exact (erf) by default, or the tanh approximation. */
export class GELU extends Module<[Tensor], Tensor> {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }

  override forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }
}

export class Sigmoid extends Module<[Tensor], Tensor> {
  override forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Module<[Tensor], Tensor> {
  override forward(x: Tensor): Tensor {
    return tanh(x);
  }
}
