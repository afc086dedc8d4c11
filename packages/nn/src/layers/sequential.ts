import { reshape, scope, type Tensor } from '@minnow/core';
import { Module } from '../module.js';

/** A chain of single-input modules, registered as children '0', '1', ... (so 'layers.0.weight' style names). */
export class Sequential extends Module<[Tensor], Tensor> {
  private readonly chain: Module<[Tensor], Tensor>[];

  constructor(...layers: Module<[Tensor], Tensor>[]) {
    super();
    this.chain = layers.map((layer, i) => this.registerModule(String(i), layer));
  }

  get length(): number {
    return this.chain.length;
  }

  /** The i-th layer (negative counts from the end). */
  at(i: number): Module<[Tensor], Tensor> | undefined {
    return this.chain.at(i);
  }

  get layers(): readonly Module<[Tensor], Tensor>[] {
    return this.chain;
  }

  /** Runs the layers in order; intermediate activations are freed (the tape keeps what backward needs). */
  override forward(x: Tensor): Tensor {
    // Empty: the identity, as a view the caller owns (like every other forward's result).
    if (this.chain.length === 0) return reshape(x, x.shape);
    return scope(() => this.chain.reduce((h, layer) => layer.forward(h), x));
  }
}
