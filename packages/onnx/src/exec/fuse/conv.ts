import { roundHalfToEven } from '@minnow/core';
import { DataType, type NodeProto } from '../../ir/types.js';
import { makeTensor, tensorValues } from '../../ir/tensor.js';
import { intAttribute, makeNode, type GraphIndex } from './graph-index.js';
import { MIN_DEPTH, outputNodes, productOutput, quantizedChain, type Rewrite } from './product.js';
import { dequantizeOf, floatInitializer, isOp, isPerTensor, productZeroPoint, zeroPointName, type QuantParams } from './qdq.js';

/**
 * An ungrouped convolution runs on the integer kernel from this many terms per output (a first 3x3
 * convolution over one channel has 9): its requantization happens in the product's epilogue, and
 * its patches are gathered as bytes, so even these beat the float convolution and the
 * QuantizeLinear pass after it. Grouped ones (depthwise) keep MIN_DEPTH: they run one product per
 * group and requantize in two passes.
 */
const MIN_CONV_DEPTH = 8;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A constant bias's float values: a float32 initialiser, or DequantizeLinear of a constant int32 one (per tensor or per channel). */
function biasValues(index: GraphIndex, name: string, channels: number, opset: number): Float32Array | undefined {
  const constant = index.constant(name);
  if (constant !== undefined) {
    const values = constant.dataType === DataType.FLOAT ? (tensorValues(constant) as Float32Array) : undefined;
    return values?.length === channels ? values : undefined;
  }
  const producer = index.producer(name);
  if (!isOp(producer, 'DequantizeLinear')) return undefined;
  const q = biasDequantize(index, producer, opset);
  if (q === undefined || q.values.length !== channels) return undefined;
  return Float32Array.from(q.values, (v, c) => (v - q.zero[q.zero.length === 1 ? 0 : c]) * q.scale[q.scale.length === 1 ? 0 : c]);
}

/** DequantizeLinear of a constant int32 [channels] bias. */
function biasDequantize(index: GraphIndex, node: NodeProto, opset: number): { values: Int32Array; scale: Float32Array; zero: ArrayLike<number> } | undefined {
  const [input, scaleName, zeroName] = node.input;
  const values = index.constant(input ?? '');
  const scale = index.constant(scaleName ?? '');
  const zero = zeroName ? index.constant(zeroName) : undefined;
  if (values?.dataType !== DataType.INT32 || values.dims.length !== 1 || scale?.dataType !== DataType.FLOAT || (zeroName && zero === undefined)) return undefined;
  const scaleValues = tensorValues(scale) as Float32Array;
  if (scaleValues.length !== 1 && (opset < 13 || scaleValues.length !== values.dims[0])) return undefined;
  if (opset >= 21 && node.attribute.some((a) => a.name === 'block_size' && Number(a.i ?? 0) > 0)) return undefined;
  return { values: tensorValues(values) as Int32Array, scale: scaleValues, zero: zero === undefined ? [0] : (tensorValues(zero) as Int32Array) };
}

/**
 * The bias as QLinearConv's (or QGemm's) int32 [M] in the accumulator's scale x_scale * w_scale[m]: a
 * DequantizeLinear'd int32 bias in exactly that scale (as quantizers write it) is taken as it is;
 * any other constant bias is rounded into it (an error of at most half an accumulator step,
 * far below one output step).
 */
export function integerBias(index: GraphIndex, name: string, x: QuantParams, w: QuantParams, channels: number, opset: number): string | undefined {
  const accumulatorScale = Float32Array.from({ length: channels }, (_, c) => Math.fround(x.scale[0] * w.scale[w.scale.length === 1 ? 0 : c]));
  const producer = index.producer(name);
  const direct = isOp(producer, 'DequantizeLinear') ? biasDequantize(index, producer, opset) : undefined;
  if (direct !== undefined && direct.values.length === channels && Array.from(direct.zero).every((z) => z === 0)
    && accumulatorScale.every((s, c) => s === direct.scale[direct.scale.length === 1 ? 0 : c])) {
    return producer?.input[0];
  }
  const values = biasValues(index, name, channels, opset);
  if (values === undefined) return undefined;
  const rounded = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    const q = roundHalfToEven(values[c] / accumulatorScale[c]);
    if (!Number.isFinite(q) || q < INT32_MIN || q > INT32_MAX) return undefined;
    rounded[c] = q;
  }
  return index.addInitializer(`${name}_int32`, makeTensor('', DataType.INT32, [channels], new Uint8Array(rounded.buffer)));
}

