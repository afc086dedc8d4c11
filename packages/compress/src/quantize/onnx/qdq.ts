import { tensorValues, type NodeProto } from '@minnow/onnx';
import type { WeightLayout } from './layout.js';
import { intAttr, makeNode } from './model-edit.js';
import { bitsOf, quantizeStoredWeight, scaleRange, type RewriteContext, type RewriteResult, type WeightChoice } from './rewrite.js';
import { addQuantizedBias, quantizeBias } from './weights.js';

/**
 * The QDQ form: the float op stays, and reads DequantizeLinear of int8/int4 weights (per
 * channel, or blocked at opset 21) and, when static, QuantizeLinear -> DequantizeLinear of its
 * activation inputs with calibrated scales and a bias quantized to int32 with scale
 * input scale x weight scale. onnxruntime fuses such patterns into integer kernels; without
 * activation pairs it is weight-only quantization (the file shrinks, the op computes in float).
 */

/** Opset a DequantizeLinear of this weight needs: 21 for 4-bit or blocked, 13 per axis, else 10. */
export function dequantizeOpset(choice: WeightChoice): number {
  if (choice.precision === 'int4' || choice.blockSize !== undefined) return 21;
  return choice.perChannel ? 13 : 10;
}

/** Why static QDQ cannot quantize this node's activations, if it cannot (a missing calibrated range). */
export function missingRange(node: NodeProto, indices: readonly number[], ctx: RewriteContext): string | undefined {
  for (const i of indices) {
    const name = node.input[i];
    if (!ctx.activations!.has(name)) return `no calibrated range for its input '${name}'`;
  }
  return undefined;
}

/**
 * Rewrites a Conv, MatMul or Gemm into QDQ form; `quantizeActivations` adds the activation pairs
 * and the int32 bias (static), else only the weight is quantized (weight-only).
 */
export function rewriteQdq(node: NodeProto, layout: WeightLayout, choice: WeightChoice, ctx: RewriteContext, quantizeActivations: boolean): RewriteResult {
  const weight = quantizeStoredWeight(ctx, node, layout, choice);
  const rewritten: NodeProto = { ...node, input: [...node.input] };
  rewritten.input[layout.weightIndex] = ctx.weights.dequantized(weight, ctx.scope, ctx.emit);
  let bytesAfter = weight.bytes;
  let activationScale: number | undefined;
  let note: string | undefined;
  if (quantizeActivations) {
    for (const i of layout.activations) {
      const { name, entry } = ctx.activations!.dequantized(ctx.scope, node.input[i], ctx.emit);
      rewritten.input[i] = name;
      if (i === layout.activations[0]) activationScale = entry.params.scale;
    }
    const bias = layout.bias;
    if (bias && activationScale !== undefined && weight.blockSize === undefined) {
      const values = tensorValues(bias.tensor) as Float32Array;
      const quantized = quantizeBias(values, activationScale, weight.params.scale);
      if (quantized === undefined) note = `bias '${bias.tensor.name ?? ''}' kept in float: it does not fit int32 at scale input x weight`;
      else {
        const added = addQuantizedBias(ctx.names, bias.owner, bias.tensor.name ?? 'bias', quantized);
        const output = ctx.names.fresh(`${bias.tensor.name ?? 'bias'}_dequantized`);
        const attrs = quantized.scale.length > 1 ? [intAttr('axis', 0)] : [];
        ctx.emit(makeNode('DequantizeLinear', [added.quantized, added.scale], [output], ctx.names.fresh(`${output}_DequantizeLinear`), attrs));
        rewritten.input[bias.index] = output;
        bytesAfter += added.bytes;
      }
    }
  }
  return {
    nodes: [rewritten],
    weightBits: bitsOf(choice.precision),
    weightScale: scaleRange(weight),
    activationScale,
    bytesAfter,
    note: [weight.note, note].filter((n) => n !== undefined).join('; ') || undefined,
  };
}

/** Static QDQ on an op without weights (Add, Mul, pooling ...): its float inputs read through activation pairs. */
export function rewriteActivationQdq(node: NodeProto, indices: readonly number[], ctx: RewriteContext): RewriteResult {
  const rewritten: NodeProto = { ...node, input: [...node.input] };
  let activationScale: number | undefined;
  for (const i of indices) {
    const { name, entry } = ctx.activations!.dequantized(ctx.scope, node.input[i], ctx.emit);
    rewritten.input[i] = name;
    activationScale ??= entry.params.scale;
  }
  return { nodes: [rewritten], weightBits: 0, weightScale: { min: 0, max: 0 }, activationScale, bytesAfter: 0 };
}
