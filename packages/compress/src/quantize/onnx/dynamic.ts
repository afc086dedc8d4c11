import { DataType, tensorValues, type NodeProto } from '@minnow/onnx';
import type { WeightLayout } from './layout.js';
import { findInitializer, floatAttribute, floatTensor, intAttr, intAttribute, makeNode } from './model-edit.js';
import { bitsOf, roundingRequest, scaleRange, weightScheme, type RewriteContext, type RewriteResult, type WeightChoice } from './rewrite.js';
import { floatWeightValues, type QuantizedWeight } from './weights.js';

/**
 * Dynamic quantization in QOperator form, as onnxruntime's quantize_dynamic writes it: the
 * activation is quantized at run time (DynamicQuantizeLinear: uint8, its own scale per call),
 * multiplied with int8 weights in int32 (MatMulInteger, ConvInteger), and the int32 product
 * scaled back by x_scale x w_scale (per output channel), then the bias is added in float.
 * Weights are int8, symmetric, per channel (or per tensor); 4-bit has no integer kernel here.
 */

/** Why dynamic quantization cannot take this node, if it cannot. */
export function dynamicUnsupported(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext): string | undefined {
  const bias = node.input[2];
  if (node.opType === 'Conv' && bias !== undefined && bias !== '' && layout.bias === undefined) return `its bias '${bias}' is not a constant of one value per channel`;
  if (node.opType === 'Gemm' && bias !== undefined && bias !== '' && findInitializer(ctx.scope, bias) === undefined && floatAttribute(node, 'beta', 1) !== 1) {
    return `its C input '${bias}' is not a constant and beta is not 1`;
  }
  if (choice.precision !== 'int8' || choice.blockSize !== undefined) return 'dynamic quantization multiplies int8 weights per channel or per tensor: int4 and blocked weights have no integer kernel';
  if (node.opType === 'Gemm' && intAttribute(node, 'transA', 0) !== 0) return 'Gemm with transA is not quantized dynamically';
  return undefined;
}

function transpose2d(values: Float32Array, rows: number, cols: number, factor: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] * factor;
  return out;
}

/**
 * The weight in the layout the integer kernel takes: as stored for Conv and MatMul; for Gemm as
 * [K, N] (transposed when transB) with alpha folded in, so one MatMulInteger computes alpha A B.
 */
function integerWeight(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext): QuantizedWeight {
  const values = floatWeightValues(layout.weight);
  const name = layout.weight.name ?? '';
  const base = { name, tensor: layout.weight, owner: layout.owner };
  if (node.opType !== 'Gemm') return ctx.weights.quantize({ ...base, form: '', values, dims: layout.weight.dims }, weightScheme(layout, choice), roundingRequest(ctx, node, layout, layout.outputAxis));
  const transB = intAttribute(node, 'transB', 0) !== 0;
  const alpha = floatAttribute(node, 'alpha', 1);
  const [d0, d1] = layout.weight.dims;
  const kn = transB ? transpose2d(values, d0, d1, alpha) : alpha === 1 ? values : values.map((v) => v * alpha);
  const form = `${transB ? 'T' : ''}${alpha === 1 ? '' : `alpha${alpha}`}`;
  const knLayout = { ...layout, outputAxis: 1, reduceAxis: 0 };
  return ctx.weights.quantize({ ...base, form, values: kn, dims: transB ? [d1, d0] : [d0, d1] }, weightScheme(knLayout, choice), roundingRequest(ctx, node, layout, 1));
}

export function rewriteDynamic(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext): RewriteResult {
  const { names, emit } = ctx;
  const label = node.name || node.output[0];
  const weight = integerWeight(node, layout, choice, ctx);
  const fresh = (what: string): string => names.fresh(`${label}_${what}`);
  const x = node.input[layout.activations[0]];
  const [xq, xScale, xZero] = [fresh('x_quantized'), fresh('x_scale'), fresh('x_zero_point')];
  emit(makeNode('DynamicQuantizeLinear', [x], [xq, xScale, xZero], fresh('DynamicQuantizeLinear')));
  const wInputs = [weight.quantized, ...(weight.zeroPoint ? [weight.zeroPoint] : [])];
  const accumulator = fresh('int32');
  const isConv = node.opType === 'Conv';
  if (isConv) {
    const keep = node.attribute.filter((a) => ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'].includes(a.name ?? ''));
    emit(makeNode('ConvInteger', [xq, wInputs[0], xZero, ...wInputs.slice(1)], [accumulator], fresh('ConvInteger'), keep));
  } else {
    emit(makeNode('MatMulInteger', [xq, wInputs[0], xZero, ...wInputs.slice(1)], [accumulator], fresh('MatMulInteger')));
  }
  const asFloat = fresh('float');
  emit(makeNode('Cast', [accumulator], [asFloat], fresh('Cast'), [intAttr('to', DataType.FLOAT)]));
  // A Conv's per-channel scale runs along the output's channel axis 1: [1, M, 1, ...].
  let wScale = weight.scale;
  const channels = weight.params.scale.length;
  if (isConv && channels > 1) {
    const spread = floatTensor(names.fresh(`${weight.scale}_per_channel`), [1, channels, ...layout.weight.dims.slice(2).map(() => 1)], weight.params.scale);
    ctx.scope.graph.initializer.push(spread);
    wScale = spread.name!;
  }
  const scale = fresh('scale');
  emit(makeNode('Mul', [xScale, wScale], [scale], fresh('scale_Mul')));
  const bias = biasInput(node, layout, ctx);
  const output = node.output[0];
  const product = bias === undefined ? output : fresh('product');
  const nodes = [makeNode('Mul', [asFloat, scale], [product], fresh('Mul'))];
  if (bias !== undefined) nodes.push(makeNode('Add', [product, bias], [output], fresh('bias_Add')));
  // Conv's bias and per-channel scales are copied in broadcastable shapes: count the copies.
  const copies = isConv ? (channels > 1 ? channels * 4 : 0) + (bias !== undefined ? weight.dims[0] * 4 : 0) : 0;
  return { nodes, weightBits: bitsOf(choice.precision), weightScale: scaleRange(weight), bytesAfter: weight.bytes + copies, ...(weight.note ? { note: weight.note } : {}) };
}

/** The float bias to add after the scaled product, shaped to broadcast (Conv: [1, M, 1 ...]; Gemm: beta C). */
function biasInput(node: NodeProto, layout: WeightLayout, ctx: RewriteContext): string | undefined {
  if (node.opType === 'MatMul') return undefined;
  const name = node.input[2];
  if (name === undefined || name === '') return undefined;
  const found = findInitializer(ctx.scope, name);
  const beta = node.opType === 'Gemm' ? floatAttribute(node, 'beta', 1) : 1;
  if (node.opType === 'Conv') {
    const values = tensorValues(found!.tensor) as Float32Array;
    const shaped = floatTensor(ctx.names.fresh(`${name}_per_channel`), [1, values.length, ...layout.weight.dims.slice(2).map(() => 1)], values);
    ctx.scope.graph.initializer.push(shaped);
    return shaped.name!;
  }
  if (beta === 1 || found === undefined) return name;
  const values = (tensorValues(found.tensor) as Float32Array).map((v) => v * beta);
  const scaled = floatTensor(ctx.names.fresh(`${name}_beta`), found.tensor.dims, values);
  ctx.scope.graph.initializer.push(scaled);
  return scaled.name!;
}
