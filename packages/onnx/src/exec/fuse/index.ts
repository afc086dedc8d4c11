import { MinnowError } from '@minnow/core';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../../ir/types.js';
import { fuseConv } from './conv.js';
import { GraphIndex, namesIn } from './graph-index.js';
import { MICROSOFT_DOMAIN } from '../registry.js';
import { fuseMatMul } from './matmul.js';
import { dropQdqAroundMovement } from './movement.js';
import { reluMadeRedundant, type Rewrite } from './product.js';
import { isOp } from './qdq.js';

/**
 * Rewrites a QDQ model (QuantizeLinear/DequantizeLinear pairs around float ops, as quantizers
 * export them) so that its products run on integer kernels instead of dequantizing every weight
 * and activation back to float:
 *
 * - DequantizeLinear(x), DequantizeLinear(w) -> Gemm (constant 2-D weight) becomes onnxruntime's
 *   com.microsoft QGemm, bias in int32, requantized when a QuantizeLinear follows, float otherwise
 *   (the model then imports com.microsoft, version 1), as onnxruntime's QDQ transformer does;
 * - DequantizeLinear(x), DequantizeLinear(w) -> MatMul/Gemm/Conv -> QuantizeLinear becomes
 *   QLinearMatMul or QLinearConv (a bias, when there is one: Conv's in int32, Gemm's added in float
 *   between MatMulInteger's dequantization and the QuantizeLinear);
 * - the same without the QuantizeLinear becomes MatMulInteger/ConvInteger and a DequantizeLinear by
 *   the product of the scales (plus the bias);
 * - a Relu between a product and its QuantizeLinear is dropped when the QuantizeLinear already
 *   clips at zero (zero point at the type's lowest value);
 * - DequantizeLinear -> Flatten/Reshape/Transpose/... -> QuantizeLinear with equal parameters runs
 *   the op on the quantized values.
 *
 * - a QuantizeLinear after order-preserving ops (MaxPool, Flatten, Reshape, ...) behind a product
 *   moves up to the product, and those ops run on the quantized values (Q is monotone, so the
 *   result is the same), which lets the product requantize in its epilogue.
 *
 * Products of few terms (matrix products and grouped convolutions under MIN_DEPTH, depthwise ones
 * the usual case; ungrouped convolutions under 8) stay in float, where they are faster. Each
 * rewritten product agrees with the QDQ graph
 * run as written to within one quantization step of its output (the integer product is exact
 * where the float one rounds; the requantization rounds once), and no rewrite changes what the
 * graph's other nodes see. DequantizeLinear nodes and initialisers nothing reads any more are
 * removed. Returns a new model (the same one when there is nothing to rewrite); the input is not
 * changed. Subgraphs (If, Loop, Scan bodies) are rewritten too.
 */
