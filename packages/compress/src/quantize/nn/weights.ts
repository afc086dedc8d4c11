import {
  MinnowError, abs, div, formatShape, less, max, normalizeAxis, pad, quantize, reshape, scope, where,
  type QuantizationAxis, type Tensor,
} from '@minnow/core';
import { paramShape, quantLimits } from '../scheme.js';
import type { Granularity, QuantScheme } from '../types.js';

/**
 * Symmetric weight quantization for module layers: one scale per group (the whole tensor, an
 * output channel, or a block of input elements), scale = max |w| over the group / qmax, zero
 * point 0, the integer limits and the rule for degenerate groups those of quantParams
 * (../scheme.ts), so a module layer and an ONNX initialiser quantize alike. Written with tensor
 * ops so that QAT's forward pass and the conversion after it compute the very same scales from
 * the same weights.
 */

/** Scales below the smallest normal float32 (a group of zeros among them) become 1, as quantParams makes them. */
const MIN_NORMAL_FLOAT32 = 2 ** -126;

/** The `QuantizationAxis` (quantize's argument) of a granularity. */
export function quantizationAxis(granularity: Granularity): QuantizationAxis {
  if (granularity.kind === 'tensor') return {};
  if (granularity.kind === 'axis') return { axis: granularity.axis };
  return { axis: granularity.axis, blockSize: granularity.blockSize };
}

/**
 * max |w| / qmax for each group of `granularity`, shaped as quantParams lays scales out. A group
 * whose scale would not be a normal float32 (all zeros, say) gets scale 1: any scale codes zeros
 * exactly, and 0 would divide by zero. Not differentiable.
 */
export function symmetricScale(weight: Tensor, scheme: QuantScheme): Tensor {
  if (!scheme.symmetric) {
    throw new MinnowError('INVALID_ARGUMENT', `module quantization takes symmetric weight schemes (zero point 0, so integer kernels need no weight offset); got an affine ${scheme.type} scheme`);
  }
  const { qmax } = quantLimits(scheme);
  const granularity = scheme.granularity;
  return scope(() => {
    const magnitude = abs(weight.detach());
    const shape = weight.shape;
    let peak: Tensor;
    if (granularity.kind === 'tensor') {
      peak = reshape(max(magnitude), []);
    } else {
      const axis = normalizeAxis('symmetricScale', granularity.axis, shape.length, shape);
      if (granularity.kind === 'axis') {
        peak = max(magnitude, { axes: shape.map((_, i) => i).filter((i) => i !== axis) });
      } else {
        const block = granularity.blockSize;
        if (!Number.isInteger(block) || block < 1) throw new MinnowError('INVALID_ARGUMENT', `symmetricScale: blockSize must be a positive integer, got ${block}`);
        const blocks = Math.ceil(shape[axis] / block);
        // Zeros pad the last block: they never raise a maximum of magnitudes.
        const padded = pad(magnitude, shape.map((d, i) => (i === axis ? [0, blocks * block - d] : [0, 0]) as [number, number]));
        const split = reshape(padded, [...shape.slice(0, axis), blocks, block, ...shape.slice(axis + 1)]);
        peak = max(split, { axes: axis + 1 });
      }
    }
    const scale = div(peak, qmax);
    return where(less(scale, MIN_NORMAL_FLOAT32), 1, scale);
  });
}

export interface QuantizedWeight {
  /** The integer codes (int4 and uint4 held one per byte in int8/uint8 tensors, as core's quantize returns them). */
  readonly codes: Tensor;
  /** One scale per group, shaped as quantParams lays them out. */
  readonly scale: Tensor;
}

/** Quantizes `weight` with `scale` (default: `symmetricScale`), zero point 0. The caller owns both tensors. */
export function quantizeWeight(weight: Tensor, scheme: QuantScheme, scale?: Tensor): QuantizedWeight {
  const expected = paramShape(scheme.granularity, weight.shape);
  if (scale && (scale.rank !== expected.length || scale.shape.some((d, i) => d !== expected[i]))) {
    throw new MinnowError('SHAPE_MISMATCH', `quantizeWeight: scale ${formatShape(scale.shape)} does not fit weight ${formatShape(weight.shape)} (expected ${formatShape(expected)})`);
  }
  return scope(() => {
    const s = scale ? scale.detach() : symmetricScale(weight, scheme);
    const codes = quantize(weight.detach(), s, undefined, scheme.type, quantizationAxis(scheme.granularity));
    return { codes, scale: s };
  });
}

/** Bits per stored weight value. */
export function bitsOf(scheme: QuantScheme): number {
  return scheme.type === 'int4' || scheme.type === 'uint4' ? 4 : 8;
}
