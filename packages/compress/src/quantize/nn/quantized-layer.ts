import { MinnowError, dequantize, quantize, type Tensor } from '@minnow/core';
import { Module } from '@minnow/nn';
import type { QuantScheme } from '../types.js';
import { ACTIVATION_SCHEME, activationTensors, type ActivationParams } from './activation.js';
import { makeEpilogue, quantizeDynamic, type ActivationMode, type Epilogue } from './integer-path.js';
import { quantizationAxis, quantizeWeight } from './weights.js';

export interface QuantizedLayerOptions {
  /** How the weights were quantized (symmetric; per tensor or per output channel for the integer path). */
  readonly scheme: QuantScheme;
  readonly activations: ActivationMode;
  /** 'static': the calibrated input parameters. */
  readonly input?: ActivationParams;
  /** Module path in the source model, for messages. */
  readonly name?: string;
  /** Learned weight scales (LSQ); max |w| per group otherwise. */
  readonly scale?: Tensor;
}

/**
 * What QuantizedLinear and QuantizedConv2d share: integer weights and their scales, and for
 * static activations everything the integer path needs that does not change from batch to batch,
 * computed once (input scale and zero point, output scale sx * sw, int32 bias codes), so that a
 * forward pass is quantize, the integer GEMM and three elementwise ops. Buffers: 'weight' (codes,
 * int4 one per byte), 'weight_scale', 'bias' (float), and for static layers 'input_scale',
 * 'input_zero_point', 'output_scale', 'bias_int32' (and 'bias_remainder' where a bias code saturated).
 */
export abstract class QuantizedLayer extends Module<[Tensor], Tensor> {
  readonly scheme: QuantScheme;
  readonly activations: ActivationMode;
  /** The calibrated input parameters ('static'), else null. */
  readonly input: ActivationParams | null;
  protected readonly name: string;
  private readonly hasBias: boolean;
  private readonly epilogueParts: { bias: boolean; remainder: boolean };
  private readonly perChannel: (t: Tensor) => Tensor;

  /**
   * `perChannel` lays a per-output-channel tensor ([O]) out to broadcast against the layer's int32
   * accumulator ([M, O] for Linear, [N, O, P] for Conv2d).
   */
  protected constructor(layer: string, weight: Tensor, bias: Tensor | null, options: QuantizedLayerOptions, perChannel: (t: Tensor) => Tensor) {
    super();
    checkLayerOptions(layer, options, 0);
    this.scheme = options.scheme;
    this.activations = options.activations;
    this.input = options.activations === 'static' ? options.input! : null;
    this.name = options.name ?? layer;
    const { codes, scale } = quantizeWeight(weight, options.scheme, options.scale);
    this.registerBuffer('weight', codes);
    this.registerBuffer('weight_scale', scale);
    this.hasBias = bias !== null;
    if (bias) this.registerBuffer('bias', bias.detach());
    this.epilogueParts = { bias: false, remainder: false };
    if (this.input) {
      const dtype = weight.dtype === 'float64' ? 'float64' : 'float32';
      const { scale: inputScale, zeroPoint } = activationTensors(this.input, weight.backend.name, dtype);
      this.registerBuffer('input_scale', inputScale);
      this.registerBuffer('input_zero_point', zeroPoint);
      const epilogue = this.layoutEpilogue(perChannel, (s, b) => makeEpilogue(this.input!.scale, s, b));
      this.registerBuffer('output_scale', epilogue.outputScale);
      if (epilogue.biasCodes) this.registerBuffer('bias_int32', epilogue.biasCodes);
      if (epilogue.biasRemainder) this.registerBuffer('bias_remainder', epilogue.biasRemainder);
      this.epilogueParts = { bias: epilogue.biasCodes !== null, remainder: epilogue.biasRemainder !== null };
    }
    this.perChannel = perChannel;
  }

  get weightCodes(): Tensor {
    return this.ownBuffer('weight');
  }

