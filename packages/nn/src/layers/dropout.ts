import { MinnowError, reshape, type Random, type Tensor } from '@minnow/core';
import { dropout } from '../functional.js';
import { toRandom, type Seed } from '../init.js';
import { Module } from '../module.js';

/**
 * Inverted dropout: in training mode zeroes each element with probability p and scales the rest by
 * 1 / (1 - p); in eval mode the identity (a view of the input). Masks come from one seeded stream
 * that every training-mode forward continues, so a run replays exactly from the same seed.
 */
export class Dropout extends Module<[Tensor], Tensor> {
  private readonly random: Random;

  constructor(readonly p: number, options: { seed: Seed }) {
    super();
    if (!(p >= 0 && p <= 1)) throw new MinnowError('INVALID_ARGUMENT', `Dropout: probability must be in [0, 1], got ${p}`);
    this.random = toRandom('Dropout', options?.seed);
  }

  override forward(x: Tensor): Tensor {
    if (!this.training) return reshape(x, x.shape);
    return dropout(x, this.p, { seed: this.random, training: true });
  }
}
