import { MinnowError, add, clone, mul, sub, type Tensor } from '@minnow/core';
import { Optimizer, checkNonNegative, type BaseHyperparameters, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.js';

export interface SGDOptions extends BaseHyperparameters {
  /** Learning rate (default 1e-3, as PyTorch). */
  lr: number;
  /** Momentum factor μ (default 0: plain SGD). */
  momentum: number;
  /** Dampening τ applied to the gradient in the momentum buffer (default 0). */
  dampening: number;
  /** L2 penalty λ added to the gradient (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
}

export const SGD_DEFAULTS: Readonly<SGDOptions> = Object.freeze({ lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });

/**
 * Stochastic gradient descent with the semantics of torch.optim.SGD (maximize=False). For each
 * parameter p with gradient g, at step t:
 *
 *   g ← g + λ·p                                   (weightDecay λ ≠ 0)
 *   if μ ≠ 0:
 *     b ← g                        when t = 1      (the buffer starts as the gradient, undampened)
 *     b ← μ·b + (1 − τ)·g          when t > 1
 *     g ← g + μ·b                  if nesterov,  else g ← b
 *   p ← p − lr·g
 *
 * State per parameter: `momentumBuffer` (b), only when μ ≠ 0.
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super('SGD', params, { ...SGD_DEFAULTS, ...options });
  }

  protected update(p: Tensor, grad: Tensor, group: ParamGroup<SGDOptions>, state: ParamState): void {
    const { lr, momentum, dampening, weightDecay, nesterov } = group;
    let g = weightDecay !== 0 ? add(grad, mul(p, weightDecay)) : grad;
    if (momentum !== 0) {
      const buffer = state.buffers.momentumBuffer;
      if (!buffer) {
        state.buffers.momentumBuffer = this.newBuffer(clone(g));
        g = nesterov ? add(g, mul(state.buffers.momentumBuffer, momentum)) : state.buffers.momentumBuffer;
      } else {
        buffer.assign(add(mul(buffer, momentum), mul(g, 1 - dampening)));
        g = nesterov ? add(g, mul(buffer, momentum)) : buffer;
      }
    }
    p.assign(sub(p, mul(g, lr)));
  }

  protected validate(h: SGDOptions, where: string): void {
    checkNonNegative('SGD', 'lr', h.lr, where);
    checkNonNegative('SGD', 'momentum', h.momentum, where);
    checkNonNegative('SGD', 'weightDecay', h.weightDecay, where);
    if (typeof h.dampening !== 'number' || !Number.isFinite(h.dampening)) {
      throw new MinnowError('INVALID_ARGUMENT', `SGD (${where}): dampening must be a finite number, got ${String(h.dampening)}`);
    }
    if (typeof h.nesterov !== 'boolean') throw new MinnowError('INVALID_ARGUMENT', `SGD (${where}): nesterov must be a boolean, got ${String(h.nesterov)}`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new MinnowError('INVALID_ARGUMENT', `SGD (${where}): Nesterov momentum needs momentum > 0 and dampening 0, got momentum ${h.momentum} and dampening ${h.dampening}`);
    }
  }
}