  get weightScale(): Tensor {
    return this.ownBuffer('weight_scale');
  }

  get bias(): Tensor | null {
    return this.hasBias ? this.ownBuffer('bias') : null;
  }

  /** The weights as float, codes * scale: what weight-only execution multiplies by. */
  dequantizedWeight(): Tensor {
    return dequantize(this.weightCodes, this.weightScale, undefined, quantizationAxis(this.scheme.granularity));
  }

  /**
   * `x` quantized to int8 (static: with the calibrated parameters; dynamic: with its own range),
   * its zero point (as the kernels take it, and as a number), and the epilogue for the
   * accumulator. Call inside a scope.
   */
  protected integerInput(x: Tensor): { codes: Tensor; zeroPoint: Tensor; zeroPointValue: number; epilogue: Epilogue } {
    if (this.activations === 'static') {
      const zeroPoint = this.ownBuffer('input_zero_point');
      const codes = quantize(x, this.ownBuffer('input_scale'), zeroPoint, ACTIVATION_SCHEME.type, {});
      const epilogue: Epilogue = {
        outputScale: this.ownBuffer('output_scale'),
        biasCodes: this.epilogueParts.bias ? this.ownBuffer('bias_int32') : null,
        biasRemainder: this.epilogueParts.remainder ? this.ownBuffer('bias_remainder') : null,
      };
      return { codes, zeroPoint, zeroPointValue: this.input!.zeroPoint, epilogue };
    }
    const { codes, zeroPoint, params } = quantizeDynamic(x, this.name);
    const epilogue = this.layoutEpilogue(this.perChannel, (s, b) => makeEpilogue(params.scale, s, b));
    return { codes, zeroPoint, zeroPointValue: params.zeroPoint, epilogue };
  }

  private layoutEpilogue(perChannel: (t: Tensor) => Tensor, make: (scale: Tensor, bias: Tensor | null) => Epilogue): Epilogue {
    const scale = perChannel(this.weightScale);
    const bias = this.bias ? perChannel(this.bias) : null;
    try {
      return make(scale, bias);
    } finally {
      scale.dispose();
      bias?.dispose();
    }
  }
}

/**
 * The rules both quantized layers check: integer execution needs one weight scale per tensor or
 * per output channel (axis 0), since the scale must factor out of the sum over inputs; static
 * needs calibrated input parameters.
 */
export function checkLayerOptions(layer: string, options: QuantizedLayerOptions, outputAxis: number): void {
  checkSchemeFits(options.name ?? layer, options.scheme, options.activations, outputAxis);
  if (options.activations === 'static' && !options.input) throw new MinnowError('INVALID_ARGUMENT', `${options.name ?? layer}: static activations need calibrated input parameters`);
}

/** Whether `activations` can run with weights of `scheme` (see checkLayerOptions); an INVALID_ARGUMENT naming `what` if not. */
export function checkSchemeFits(what: string, scheme: QuantScheme, activations: ActivationMode, outputAxis = 0): void {
  if (activations !== 'static' && activations !== 'dynamic' && activations !== 'none') {
    throw new MinnowError('INVALID_ARGUMENT', `${what}: activations must be 'static', 'dynamic' or 'none', got ${JSON.stringify(activations)}`);
  }
  if (activations === 'none') return;
  const g = scheme.granularity;
  if (g.kind === 'block' || (g.kind === 'axis' && g.axis !== outputAxis)) {
    throw new MinnowError('INVALID_ARGUMENT', `${what}: ${activations} activations need weight scales per tensor or per output channel (axis ${outputAxis}); ${g.kind === 'block' ? 'blocked' : `axis ${g.axis}`} weights run weight-only (activations: 'none')`);
  }
  if (scheme.type !== 'int8' && scheme.type !== 'int4') {
    throw new MinnowError('INVALID_ARGUMENT', `${what}: the integer path takes int8 or int4 weights, got ${scheme.type}`);
  }
}
