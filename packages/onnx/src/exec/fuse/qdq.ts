import { DataType, type NodeProto, type TensorProto } from '../../ir/types.js';
import { makeTensor, tensorValues } from '../../ir/tensor.js';
import type { GraphIndex } from './graph-index.js';

/**
 * The quantization parameters of a QuantizeLinear or DequantizeLinear node, when the rewrites can
 * use them: constant float32 scale and zero point, 8-bit integer type, per tensor or per axis (never
 * blocked).
 */
export interface QuantParams {
  readonly node: NodeProto;
  /** DequantizeLinear: the integer input; QuantizeLinear: the float input. */
  readonly input: string;
  readonly scaleName: string;
  readonly scale: Float32Array;
  readonly scaleDims: readonly number[];
  readonly zeroPointName: string | undefined;
  /** One per scale; zeros when the node has no zero point. */
  readonly zeroPoint: readonly number[];
  /** The integer type: INT8 or UINT8. */
  readonly elemType: number;
  /** Undefined per tensor; the axis (in [0, rank)) per axis. */
  readonly axis: number | undefined;
}

const EIGHT_BIT = new Set<number>([DataType.INT8, DataType.UINT8]);

export const quantizedRange = (elemType: number): readonly [number, number] => (elemType === DataType.INT8 ? [-128, 127] : [0, 255]);

const inDefaultDomain = (node: NodeProto): boolean => node.domain === undefined || node.domain === '' || node.domain === 'ai.onnx';

export const isOp = (node: NodeProto | undefined, opType: string): node is NodeProto => node !== undefined && node.opType === opType && inDefaultDomain(node);

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a?.i === undefined ? fallback : Number(a.i);
}

/** The integer type a QuantizeLinear node writes: its zero point's, else output_dtype (opset 21), else uint8. */
function quantizeOutputType(index: GraphIndex, node: NodeProto, opset: number): number | undefined {
  const zero = node.input[2] ? index.constant(node.input[2]) : undefined;
  if (node.input[2] && zero === undefined) return undefined;
  if (zero !== undefined) return zero.dataType;
  const declared = opset >= 21 ? intAttr(node, 'output_dtype', 0) : 0;
  return declared || DataType.UINT8;
}

/** The element type of `name` as far as the graph says: a constant's, or a QuantizeLinear output's. */
function integerTypeOf(index: GraphIndex, name: string, opset: number): number | undefined {
  const constant = index.constant(name);
  if (constant !== undefined) return constant.dataType;
  const producer = index.producer(name);
  if (isOp(producer, 'QuantizeLinear') && producer.output[0] === name) return quantizeOutputType(index, producer, opset);
  const info = [...index.graph.input, ...index.graph.valueInfo].find((v) => v.name === name);
  return info?.type?.tensorType?.elemType;
}

function readParams(index: GraphIndex, node: NodeProto, opset: number, elemType: number | undefined, rank: number | undefined): QuantParams | undefined {
  if (elemType === undefined || !EIGHT_BIT.has(elemType)) return undefined;
  const [input, scaleName, zeroName] = node.input;
  const scaleTensor = index.constant(scaleName ?? '');
  if (!input || scaleTensor === undefined || scaleTensor.dataType !== DataType.FLOAT) return undefined;
  if (opset >= 21 && intAttr(node, 'block_size', 0) > 0) return undefined;
  let zeroTensor: TensorProto | undefined;
  if (zeroName) {
    zeroTensor = index.constant(zeroName);
    if (zeroTensor === undefined || zeroTensor.dataType !== elemType || zeroTensor.dims.join() !== scaleTensor.dims.join()) return undefined;
  }
  const scale = tensorValues(scaleTensor) as Float32Array;
  const zeroPoint = zeroTensor === undefined ? new Array<number>(scale.length).fill(0) : Array.from(tensorValues(zeroTensor) as ArrayLike<number>);
  let axis: number | undefined;
  if (scale.length !== 1) {
    if (opset < 13 || scaleTensor.dims.length !== 1 || rank === undefined) return undefined;
    const raw = intAttr(node, 'axis', 1);
    if (raw < -rank || raw >= rank) return undefined;
    axis = raw < 0 ? raw + rank : raw;
  }
  return { node, input, scaleName, scale, scaleDims: scaleTensor.dims, zeroPointName: zeroName || undefined, zeroPoint, elemType, axis };
}

/** The DequantizeLinear node producing `name`, with its parameters; `rank` is its input's rank when known. */
export function dequantizeOf(index: GraphIndex, name: string, opset: number): QuantParams | undefined {
  const node = index.producer(name);
  if (!isOp(node, 'DequantizeLinear') || node.output[0] !== name) return undefined;
  const input = node.input[0] ?? '';
  const constant = index.constant(input);
  const elemType = node.input[2] ? index.constant(node.input[2])?.dataType : integerTypeOf(index, input, opset);
  return readParams(index, node, opset, elemType, constant?.dims.length);
}

/** The QuantizeLinear node that is the sole reader of `name` (reading it as x), per tensor, with its parameters. */
export function quantizeAfter(index: GraphIndex, name: string, opset: number): QuantParams | undefined {
  const node = index.soleReader(name);
  if (!isOp(node, 'QuantizeLinear') || node.input[0] !== name) return undefined;
  const params = readParams(index, node, opset, quantizeOutputType(index, node, opset), undefined);
  return params?.axis === undefined ? params : undefined;
}

/** The zero point's name, or a new all-zero initialiser shaped like the scale (the QLinear ops take their zero points explicitly). */
export function zeroPointName(index: GraphIndex, p: QuantParams): string {
  if (p.zeroPointName !== undefined) return p.zeroPointName;
  const bytes = new Uint8Array(p.scale.length);
  return index.addInitializer(`${p.input}_zero_point`, makeTensor('', p.elemType, p.scaleDims, bytes));
}

/**
 * For the integer products (whose zero points are optional): '' when every zero point is 0, a
 * scalar when they are all equal (onnxruntime's ConvInteger takes only a per-tensor weight zero
 * point), else the per-channel zero points.
 */
export function productZeroPoint(index: GraphIndex, p: QuantParams): string {
  if (p.zeroPoint.every((z) => z === 0)) return '';
  if (p.zeroPoint.length === 1 || p.zeroPoint.some((z) => z !== p.zeroPoint[0])) return zeroPointName(index, p);
  const value = p.elemType === DataType.INT8 ? Int8Array.of(p.zeroPoint[0]) : Uint8Array.of(p.zeroPoint[0]);
  return index.addInitializer(`${p.input}_zero_point`, makeTensor('', p.elemType, [], new Uint8Array(value.buffer)));
}

/** A new float32 initialiser of `dims` holding `values`; returns its name. */
export function floatInitializer(index: GraphIndex, base: string, values: Float32Array, dims: readonly number[]): string {
  return index.addInitializer(base, makeTensor('', DataType.FLOAT, dims, new Uint8Array(values.buffer.slice(0))));
}

export const isPerTensor = (p: QuantParams): boolean => p.axis === undefined;

/** Every scale strictly positive: quantization is then monotone, and saturation at qmin clips what Relu clips. */
export const hasPositiveScales = (p: QuantParams): boolean => p.scale.every((s) => s > 0);
