import {
  MinnowError, fakeQuantize, maximum, noGrad, scope, type Tensor,
} from '@minnow/core';
import { Module } from '@minnow/nn';
import type { QuantScheme } from '../types.js';
import { ACTIVATION_SCHEME, activationParams, activationTensors, batchRange, type ActivationParams } from './activation.js';
import type { ActivationMode } from './integer-path.js';
import { floatForward, type LayerSpec } from './layer-spec.js';
import { quantizationAxis, symmetricScale } from './weights.js';

/** The smallest learned (LSQ) scale the forward pass uses: a step that reaches 0 would divide by zero. */
export const MIN_LEARNED_SCALE = 1e-8;

export interface QatLayerOptions {
  /** null: a float layer (excluded from quantization) that still trains. */
  readonly scheme: QuantScheme | null;
  readonly activations: ActivationMode;
  /** Weights: 'clipped' straight-through estimator (scales = max |w| / qmax, recomputed every step) or 'lsq' (learned scales). */
  readonly ste: 'clipped' | 'lsq';
  /** 'static': weight of each training batch in the moving average of the input range (default 0.01, as PyTorch's QAT observer). */
  readonly averagingConstant: number;
}

/**
 * A Linear or Conv2d (BatchNorm folded in) trained with fake quantization: the weights through
 * fakeQuantize with the scheme of the deployed model, and the input through int8 fakeQuantize
 * with the range the deployed model will use (a moving average of training batches' ranges for
 * 'static', the batch's own for 'dynamic'). Parameters: 'weight', 'bias', and with LSQ
 * 'weight_scale' (give it a small learning rate with Adam: steps of lr are large next to scales
 * near 1e-3). convertQat turns it into a QuantizedLinear or QuantizedConv2d.
 */
export class QatLayer extends Module<[Tensor], Tensor> {
  readonly spec: LayerSpec;
  readonly scheme: QuantScheme | null;
  readonly activations: ActivationMode;
  readonly ste: 'clipped' | 'lsq';
  private readonly averagingConstant: number;
  private readonly hasBias: boolean;
  /** The moving average of the input range ('static'), null until the first training batch. */
  private inputRange: { lo: number; hi: number } | null = null;

  /** Takes ownership of `weight` and `bias` (leaves, as sourceLayer makes them). */
  constructor(spec: LayerSpec, weight: Tensor, bias: Tensor | null, options: QatLayerOptions) {
    super();
    this.spec = spec;
    this.scheme = options.scheme;
    this.activations = options.activations;
    this.ste = options.ste;
    this.averagingConstant = options.averagingConstant;
    if (!(this.averagingConstant > 0 && this.averagingConstant <= 1)) {
      throw new MinnowError('INVALID_ARGUMENT', `prepareQat: averagingConstant must be in (0, 1], got ${String(options.averagingConstant)}`);
    }
    if (options.ste === 'lsq' && options.scheme?.reduceRange) throw new MinnowError('INVALID_ARGUMENT', 'prepareQat: LSQ learns its own range; reduceRange applies to max |w| scales only');
    this.registerParameter('weight', weight);
    this.hasBias = bias !== null;
    if (bias) this.registerParameter('bias', bias);
    if (options.scheme && options.ste === 'lsq') {
      // LSQ starts where post-training quantization would (max |w| per group), so training begins at PTQ's accuracy.
      this.registerParameter('weight_scale', noGrad(() => symmetricScale(weight, options.scheme!)));
    }
  }

  get weight(): Tensor {
    return this.ownParameter('weight');
  }

  get bias(): Tensor | null {
    return this.hasBias ? this.ownParameter('bias') : null;
  }

  /** The weight scales the deployed layer will use: learned (LSQ, floored at MIN_LEARNED_SCALE) or max |w| / qmax now. A new tensor, not on the tape. */
  weightScale(): Tensor {
    if (!this.scheme) throw new MinnowError('INVALID_ARGUMENT', `${this.spec.path}: a float layer has no weight scale`);
    return noGrad(() => (this.ste === 'lsq' ? maximum(this.ownParameter('weight_scale'), MIN_LEARNED_SCALE) : symmetricScale(this.weight, this.scheme!)));
  }

  /** The input parameters a static deployment uses: those of the averaged training range. */
  inputParams(): ActivationParams {
    if (!this.inputRange) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.spec.path || this.spec.kind}: no training batch has passed this layer, so its input range is unknown (train the QAT model before converting it)`);
    }
    return activationParams(this.inputRange.lo, this.inputRange.hi, this.spec.path || this.spec.kind);
  }

  override forward(x: Tensor): Tensor {
    return scope(() => {
      const input = this.activations === 'none' ? x : this.fakeQuantizeInput(x);
      return floatForward(this.spec, input, this.fakeQuantizedWeight(), this.bias);
    });
  }

  private fakeQuantizedWeight(): Tensor {
    const scheme = this.scheme;
    if (!scheme) return this.weight;
    const axis = quantizationAxis(scheme.granularity);
    if (this.ste === 'lsq') {
      const scale = maximum(this.ownParameter('weight_scale'), MIN_LEARNED_SCALE);
      return fakeQuantize(this.weight, scale, undefined, { type: scheme.type, ste: 'lsq', ...axis });
    }
    return fakeQuantize(this.weight, symmetricScale(this.weight, scheme), undefined, { type: scheme.type, ...axis });
  }

  private fakeQuantizeInput(x: Tensor): Tensor {
    const name = this.spec.path || this.spec.kind;
    let params: ActivationParams;
    if (this.activations === 'dynamic') {
      const { lo, hi } = batchRange(x, name);
      params = activationParams(lo, hi, name);
    } else {
      if (this.training) this.observe(batchRange(x, name));
      params = this.inputRange ? this.inputParams() : (() => {
        // Eval before any training step: the batch's own range, so an untrained model still runs.
        const { lo, hi } = batchRange(x, name);
        return activationParams(lo, hi, name);
      })();
    }
    const dtype = x.dtype === 'float64' ? 'float64' : 'float32';
    const { scale, zeroPoint } = activationTensors(params, x.backend.name, dtype);
    return fakeQuantize(x, scale, zeroPoint, { type: ACTIVATION_SCHEME.type });
  }

  private observe(batch: { lo: number; hi: number }): void {
    const c = this.averagingConstant;
    const range = this.inputRange;
    this.inputRange = range ? { lo: range.lo + c * (batch.lo - range.lo), hi: range.hi + c * (batch.hi - range.hi) } : batch;
  }
}
