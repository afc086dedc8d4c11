import { MinnowError, packInt4, roundHalfToEven } from '@minnow/core';
import { DataType, makeTensor, tensorByteLength, tensorValues, type NodeProto, type TensorProto } from '@minnow/onnx';
import type { Granularity, QuantParams, QuantScheme, TensorRange } from '../types.js';
import { floatTensor, int32Tensor, intAttr, makeNode, zeroPointTensor, type GraphScope, type NameSource } from './model-edit.js';
import { quantParams, quantizeValues, rangeOf } from '../scheme.js';
import { roundWeight, type InputMoments, type RoundingOptions } from '../weight-rounding.js';

/**
 * Quantized weight initialisers: codes stored as int8 or packed int4 (so the file really
 * shrinks), with their scales and zero points, made once per weight and form and shared by every
 * node that reads it. They live in the graph that held the float weight, so If/Loop bodies that
 * read an outer weight read the quantized one the same way.
 */

const ONNX_TYPE = { int8: DataType.INT8, uint8: DataType.UINT8, int4: DataType.INT4, uint4: DataType.UINT4 } as const;

/** The names of a quantized weight's initialisers and what they hold. */
export interface QuantizedWeight {
  readonly quantized: string;
  readonly scale: string;
  /** Present unless the zero point is 0 for a signed type (DequantizeLinear's default). */
  readonly zeroPoint: string | undefined;
  readonly params: QuantParams;
  /** The integer codes (unpacked), as stored. */
  readonly codes: Int32Array;
  readonly dims: readonly number[];
  /** The axis and block size DequantizeLinear takes (undefined per tensor). */
  readonly axis: number | undefined;
  readonly blockSize: number | undefined;
  /** Bytes of the codes, scales and zero points. */
  readonly bytes: number;
  /** Set when the rounding asked for could not be applied as asked (why, and what was done instead). */
  readonly note?: string;
}

/**
 * How the codes are chosen beyond min-max round-to-nearest (see weight-rounding): the options, the
 * output axis of the weight in this form (its rows are output channels) and the statistics of the
 * inputs those rows multiply.
 */
export interface WeightRoundingRequest {
  readonly options: RoundingOptions;
  readonly outputAxis: number;
  readonly moments: InputMoments | undefined;
}

const isPlain = (r: WeightRoundingRequest | undefined): boolean => r === undefined || ((r.options.clipping ?? 'minmax') === 'minmax' && (r.options.rounding ?? 'nearest') === 'nearest');

/** A float weight after an optional transform (transposed for MatMulInteger, scaled by Gemm's alpha ...). */
export interface WeightSource {
  readonly name: string;
  readonly tensor: TensorProto;
  readonly owner: GraphScope;
  /** Distinguishes transformed forms of one weight ('' for the weight as stored). */
  readonly form: string;
  readonly values: Float32Array;
  readonly dims: readonly number[];
}

/** The weight's float values, refusing anything but float32 (its name in the message). */
export function floatWeightValues(tensor: TensorProto): Float32Array {
  if (tensor.dataType !== DataType.FLOAT) {
    throw new MinnowError('UNSUPPORTED_DTYPE', `quantize: weight '${tensor.name ?? ''}' is not float32`);
  }
  return tensorValues(tensor) as Float32Array;
}

function granularityKey(g: Granularity): string {
  return g.kind === 'tensor' ? 'tensor' : g.kind === 'axis' ? `axis${g.axis}` : `block${g.axis}x${g.blockSize}`;
}

const sanitize = (name: string): string => name.replace(/[^A-Za-z0-9_.:/-]/g, '_');

/** The weight's exact range per slice; NaN or Inf is an error that names the weight. */
function rangeOfWeight(source: WeightSource, scheme: QuantScheme): TensorRange {
  try {
    return rangeOf(source.values, source.dims, scheme.granularity, source.name);
  } catch (error) {
    if (!(error instanceof MinnowError)) throw error;
    throw new MinnowError(error.code, `quantize: weight '${source.name}' cannot be quantized: ${error.message}`, { cause: error });
  }
}

export class WeightStore {
  private readonly made = new Map<string, QuantizedWeight>();
  private readonly dequantizedNames = new Map<string, string>();

  constructor(private readonly names: NameSource) {}

  /**
   * The weight quantized under `scheme` (and `rounding`, when given), its initialisers added to
   * the graph that owns it (once). A weight read by several nodes is rounded once, with the
   * statistics of the first node's input.
   */
  quantize(source: WeightSource, scheme: QuantScheme, rounding?: WeightRoundingRequest): QuantizedWeight {
    const method = isPlain(rounding) ? '' : `${rounding!.options.clipping ?? 'minmax'}/${rounding!.options.rounding ?? 'nearest'}`;
    const key = `${source.owner.path}\u0000${source.name}\u0000${source.form}\u0000${scheme.type}${scheme.symmetric ? 's' : 'a'}${scheme.reduceRange ? 'r' : ''}\u0000${granularityKey(scheme.granularity)}\u0000${method}`;
    const known = this.made.get(key);
    if (known) return known;
    const { params, codes, note } = method === '' ? this.nearest(source, scheme) : this.rounded(source, scheme, rounding!);
    const base = sanitize(`${source.name}${source.form ? `_${source.form}` : ''}`);
    const type = ONNX_TYPE[scheme.type];
    const packed = type === DataType.INT4 || type === DataType.UINT4;
    const raw = packed ? packInt4(codes, type === DataType.INT4) : type === DataType.INT8 ? new Uint8Array(Int8Array.from(codes).buffer) : Uint8Array.from(codes);
    const quantized = makeTensor(this.names.fresh(`${base}_quantized`), type, source.dims, raw);
    const scale = floatTensor(this.names.fresh(`${base}_scale`), params.shape, params.scale);
    const zeroIsDefault = !scheme.type.startsWith('u') && params.zeroPoint.every((z) => z === 0);
    const zeroPoint = zeroIsDefault ? undefined : zeroPointTensor(this.names.fresh(`${base}_zero_point`), type, params.shape, params.zeroPoint, packInt4);
    const added = [quantized, scale, ...(zeroPoint ? [zeroPoint] : [])];
    source.owner.graph.initializer.push(...added);
    const g = scheme.granularity;
    const weight: QuantizedWeight = {
      quantized: quantized.name!,
      scale: scale.name!,
      zeroPoint: zeroPoint?.name,
      params,
      dims: source.dims,
      axis: g.kind === 'tensor' ? undefined : g.axis,
      blockSize: g.kind === 'block' ? g.blockSize : undefined,
      bytes: added.reduce((a, t) => a + tensorByteLength(t), 0),
      codes,
      ...(note ? { note } : {}),
    };
    this.made.set(key, weight);
    return weight;
  }

