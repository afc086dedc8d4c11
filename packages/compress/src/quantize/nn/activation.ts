import { MinnowError, fromArray, max, min, scope, type Tensor } from '@minnow/core';
import { quantParams } from '../scheme.js';
import type { QuantScheme, TensorRange } from '../types.js';

/**
 * Activations of module layers are quantized per tensor, affine, to int8, with the parameters
 * quantParams (../scheme.ts) gives an ONNX activation: the range widened to include 0, so that 0
 * (zero padding, ReLU's floor) is coded exactly, and mapped onto [-128, 127].
 */

export const ACTIVATION_SCHEME: QuantScheme = { type: 'int8', symmetric: false, granularity: { kind: 'tensor' } };

/** Scale and zero point of an activation, as plain numbers (scale is a float32 value). */
export interface ActivationParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/** The parameters for a per-tensor range (an observer's, or a batch's own). */
export function paramsOfRange(range: TensorRange, layer: string): ActivationParams {
  if (range.granularity.kind !== 'tensor' || range.min.length !== 1) {
    throw new MinnowError('INVALID_ARGUMENT', `${layer}: activations are quantized per tensor; the calibrated range is ${range.granularity.kind === 'tensor' ? `${range.min.length} values` : `per ${range.granularity.kind}`}`);
  }
  try {
    const params = quantParams(range, ACTIVATION_SCHEME, []);
    return { scale: params.scale[0], zeroPoint: params.zeroPoint[0] };
  } catch (error) {
    if (error instanceof MinnowError) throw new MinnowError(error.code, `${layer}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** The parameters covering [lo, hi] (and 0). */
export function activationParams(lo: number, hi: number, layer: string): ActivationParams {
  return paramsOfRange({ min: Float32Array.of(lo), max: Float32Array.of(hi), granularity: { kind: 'tensor' } }, layer);
}

/** The parameters as tensors for core's quantize: a float scalar scale (of `dtype`) and an int8 scalar zero point. */
export function activationTensors(params: ActivationParams, backend: string, dtype: 'float32' | 'float64'): { scale: Tensor; zeroPoint: Tensor } {
  return {
    scale: fromArray(dtype === 'float32' ? Float32Array.of(params.scale) : Float64Array.of(params.scale), [], { backend }),
    zeroPoint: fromArray(Int8Array.of(params.zeroPoint), [], { backend }),
  };
}

/**
 * The batch's own [min, max], read back (two numbers, not the batch): dynamic quantization's
 * range, and QAT's observation. NaN or Inf in it is an error naming the layer.
 */
export function batchRange(x: Tensor, layer: string): { lo: number; hi: number } {
  if (x.size === 0) throw new MinnowError('INVALID_SHAPE', `${layer}: cannot take the range of an empty input`);
  const [lo, hi] = scope(() => [min(x.detach()).itemSync(), max(x.detach()).itemSync()]);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new MinnowError('INVALID_ARGUMENT', `${layer}: input holds NaN or Inf (range [${lo}, ${hi}]); activations cannot be quantized`);
  }
  return { lo, hi };
}