export function fuseQuantized(model: ModelProto): ModelProto {
  if (model.graph === undefined) return model;
  const opset = model.opsetImport.find((o) => o.domain === undefined || o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;
  // QLinearMatMul, QLinearConv and the integer products arrived in opset 10; a float model has nothing to rewrite.
  if (opset < 10 || !hasQuantization(model.graph)) return model;
  const graph = fuseGraph(model.graph, new Map(), namesIn(model.graph), opset);
  if (graph === model.graph) return model;
  // QGemm lives in onnxruntime's contrib domain, which the model must then import.
  const opsetImport = usesDomain(graph, MICROSOFT_DOMAIN) && !model.opsetImport.some((o) => o.domain === MICROSOFT_DOMAIN)
    ? [...model.opsetImport, { domain: MICROSOFT_DOMAIN, version: 1 }]
    : model.opsetImport;
  return { ...model, graph, opsetImport };
}

function usesDomain(graph: GraphProto, domain: string): boolean {
  return graph.node.some((n) => n.domain === domain || n.attribute.some((a) => (a.g !== undefined && usesDomain(a.g, domain)) || a.graphs.some((g) => usesDomain(g, domain))));
}

function hasQuantization(graph: GraphProto): boolean {
  return graph.node.some((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear'
    || n.attribute.some((a) => (a.g !== undefined && hasQuantization(a.g)) || a.graphs.some(hasQuantization)));
}

function fuseGraph(graph: GraphProto, outerConstants: ReadonlyMap<string, TensorProto>, names: Set<string>, opset: number): GraphProto {
  const index = new GraphIndex(graph, outerConstants, names);
  const removed = new Set<NodeProto>();
  const replacements = new Map<NodeProto, NodeProto[]>();
  const apply = (rewrite: Rewrite | undefined): void => {
    if (rewrite === undefined || rewrite.removed.some((n) => removed.has(n))) return;
    for (const n of rewrite.removed) removed.add(n);
    replacements.set(rewrite.removed[0], rewrite.nodes);
  };
  for (const node of graph.node) {
    if (!removed.has(node)) apply(attempt(() => fuseConv(index, node, opset) ?? fuseMatMul(index, node, opset) ?? dropQdqAroundMovement(index, node, opset)));
  }
  // Redundant Relus elsewhere (after an Add, say): the QuantizeLinear reads the Relu's input instead.
  for (const node of graph.node) {
    if (removed.has(node) || !isOp(node, 'Relu')) continue;
    const q = attempt(() => reluMadeRedundant(index, node, opset));
    if (q === undefined || removed.has(q.node)) continue;
    apply({ removed: [node, q.node], nodes: [{ ...q.node, input: [node.input[0], ...q.node.input.slice(1)] }] });
  }

  let nodes = graph.node.flatMap((n) => replacements.get(n) ?? (removed.has(n) ? [] : [n]));
  nodes = withoutDeadDequantizes(index, nodes, removed);
  const rewritten = nodes.map((n) => fuseSubgraphs(n, index.visibleConstants, names, opset));
  const changed = removed.size > 0 || rewritten.some((n, i) => n !== nodes[i]);
  if (!changed) return graph;
  const read = new Set<string>([...rewritten.flatMap((n) => n.input), ...graph.output.map((v) => v.name ?? '')]);
  for (const n of rewritten) for (const a of n.attribute) for (const g of [...(a.g ? [a.g] : []), ...a.graphs]) for (const name of namesIn(g)) read.add(name);
  // Initialisers only the replaced nodes read (a weight transposed into a new one, say) go with
  // them, unless the graph lists them as inputs too (older models do): such an input would then
  // have to be fed.
  for (const v of graph.input) read.add(v.name ?? '');
  const readByRemoved = new Set([...removed].flatMap((n) => n.input));
  const added = new Set(index.addedInitializers);
  const initializer = [...graph.initializer, ...index.addedInitializers]
    .filter((t) => read.has(t.name ?? '') || (!readByRemoved.has(t.name ?? '') && !added.has(t)));
  return { ...graph, node: rewritten, initializer };
}

/**
 * A rewrite (or what it needs), or none where the model is one the session will refuse anyway (a
 * malformed attribute, a tensor whose external data is not loaded): that error is the session's
 * to report, with its own context, not the rewrite's.
 */
function attempt<T>(rewrite: () => T | undefined): T | undefined {
  try {
    return rewrite();
  } catch (error) {
    if (error instanceof MinnowError) return undefined;
    throw error;
  }
}

/** Drops DequantizeLinear nodes (and Constant nodes) whose outputs nothing reads once the rewrites are in. */
function withoutDeadDequantizes(index: GraphIndex, nodes: NodeProto[], removed: Set<NodeProto>): NodeProto[] {
  let current = nodes;
  for (;;) {
    const reads = new Set(current.flatMap((n) => n.input));
    const dead = current.filter((n) => (isOp(n, 'DequantizeLinear') || isOp(n, 'Constant')) && n.output.every((o) => o === '' || (!reads.has(o) && !index.isRead(o, removed))));
    if (dead.length === 0) return current;
    for (const n of dead) removed.add(n);
    current = current.filter((n) => !dead.includes(n));
  }
}

/** The node with the graphs in its attributes fused in their turn (the same node when nothing changes). */
function fuseSubgraphs(node: NodeProto, outerConstants: ReadonlyMap<string, TensorProto>, names: Set<string>, opset: number): NodeProto {
  let changed = false;
  const attribute = node.attribute.map((a) => {
    if (a.g === undefined && a.graphs.length === 0) return a;
    const g = a.g === undefined ? undefined : fuseGraph(a.g, outerConstants, names, opset);
    const graphs = a.graphs.map((sub) => fuseGraph(sub, outerConstants, names, opset));
    if (g === a.g && graphs.every((sub, i) => sub === a.graphs[i])) return a;
    changed = true;
    return { ...a, g, graphs };
  });
  return changed ? { ...node, attribute } : node;
}
