import { MinnowError } from '@minnow/core';
import { DataType, tensorValues, type NodeProto } from '@minnow/onnx';
import { isSixteenBit } from './activations.js';
import type { WeightLayout } from './layout.js';
import { findInitializer, floatAttribute, floatTensor, intAttr, intAttribute, makeNode } from './model-edit.js';
import { missingRange } from './qdq.js';
import { bitsOf, quantizeStoredWeight, roundingRequest, scaleRange, weightScheme, type RewriteContext, type RewriteResult, type WeightChoice } from './rewrite.js';
import { addQuantizedBias, floatWeightValues, quantizeBias } from './weights.js';

/**
 * The static QOperator form: integer ops with the scales as inputs. Conv becomes QLinearConv
 * (int32 bias at scale x_scale x w_scale), MatMul QLinearMatMul (weight per column), both
 * writing quantized outputs at the output's calibrated scale, dequantized back to the original
 * name for float readers; a following QOperator node reads the codes directly. Gemm becomes
 * QuantizeLinear -> MatMulInteger -> one float multiply by the constant x_scale x w_scale -> bias
 * add, exact in int32, with no requantization of its output.
 */

/** Why the QOperator form cannot take this node (the caller falls back to QDQ), if it cannot. */
export function qoperatorUnsupported(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext): string | undefined {
  if (choice.precision !== 'int8' || choice.blockSize !== undefined) return 'int4 and blocked weights have no QOperator kernel';
  if (isSixteenBit(ctx.activations!.type)) return '16-bit activations have no QOperator kernel';
  const op = node.opType;
  if (op === 'Gemm') {
    if (intAttribute(node, 'transA', 0) !== 0) return 'Gemm with transA';
    const c = node.input[2];
    if (c !== undefined && c !== '' && findInitializer(ctx.scope, c) === undefined) return `Gemm's C '${c}' is not a constant`;
    return missingRange(node, layout.activations, ctx);
  }
  if (op === 'MatMul' && layout.weight.dims.length !== 2) return 'QLinearMatMul takes per-column scales of a 2-D weight only';
  if (op === 'Conv' && node.input[2] && layout.bias === undefined) return `Conv's bias '${node.input[2]}' is not a constant of one value per channel`;
  return missingRange(node, layout.activations, ctx) ?? (ctx.activations!.has(node.output[0]) ? undefined : `no calibrated range for its output '${node.output[0]}'`);
}

export function rewriteQOperator(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext): RewriteResult {
  if (node.opType === 'Gemm') return rewriteGemm(node, layout, choice, ctx);
  const { names } = ctx;
  const label = node.name || node.output[0];
  const weight = quantizeStoredWeight(ctx, node, layout, choice);
  const wZero = ctx.weights.zeroPointOf(weight, layout.owner);
  const x = ctx.activations!.quantized(ctx.scope, node.input[layout.activations[0]], ctx.emit);
  const y = ctx.activations!.output(ctx.scope, node.output[0]);
  const inputs = [x.quantized, x.scale, x.zeroPoint, weight.quantized, weight.scale, wZero, y.scale, y.zeroPoint];
  let bytesAfter = weight.bytes;
  let op = 'QLinearMatMul';
  let attrs = node.attribute;
  if (node.opType === 'Conv') {
    op = 'QLinearConv';
    if (layout.bias) {
      const quantized = quantizeBias(tensorValues(layout.bias.tensor) as Float32Array, x.params.scale, weight.params.scale);
      if (quantized === undefined) throw new MinnowError('INTERNAL', `quantize: bias of '${label}' does not fit int32 (qoperatorBiasFits should have sent it to QDQ)`);
      const added = addQuantizedBias(names, layout.bias.owner, layout.bias.tensor.name ?? 'bias', quantized, false);
      inputs.push(added.quantized);
      bytesAfter += added.bytes;
    }
  } else attrs = [];
  const integer = makeNode(op, inputs, [y.quantized], names.fresh(`${label}_${op}`), attrs);
  return { nodes: [integer, y.dequantize], weightBits: bitsOf(choice.precision), weightScale: scaleRange(weight), activationScale: x.params.scale, bytesAfter, ...(weight.note ? { note: weight.note } : {}) };
}