/**
 * DequantizeLinear on Conv's input and (constant) weight, rewritten to run on the integer
 * convolution: requantized by a QuantizeLinear (through a redundant Relu or not), it becomes
 * QLinearConv with the bias in int32; left in float, ConvInteger, then DequantizeLinear by
 * x_scale * w_scale per output channel, then Add the bias. x per tensor; w per tensor or per
 * output channel (axis 0), as QLinearConv takes them. onnxruntime's QDQ transformer makes the same
 * QLinearConv of the first form.
 */
export function fuseConv(index: GraphIndex, node: NodeProto, opset: number): Rewrite | undefined {
  if (!isOp(node, 'Conv') || node.output.length !== 1 || node.input.length < 2) return undefined;
  const x = dequantizeOf(index, node.input[0], opset);
  const w = dequantizeOf(index, node.input[1], opset);
  const weight = w === undefined ? undefined : index.constant(w.input);
  if (x === undefined || w === undefined || weight === undefined || !isPerTensor(x) || weight.dims.length < 3) return undefined;
  if (!isPerTensor(w) && w.axis !== 0) return undefined;
  const grouped = (node.attribute.find((a) => a.name === 'group')?.i ?? 1n) !== 1n;
  if (weight.dims.slice(1).reduce((a, b) => a * b, 1) < (grouped ? MIN_DEPTH : MIN_CONV_DEPTH)) return undefined;
  const channels = weight.dims[0];
  const bias = node.input[2] || undefined;
  const out = productOutput(index, node.output[0], opset);
  const removed = [node, ...outputNodes(out)];
  const label = node.name || node.output[0];

  if (out.quantize !== undefined) {
    const integer = bias === undefined ? undefined : integerBias(index, bias, x, w, channels, opset);
    if (bias !== undefined && integer === undefined) return undefined;
    const q = out.quantize;
    const inputs = [x.input, x.scaleName, zeroPointName(index, x), w.input, w.scaleName, zeroPointName(index, w), q.scaleName, zeroPointName(index, q)];
    const { productName, nodes: chain } = quantizedChain(index, out, label);
    const fused = makeNode('QLinearConv', index.freshName(`${label}_qlinear`), integer === undefined ? inputs : [...inputs, integer], [productName], node.attribute);
    return { nodes: [fused, ...chain], removed };
  }

  if (!isPerTensor(w) && opset < 13) return undefined;
  const accumulator = index.freshName(`${label}_int32`);
  const nodes = [makeNode('ConvInteger', index.freshName(`${label}_integer`), [x.input, w.input, productZeroPoint(index, x), productZeroPoint(index, w)], [accumulator], node.attribute)];
  const product = Float32Array.from(w.scale, (s) => Math.fround(x.scale[0] * s));
  const scale = floatInitializer(index, `${label}_product_scale`, product, isPerTensor(w) ? [] : [channels]);
  const floatName = bias === undefined ? out.name : index.freshName(`${label}_float`);
  nodes.push(makeNode('DequantizeLinear', index.freshName(`${label}_dequantize`), [accumulator, scale], [floatName], isPerTensor(w) ? [] : [intAttribute('axis', 1)]));
  if (bias !== undefined) {
    // Conv's bias is [M]; against [N, M, ...spatial] it broadcasts as [M, 1, ...].
    const shape = index.addInitializer(`${label}_bias_shape`, makeTensor('', DataType.INT64, [weight.dims.length - 1],
      new Uint8Array(BigInt64Array.from([BigInt(channels), ...weight.dims.slice(2).map(() => 1n)]).buffer)));
    const column = index.freshName(`${label}_bias_column`);
    nodes.push(makeNode('Reshape', index.freshName(`${label}_bias_reshape`), [bias, shape], [column]));
    nodes.push(makeNode('Add', index.freshName(`${label}_bias`), [floatName, column], [out.name]));
  }
  return { nodes, removed };
}
