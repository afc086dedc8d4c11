import {
  MinnowError, abs, add, cast, clamp, div, less, max, mul, quantize, round, scope, sub, where, type Tensor,
} from '@minnow/core';
import { ACTIVATION_SCHEME, activationParams, activationTensors, batchRange, type ActivationParams } from './activation.js';

/**
 * What quantized Linear and Conv2d layers share around their integer GEMM: the input quantized to
 * int8 (with calibrated parameters, or the batch's own range), and the int32 accumulator brought
 * back to float with the int32 bias added first, scale = input scale x weight scale, as ONNX
 * QLinearMatMul / MatMulInteger + bias chains compute it.
 */

/**
 * 'static': calibrated activation parameters, fixed; 'dynamic': each batch's own range, found at
 * run time; 'none': weight-only, the activations stay float and the weights are dequantized for a
 * float kernel (the only way for blocked weights, whose scales change along the reduced axis).
 */
export type ActivationMode = 'static' | 'dynamic' | 'none';

/** An input quantized to int8 with its own range, and the parameters used. */
export interface QuantizedInput {
  readonly codes: Tensor;
  readonly zeroPoint: Tensor;
  readonly params: ActivationParams;
}

/** Dynamic quantization: `x` per tensor to int8 with the parameters of its own [min, max] (two numbers read back). */
export function quantizeDynamic(x: Tensor, layer: string): QuantizedInput {
  const { lo, hi } = batchRange(x, layer);
  const params = activationParams(lo, hi, layer);
  const dtype = x.dtype === 'float64' ? 'float64' : 'float32';
  const { scale, zeroPoint } = activationTensors(params, x.backend.name, dtype);
  try {
    return { codes: quantize(x, scale, zeroPoint, ACTIVATION_SCHEME.type, {}), zeroPoint, params };
  } finally {
    scale.dispose();
  }
}

// Bias codes saturate at 2^30, half of int32's range: the other half holds the accumulator
// (|acc| <= K * 255 * 128 < 2^30 for K up to 32,000 inputs), so their int32 sum cannot wrap.
const BIAS_LIMIT = 2 ** 30;

/**
 * What brings the int32 accumulator of an integer GEMM back to float:
 *   y = float(accumulator + biasCodes) * outputScale (+ biasRemainder)
 * with outputScale = sx * sw and biasCodes = round(bias / outputScale) in int32, as ONNX quantizes
 * a bias. Laid out like the weight scales it was made from (per output channel, broadcasting
 * against the accumulator). A static layer makes it once; a dynamic one per batch.
 */
export interface Epilogue {
  readonly outputScale: Tensor;
  /** null without a bias. */
  readonly biasCodes: Tensor | null;
  /**
   * The part of the bias its saturated int32 code could not hold (weight scales near 0, as a
   * learned LSQ scale can become), added back in float so the layer still computes what its
   * fake-quantized form did; null when nothing saturated, which is the usual case.
   */
  readonly biasRemainder: Tensor | null;
}

/** The epilogue for input scale `inputScale`: new tensors the caller owns. Reads back one number (the largest bias code) when there is a bias. */
export function makeEpilogue(inputScale: number, weightScale: Tensor, bias: Tensor | null): Epilogue {
  return scope(() => {
    const outputScale = mul(weightScale, inputScale);
    if (!bias) return { outputScale, biasCodes: null, biasRemainder: null };
    const codes = round(div(bias, outputScale));
    const held = clamp(codes, -BIAS_LIMIT, BIAS_LIMIT);
    const saturated = max(abs(codes)).itemSync() > BIAS_LIMIT;
    return {
      outputScale,
      biasCodes: cast(held, 'int32'),
      biasRemainder: saturated ? where(less(BIAS_LIMIT, abs(codes)), sub(bias, mul(held, outputScale)), 0) : null,
    };
  });
}

/** float(accumulator + biasCodes) * outputScale (+ biasRemainder). */
export function applyEpilogue(accumulator: Tensor, epilogue: Epilogue): Tensor {
  if (accumulator.dtype !== 'int32') throw new MinnowError('INTERNAL', `applyEpilogue: accumulator must be int32, got ${accumulator.dtype}`);
  return scope(() => {
    const { outputScale, biasCodes, biasRemainder } = epilogue;
    const total = biasCodes ? add(accumulator, biasCodes) : accumulator;
    const y = mul(cast(total, outputScale.dtype), outputScale);
    return biasRemainder ? add(y, biasRemainder) : y;
  });
}
