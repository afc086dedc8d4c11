import type { NodeProto } from '../../ir/types.js';
import type { GraphIndex } from './graph-index.js';
import type { Rewrite } from './product.js';
import { dequantizeOf, isOp, isPerTensor, quantizeAfter } from './qdq.js';

/** Ops that only move, drop or relabel elements: they compute the same on quantized values. */
const MOVEMENT = ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity'];

/**
 * DequantizeLinear -> (Flatten | Reshape | Squeeze | Unsqueeze | Transpose | Identity) ->
 * QuantizeLinear with the same type, scale and zero point runs the op on the quantized values
 * instead: Q(DQ(q)) = q for the same parameters, and moving elements commutes with both, so the
 * result is exactly the same (onnxruntime's QDQ transformer drops these pairs too).
 */
export function dropQdqAroundMovement(index: GraphIndex, node: NodeProto, opset: number): Rewrite | undefined {
  if (!MOVEMENT.some((op) => isOp(node, op)) || node.output.length !== 1 || node.input.length < 1) return undefined;
  const dq = dequantizeOf(index, node.input[0], opset);
  const q = quantizeAfter(index, node.output[0], opset);
  if (dq === undefined || q === undefined || !isPerTensor(dq) || !isPerTensor(q)) return undefined;
  if (dq.elemType !== q.elemType || dq.scale[0] !== q.scale[0] || dq.zeroPoint[0] !== q.zeroPoint[0]) return undefined;
  return { nodes: [{ ...node, input: [dq.input, ...node.input.slice(1)], output: [q.node.output[0]] }], removed: [node, q.node] };
}
