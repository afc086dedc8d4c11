import type { QuantizedType } from '@minnow/core';

/**
 * The vocabulary of minnow's quantization, shared by schemes, observers, calibration, the ONNX
 * graph transforms, module quantization and the reports. Values follow ONNX QuantizeLinear:
 * q = saturate(roundHalfToEven(x / scale) + zeroPoint), x ~ (q - zeroPoint) * scale.
 */

/** Storage types: 8-bit and 4-bit, signed and unsigned. */
export type QuantType = QuantizedType;

/** Which elements share one scale and zero point. */
export type Granularity =
  | { readonly kind: 'tensor' }
  /** One scale per index along `axis` (output channels of a weight, say). */
  | { readonly kind: 'axis'; readonly axis: number }
  /** One scale per `blockSize` consecutive elements along `axis` (ONNX opset 21 blocked quantization). */
  | { readonly kind: 'block'; readonly axis: number; readonly blockSize: number };

export interface QuantScheme {
  readonly type: QuantType;
  /** Zero point 0 (int types) or the middle of the range (uint types): no offset term in integer kernels. */
  readonly symmetric: boolean;
  readonly granularity: Granularity;
  /** Use one bit less of range (7-bit int8), for CPUs whose int8 dot products saturate (VNNI without the u8s8 fix). */
  readonly reduceRange?: boolean;
}

/** Observed range of a tensor: one min/max for a whole tensor, or one per slice of the granularity. */
export interface TensorRange {
  readonly min: Float32Array;
  readonly max: Float32Array;
  /** How min/max are laid out: per tensor (length 1), per axis, or per block. */
  readonly granularity: Granularity;
}

/** Scales and zero points, shaped as ONNX QuantizeLinear takes them for `scheme` on a tensor of `tensorShape`. */
export interface QuantParams {
  readonly scheme: QuantScheme;
  readonly scale: Float32Array;
  readonly zeroPoint: Int32Array;
  /** The shape of scale and zeroPoint: [] per tensor, [C] per axis, the tensor's shape with the axis divided (rounded up) by the block size when blocked. */
  readonly shape: readonly number[];
}

export type CalibrationMethod = 'minmax' | 'moving-average' | 'percentile' | 'entropy' | 'mse';

export interface CalibrationOptions {
  readonly method: CalibrationMethod;
  /** Percentile method: the fraction of values inside the range (default 0.9999). */
  readonly percentile?: number;
  /** Histogram methods: bins (default 2048); memory stays this size however much data is seen. */
  readonly bins?: number;
  /** Moving-average method: weight of each new batch (default 0.01). */
  readonly averagingConstant?: number;
}

/** A streaming range observer: bounded memory, fed batch by batch, merged across batches. */
export interface Observer {
  /** Takes one batch of values (laid out as `shape`); NaN and Inf are refused with a MinnowError naming the tensor. */
  observe(values: Float32Array, shape: readonly number[]): void;
  /** The calibrated clipping range so far; an error if nothing was observed. */
  range(): TensorRange;
  /** Bytes the observer holds (constant in the amount of data observed). */
  readonly bytes: number;
}

/** What precision a layer ends up in. */
export type LayerPrecision = 'float' | 'int8' | 'int4';

/** One row of the per-layer report: what happened to a quantizable layer and what it cost. */
export interface LayerReport {
  /** Node name (ONNX) or module path (nn). */
  readonly layer: string;
  readonly op: string;
  readonly precision: LayerPrecision;
  /** Why a layer was left in float (excluded, unsupported, kept for the error budget ...). */
  readonly reason?: string;
  readonly weightBits?: number;
  readonly weightScale?: { readonly min: number; readonly max: number };
  readonly activationScale?: number;
  /** Output error this layer alone causes when quantized (sensitivity analysis). */
  readonly sqnrDb?: number;
  readonly mse?: number;
  readonly bytesBefore?: number;
  readonly bytesAfter?: number;
}
