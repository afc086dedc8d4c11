import { max, min, noGrad, scope, type Tensor } from '@minnow/core';
import type { Module } from '@minnow/nn';
import type { LayerReport, QuantScheme } from '../types.js';
import type { ActivationParams } from './activation.js';
import type { ActivationMode } from './integer-path.js';
import { floatBytes, type LayerSpec } from './layer-spec.js';
import { QuantizedConv2d } from './quantized-conv2d.js';
import { QuantizedLinear } from './quantized-linear.js';
import { bitsOf } from './weights.js';

/** The last step of PTQ and of QAT: a layer's float parameters become a quantized layer, and a report row. */

export interface ConvertRequest {
  readonly spec: LayerSpec;
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly scheme: QuantScheme;
  readonly activations: ActivationMode;
  /** 'static': the input's parameters. */
  readonly input?: ActivationParams;
  /** Learned scales (LSQ); max |w| per group otherwise. */
  readonly scale?: Tensor;
}

/** The quantized layer (owning copies of what it needs) and its report row. The caller keeps ownership of the request's tensors. */
export function convertLayer(request: ConvertRequest): { module: Module<[Tensor], Tensor>; report: LayerReport } {
  const { spec, weight, bias, scheme, activations, input, scale } = request;
  const options = { scheme, activations, input, scale, name: spec.path || spec.kind };
  const module = noGrad(() => (spec.kind === 'Linear'
    ? new QuantizedLinear(weight, bias, options)
    : new QuantizedConv2d(weight, bias, spec.geometry!, options)));
  const weightScale = module.weightScale;
  const [lo, hi] = scope(() => [min(weightScale).itemSync(), max(weightScale).itemSync()]);
  const bits = bitsOf(scheme);
  const scaleBytes = weightScale.size * (weightScale.dtype === 'float64' ? 8 : 4);
  const report: LayerReport = {
    layer: spec.path,
    op: spec.op,
    precision: bits === 4 ? 'int4' : 'int8',
    weightBits: bits,
    weightScale: { min: lo, max: hi },
    ...(input ? { activationScale: input.scale } : {}),
    bytesBefore: floatBytes(weight, bias),
    // Stored as ONNX stores them: int4 two to a byte, scales and the bias (int32 or float) at 4 bytes.
    bytesAfter: Math.ceil((weight.size * bits) / 8) + scaleBytes + (bias?.size ?? 0) * 4,
  };
  return { module, report };
}