/** Whether the Conv bias fits int32 at x_scale x w_scale (else the node falls back to QDQ, whose bias can stay float). */
export function qoperatorBiasFits(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext): boolean {
  if (node.opType !== 'Conv' || layout.bias === undefined) return true;
  const weight = quantizeStoredWeight(ctx, node, layout, choice);
  const x = ctx.activations!.params(node.input[layout.activations[0]]);
  return quantizeBias(tensorValues(layout.bias.tensor) as Float32Array, x.scale, weight.params.scale) !== undefined;
}

function rewriteGemm(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext): RewriteResult {
  const { names } = ctx;
  const label = node.name || node.output[0];
  const fresh = (what: string): string => names.fresh(`${label}_${what}`);
  const transB = intAttribute(node, 'transB', 0) !== 0;
  const alpha = floatAttribute(node, 'alpha', 1);
  const values = floatWeightValues(layout.weight);
  const [d0, d1] = layout.weight.dims;
  const kn = new Float32Array(values.length);
  for (let r = 0; r < d0; r++) for (let c = 0; c < d1; c++) kn[transB ? c * d0 + r : r * d1 + c] = values[r * d1 + c] * alpha;
  const knLayout = { ...layout, outputAxis: 1, reduceAxis: 0 };
  const weight = ctx.weights.quantize({ name: layout.weight.name ?? '', tensor: layout.weight, owner: layout.owner, form: `KN${alpha === 1 ? '' : `alpha${alpha}`}`, values: kn, dims: transB ? [d1, d0] : [d0, d1] }, weightScheme(knLayout, choice), roundingRequest(ctx, node, layout, 1));
  const x = ctx.activations!.quantized(ctx.scope, node.input[0], ctx.emit);
  const accumulator = fresh('int32');
  ctx.emit(makeNode('MatMulInteger', [x.quantized, weight.quantized, x.zeroPoint, ...(weight.zeroPoint ? [weight.zeroPoint] : [])], [accumulator], fresh('MatMulInteger')));
  const asFloat = fresh('float');
  ctx.emit(makeNode('Cast', [accumulator], [asFloat], fresh('Cast'), [intAttr('to', DataType.FLOAT)]));
  const multiplier = floatTensor(names.fresh(`${label}_multiplier`), weight.params.shape, weight.params.scale.map((s) => Math.fround(s * x.params.scale)));
  ctx.scope.graph.initializer.push(multiplier);
  const c = node.input[2];
  const output = node.output[0];
  const product = c ? fresh('product') : output;
  const nodes = [makeNode('Mul', [asFloat, multiplier.name!], [product], fresh('Mul'))];
  let bytesAfter = weight.bytes + weight.params.scale.length * 4;
  if (c) {
    const found = findInitializer(ctx.scope, c)!;
    const beta = floatAttribute(node, 'beta', 1);
    let bias = c;
    if (beta !== 1) {
      const scaled = floatTensor(names.fresh(`${c}_beta`), found.tensor.dims, (tensorValues(found.tensor) as Float32Array).map((v) => v * beta));
      ctx.scope.graph.initializer.push(scaled);
      bias = scaled.name!;
      bytesAfter += found.tensor.dims.reduce((a, d) => a * d, 1) * 4;
    }
    nodes.push(makeNode('Add', [product, bias], [output], fresh('bias_Add')));
  }
  return { nodes, weightBits: bitsOf(choice.precision), weightScale: scaleRange(weight), activationScale: x.params.scale, bytesAfter, ...(weight.note ? { note: weight.note } : {}) };
}
