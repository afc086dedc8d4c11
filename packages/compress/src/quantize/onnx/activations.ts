import { packInt4, roundHalfToEven } from '@minnow/core';
import { DataType, type NodeProto } from '@minnow/onnx';
import type { TensorRange } from '../types.js';
import { floatTensor, makeNode, zeroPointTensor, type GraphScope, type NameSource } from './model-edit.js';
import { quantParams } from '../scheme.js';

/**
 * Activations quantized with calibrated ranges: per tensor, affine (uint8 by default, as
 * onnxruntime's static quantizer does), one QuantizeLinear per tensor and graph, shared by every
 * consumer there (and by consumers in its subgraphs). A QOperator node's quantized output is
 * registered too, so the next QOperator node reads it directly with no DequantizeLinear ->
 * QuantizeLinear round trip in between.
 */

/** 8-bit activations, or 16-bit (opset 21; onnxruntime's A16W8) for models whose activations span too many octaves for 256 codes. */
export type ActivationType = 'uint8' | 'int8' | 'uint16' | 'int16';

const CODES: Readonly<Record<ActivationType, { readonly onnx: number; readonly min: number; readonly max: number }>> = {
  uint8: { onnx: DataType.UINT8, min: 0, max: 255 },
  int8: { onnx: DataType.INT8, min: -128, max: 127 },
  uint16: { onnx: DataType.UINT16, min: 0, max: 65535 },
  int16: { onnx: DataType.INT16, min: -32768, max: 32767 },
};

export const isSixteenBit = (type: ActivationType): boolean => type === 'uint16' || type === 'int16';

/**
 * How far calibrated ranges are widened by default: 2x for 16-bit codes, none for 8-bit. A value
 * past the calibrated range is clipped, an error that is systematic and can be as large as the
 * value itself, while a wider range only coarsens the step. With 65,536 codes, one bit of
 * resolution spent on headroom leaves steps far below what any float op downstream resolves, and
 * a recurrent model fed audio louder (or a state larger) than calibration saw keeps its outputs;
 * with 256 codes the step is the larger error, so 8-bit ranges stay as calibrated.
 */
export const defaultActivationMargin = (type: ActivationType): number => (isSixteenBit(type) ? 2 : 1);

/** Per-tensor affine parameters of one activation. */
export interface ActivationParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/** A quantized activation: the tensor of codes and the names of its scale and zero point. */
export interface QuantizedActivation {
  readonly quantized: string;
  readonly scale: string;
  readonly zeroPoint: string;
  readonly params: ActivationParams;
  /** The float tensor QDQ consumers read: the DequantizeLinear of `quantized` (made on first use). */
  dequantized?: string;
}

export class ActivationQuantizer {
  private readonly byScope = new Map<GraphScope, Map<string, QuantizedActivation>>();
  constructor(
    private readonly ranges: ReadonlyMap<string, TensorRange>,
    private readonly names: NameSource,
    readonly type: ActivationType,
    /** Each calibrated range's ends are multiplied by this (>= 1) before the scale is chosen. */
    readonly margin: number = defaultActivationMargin(type),
  ) {}

  /** Whether a range was calibrated for `name` (static quantization needs one for every activation input). */
  has(name: string): boolean {
    return this.ranges.has(name);
  }

  /** The per-tensor parameters for `name` from its calibrated range, widened by the margin. */
  params(name: string): ActivationParams {
    const range = this.ranges.get(name)!;
    const lo = this.margin * Math.min(0, ...range.min);
    const hi = this.margin * Math.max(0, ...range.max);
    if (this.type === 'uint8' || this.type === 'int8') {
      const perTensor: TensorRange = { min: Float32Array.of(lo), max: Float32Array.of(hi), granularity: { kind: 'tensor' } };
      const params = quantParams(perTensor, { type: this.type, symmetric: false, granularity: { kind: 'tensor' } }, []);
      return { scale: params.scale[0], zeroPoint: params.zeroPoint[0] };
    }
    // quantParams covers the 8- and 4-bit types; 16-bit codes take its affine formula here.
    const codes = CODES[this.type];
    const scale = (hi - lo) / (codes.max - codes.min);
    if (!(Math.fround(scale) >= 2 ** -126)) return { scale: 1, zeroPoint: Math.max(codes.min, 0) };
    return { scale, zeroPoint: Math.min(codes.max, Math.max(codes.min, roundHalfToEven(codes.min - lo / scale))) };
  }

