import { MinnowError, add, div, maximum, mul, sqrt, sub, zeros, type Tensor } from '@minnow/core';
import { Optimizer, checkNonNegative, type BaseHyperparameters, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.js';

export interface AdamOptions extends BaseHyperparameters {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates (β1, β2) of the first and second moment estimates (default [0.9, 0.999]). */
  betas: readonly [number, number];
  /** Added to the denominator, outside the square root, as PyTorch (default 1e-8). */
  eps: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay rate (default 1e-2). */
  weightDecay: number;
  /** Use the running maximum of the second moment (AMSGrad; default false). */
  amsgrad: boolean;
}

export const ADAM_DEFAULTS: Readonly<AdamOptions> = Object.freeze({ lr: 1e-3, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0, amsgrad: false });
export const ADAMW_DEFAULTS: Readonly<AdamOptions> = Object.freeze({ ...ADAM_DEFAULTS, weightDecay: 1e-2 });

/**
 * Adam and AdamW with the semantics of torch.optim.Adam and torch.optim.AdamW (maximize=False). For each parameter p with
 * gradient g, at step t (counted per parameter from 1):
 *
 *   g ← g + λ·p                                   (Adam, weightDecay λ ≠ 0: L2 in the gradient)
 *   p ← p·(1 − lr·λ)                              (AdamW instead: decay decoupled from the gradient)
 *   m ← β1·m + (1 − β1)·g                         (computed as m + (1 − β1)·(g − m), torch's lerp)
 *   v ← β2·v + (1 − β2)·g²
 *   v̂ ← max(v̂, v)                                 (amsgrad; v̂ starts at 0)
 *   denom ← √(v or v̂) / √(1 − β2^t) + ε           (ε outside the square root)
 *   p ← p − (lr / (1 − β1^t)) · m / denom
 *
 * State per parameter: `expAvg` (m), `expAvgSq` (v), and `maxExpAvgSq` (v̂) with amsgrad; all start at zero.
 */
export abstract class AdamBase extends Optimizer<AdamOptions> {
  protected constructor(
    name: string,
    params: ParamsInput<AdamOptions>,
    defaults: AdamOptions,
    /** Whether weight decay is decoupled (AdamW) rather than added to the gradient (Adam). */
    readonly decoupledWeightDecay: boolean,
  ) {
    super(name, params, defaults);
  }

  protected update(p: Tensor, grad: Tensor, group: ParamGroup<AdamOptions>, state: ParamState): void {
    const { lr, betas: [beta1, beta2], eps, weightDecay, amsgrad } = group;
    const t = state.step;
    let g = grad;
    let param = p as Tensor;
    if (weightDecay !== 0) {
      if (this.decoupledWeightDecay) param = mul(p, 1 - lr * weightDecay);
      else g = add(grad, mul(p, weightDecay));
    }
    const like = { dtype: p.dtype, backend: p.backend.name };
    const buffers = state.buffers;
    buffers.expAvg ??= this.newBuffer(zeros(p.shape, like));
    buffers.expAvgSq ??= this.newBuffer(zeros(p.shape, like));
    if (amsgrad) buffers.maxExpAvgSq ??= this.newBuffer(zeros(p.shape, like));
    const { expAvg, expAvgSq } = buffers;
    expAvg.assign(add(expAvg, mul(sub(g, expAvg), 1 - beta1)));
    expAvgSq.assign(add(mul(expAvgSq, beta2), mul(mul(g, g), 1 - beta2)));
    let second = expAvgSq;
    if (amsgrad) {
      buffers.maxExpAvgSq.assign(maximum(buffers.maxExpAvgSq, expAvgSq));
      second = buffers.maxExpAvgSq;
    }
    const biasCorrection1 = 1 - beta1 ** t;
    const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** t);
    const stepSize = lr / biasCorrection1;
    const denom = add(div(sqrt(second), biasCorrection2Sqrt), eps);
    p.assign(sub(param, mul(div(expAvg, denom), stepSize)));
  }

  protected validate(h: AdamOptions, where: string): void {
    const name = this.name;
    checkNonNegative(name, 'lr', h.lr, where);
    checkNonNegative(name, 'eps', h.eps, where);
    checkNonNegative(name, 'weightDecay', h.weightDecay, where);
    const betas: unknown = h.betas;
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
      throw new MinnowError('INVALID_ARGUMENT', `${name} (${where}): betas must be two numbers in [0, 1), got ${JSON.stringify(betas)}`);
    }
    if (typeof h.amsgrad !== 'boolean') throw new MinnowError('INVALID_ARGUMENT', `${name} (${where}): amsgrad must be a boolean, got ${String(h.amsgrad)}`);
  }
}

/** Adam (torch.optim.Adam): weight decay, if any, is an L2 term added to the gradient. */
export class Adam extends AdamBase {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, { ...ADAM_DEFAULTS, ...options }, false);
  }
}

/** AdamW (torch.optim.AdamW): decoupled weight decay p ← p·(1 − lr·λ), λ = 1e-2 by default. */
export class AdamW extends AdamBase {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('AdamW', params, { ...ADAMW_DEFAULTS, ...options }, true);
  }
}