  private nearest(source: WeightSource, scheme: QuantScheme): { params: QuantParams; codes: Int32Array; note?: string } {
    const params = quantParams(rangeOfWeight(source, scheme), scheme, source.dims);
    return { params, codes: quantizeValues(source.values, params, source.dims) };
  }

  private rounded(source: WeightSource, scheme: QuantScheme, rounding: WeightRoundingRequest): { params: QuantParams; codes: Int32Array; note?: string } {
    rangeOfWeight(source, scheme); // refuses NaN and Inf, naming the weight
    return roundWeight({ name: source.name, values: source.values, dims: source.dims, outputAxis: rounding.outputAxis, scheme, moments: rounding.moments }, rounding.options);
  }

  /**
   * The float tensor DequantizeLinear makes of `weight` in `scope` (emitted once per graph and
   * shared by the nodes there that read the same weight).
   */
  dequantized(weight: QuantizedWeight, scope: GraphScope, emit: (node: NodeProto) => void): string {
    const key = `dq\u0000${scope.path}\u0000${weight.quantized}`;
    const known = this.dequantizedNames.get(key);
    if (known) return known;
    const output = this.names.fresh(`${weight.quantized.replace(/_quantized$/, '')}_dequantized`);
    const attrs = weight.axis === undefined ? [] : [intAttr('axis', weight.axis), ...(weight.blockSize ? [intAttr('block_size', weight.blockSize)] : [])];
    const inputs = [weight.quantized, weight.scale, ...(weight.zeroPoint ? [weight.zeroPoint] : [])];
    emit(makeNode('DequantizeLinear', inputs, [output], this.names.fresh(`${output}_DequantizeLinear`), attrs));
    this.dequantizedNames.set(key, output);
    return output;
  }

  /**
   * A zero point initialiser for `weight` (zeros of its type and params shape), for the QOperator
   * ops that take it as a required input; added beside the weight once.
   */
  zeroPointOf(weight: QuantizedWeight, owner: GraphScope): string {
    if (weight.zeroPoint !== undefined) return weight.zeroPoint;
    const key = `zero\u0000${owner.path}\u0000${weight.quantized}`;
    const known = this.made.get(key);
    if (known) return known.quantized;
    const tensor = zeroPointTensor(this.names.fresh(`${weight.quantized}_zero_point`), ONNX_TYPE[weight.params.scheme.type], weight.params.shape, new Int32Array(weight.params.zeroPoint.length), packInt4);
    owner.graph.initializer.push(tensor);
    this.made.set(key, { ...weight, quantized: tensor.name! });
    return tensor.name!;
  }
}

/**
 * A bias quantized to int32 with scale inputScale x weightScale (per output channel), as
 * onnxruntime's quantizer does, so the integer product and the bias add in one accumulator.
 * Undefined when a value would not fit int32 (a tiny input scale with a large bias): the caller
 * keeps that bias in float.
 */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScale: Float32Array): { values: Int32Array; scale: Float32Array } | undefined {
  const n = bias.length;
  const scale = new Float32Array(weightScale.length === 1 ? 1 : n);
  const values = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.fround(inputScale * weightScale[weightScale.length === 1 ? 0 : i]);
    if (!(s > 0)) return undefined;
    scale[weightScale.length === 1 ? 0 : i] = s;
    const q = roundHalfToEven(Math.fround(bias[i] / s));
    if (!Number.isFinite(bias[i]) || Math.abs(q) > 2 ** 31 - 1) return undefined;
    values[i] = q;
  }
  return { values, scale };
}

/** Adds a quantized bias (int32 codes and float scales) to `scope`'s graph; returns the names. */
export function addQuantizedBias(names: NameSource, scope: GraphScope, biasName: string, bias: { values: Int32Array; scale: Float32Array }, withScale = true): { quantized: string; scale: string; bytes: number } {
  const base = sanitize(biasName);
  const quantized = int32Tensor(names.fresh(`${base}_quantized`), [bias.values.length], bias.values);
  scope.graph.initializer.push(quantized);
  if (!withScale) return { quantized: quantized.name!, scale: '', bytes: tensorByteLength(quantized) };
  const scale = floatTensor(names.fresh(`${base}_scale`), bias.scale.length === 1 ? [] : [bias.scale.length], bias.scale);
  scope.graph.initializer.push(scale);
  return { quantized: quantized.name!, scale: scale.name!, bytes: tensorByteLength(quantized) + tensorByteLength(scale) };
}