  private lookup(scope: GraphScope, name: string): QuantizedActivation | undefined {
    for (let s: GraphScope | undefined = scope; s !== undefined; s = s.parent) {
      const found = this.byScope.get(s)?.get(name);
      if (found) return found;
    }
    return undefined;
  }

  private remember(scope: GraphScope, name: string, entry: QuantizedActivation): void {
    let map = this.byScope.get(scope);
    if (!map) this.byScope.set(scope, (map = new Map()));
    map.set(name, entry);
  }

  /** Scale and zero point initialisers for `name`'s parameters, added to `scope`'s graph. */
  private paramTensors(scope: GraphScope, name: string, params: ActivationParams): { scale: string; zeroPoint: string } {
    const scale = floatTensor(this.names.fresh(`${name}_scale`), [], Float32Array.of(params.scale));
    const zeroPoint = zeroPointTensor(this.names.fresh(`${name}_zero_point`), CODES[this.type].onnx, [], [params.zeroPoint], packInt4);
    scope.graph.initializer.push(scale, zeroPoint);
    return { scale: scale.name!, zeroPoint: zeroPoint.name! };
  }

  /** `name` quantized (QuantizeLinear emitted before the current node on first use in this scope). */
  quantized(scope: GraphScope, name: string, emit: (node: NodeProto) => void): QuantizedActivation {
    const known = this.lookup(scope, name);
    if (known) return known;
    const params = this.params(name);
    const { scale, zeroPoint } = this.paramTensors(scope, name, params);
    const quantized = this.names.fresh(`${name}_quantized`);
    emit(makeNode('QuantizeLinear', [name, scale, zeroPoint], [quantized], this.names.fresh(`${name}_QuantizeLinear`)));
    const entry: QuantizedActivation = { quantized, scale, zeroPoint, params };
    this.remember(scope, name, entry);
    return entry;
  }

  /** The QDQ form of `name`: QuantizeLinear then DequantizeLinear, the float tensor consumers read instead. */
  dequantized(scope: GraphScope, name: string, emit: (node: NodeProto) => void): { name: string; entry: QuantizedActivation } {
    const entry = this.quantized(scope, name, emit);
    if (entry.dequantized === undefined) {
      entry.dequantized = this.names.fresh(`${name}_dequantized`);
      emit(makeNode('DequantizeLinear', [entry.quantized, entry.scale, entry.zeroPoint], [entry.dequantized], this.names.fresh(`${name}_DequantizeLinear`)));
    }
    return { name: entry.dequantized, entry };
  }

  /**
   * Quantized output of a QOperator node: its codes go to a fresh tensor, dequantized back to
   * `name` for float consumers; QOperator consumers take the codes. Returns the output's names.
   */
  output(scope: GraphScope, name: string): QuantizedActivation & { dequantize: NodeProto } {
    const params = this.params(name);
    const { scale, zeroPoint } = this.paramTensors(scope, name, params);
    const quantized = this.names.fresh(`${name}_quantized`);
    const entry: QuantizedActivation = { quantized, scale, zeroPoint, params, dequantized: name };
    this.remember(scope, name, entry);
    const dequantize = makeNode('DequantizeLinear', [quantized, scale, zeroPoint], [name], this.names.fresh(`${name}_DequantizeLinear`));
    return { ...entry, dequantize };
  }
}
