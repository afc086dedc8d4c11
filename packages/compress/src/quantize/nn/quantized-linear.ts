import { MinnowError, formatShape, linear, matmulInteger, reshape, scope, transpose, type Tensor } from '@minnow/core';
import { applyEpilogue } from './integer-path.js';
import { QuantizedLayer, type QuantizedLayerOptions } from './quantized-layer.js';

/**
 * A Linear layer whose weights are stored as integers ([out, in]). With quantized activations
 * ('static' or 'dynamic') it runs on core's integer GEMM: x quantized to int8, matmulInteger
 * (int8 x int8 -> int32), the int32 bias added, the sum scaled back to float. Weight-only
 * ('none') dequantizes the weights and runs the float GEMM. Inference only: nothing here trains.
 */
export class QuantizedLinear extends QuantizedLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;

  /** Quantizes `weight` [out, in] with `options.scheme` (scales from `options.scale`, or max |w| per group); keeps its own copies. */
  constructor(weight: Tensor, bias: Tensor | null, options: QuantizedLayerOptions) {
    if (weight.rank !== 2) throw new MinnowError('INVALID_SHAPE', `QuantizedLinear: weight must be [out, in], got ${formatShape(weight.shape)}`);
    // Per-channel tensors ([out]) already broadcast against the [M, out] accumulator.
    super('QuantizedLinear', weight, bias, options, (t) => reshape(t, t.shape));
    [this.outFeatures, this.inFeatures] = weight.shape;
  }

  override forward(x: Tensor): Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new MinnowError('SHAPE_MISMATCH', `${this.name}: expected input [..., ${this.inFeatures}], got ${formatShape(x.shape)}`);
    }
    return scope(() => {
      if (this.activations === 'none') return linear(x, this.dequantizedWeight(), this.bias ?? undefined);
      const { codes, zeroPoint, epilogue } = this.integerInput(reshape(x, [-1, this.inFeatures]));
      const y = applyEpilogue(matmulInteger(codes, transpose(this.weightCodes), zeroPoint), epilogue);
      return reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
}
