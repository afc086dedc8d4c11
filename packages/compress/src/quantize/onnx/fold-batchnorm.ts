import { DataType, tensorValues, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '@minnow/onnx';
import { findInitializer, floatAttr, floatAttribute, floatTensor, graphScopes, intAttribute, setAttribute, subgraphs, type GraphScope, type NameSource } from './model-edit.js';

/**
 * Folds inference-mode BatchNormalization into the Conv, Gemm or ConvTranspose (group 1) that
 * feeds it, before quantization, so the weights are quantized once with the normalisation in
 * them: with f = scale / sqrt(var + eps) per channel, W' = W f along the output-channel axis and
 * b' = (b - mean) f + B (Gemm: (beta C - mean) f + B, beta set to 1). Computed in float64, rounded
 * once to float32. A BN whose input has other readers, or whose parameters are not constants,
 * stays as it is.
 */

interface Folded {
  readonly count: number;
  /** Initialisers the folded nodes no longer read (removed later if nothing else does). */
  readonly replaced: ReadonlySet<string>;
}

/** Names every node of `graph` (and of its subgraphs) reads, with how often. */
function readers(graph: GraphProto): Map<string, number> {
  const counts = new Map<string, number>();
  const visit = (g: GraphProto): void => {
    for (const node of g.node) {
      for (const i of node.input) counts.set(i, (counts.get(i) ?? 0) + 1);
      for (const sub of subgraphs(node)) visit(sub.graph);
    }
    for (const o of g.output) counts.set(o.name ?? '', (counts.get(o.name ?? '') ?? 0) + 1);
  };
  visit(graph);
  return counts;
}

function floatConstant(scope: GraphScope, name: string | undefined): Float32Array | undefined {
  if (name === undefined || name === '') return undefined;
  const found = findInitializer(scope, name);
  if (found === undefined || found.tensor.dataType !== DataType.FLOAT) return undefined;
  return tensorValues(found.tensor) as Float32Array;
}

/** Output-channel axis of the producer's weight, or undefined when it cannot be folded into. */
function outputAxis(producer: NodeProto, weight: TensorProto): number | undefined {
  if (producer.opType === 'Conv') return 0;
  if (producer.opType === 'ConvTranspose') return intAttribute(producer, 'group', 1) === 1 ? 1 : undefined;
  if (producer.opType === 'Gemm') return weight.dims.length === 2 ? (intAttribute(producer, 'transB', 0) !== 0 ? 0 : 1) : undefined;
  return undefined;
}

function foldOne(scope: GraphScope, bn: NodeProto, producer: NodeProto, names: NameSource, replaced: Set<string>): boolean {
  if (bn.output.filter((o) => o !== '').length !== 1 || intAttribute(bn, 'training_mode', 0) !== 0) return false;
  const weightName = producer.input[1];
  const weight = findInitializer(scope, weightName);
  if (weight === undefined || weight.tensor.dataType !== DataType.FLOAT) return false;
  const axis = outputAxis(producer, weight.tensor);
  if (axis === undefined) return false;
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => floatConstant(scope, bn.input[i]));
  const channels = weight.tensor.dims[axis];
  if (![gamma, beta, mean, variance].every((p) => p !== undefined && p.length === channels)) return false;
  const biasName = producer.input[2];
  const hasBias = biasName !== undefined && biasName !== '';
  const bias = hasBias ? floatConstant(scope, biasName) : new Float32Array(channels);
  if (bias === undefined || bias.length !== channels) return false;
  const epsilon = floatAttribute(bn, 'epsilon', 1e-5);
  const gemmBeta = producer.opType === 'Gemm' ? floatAttribute(producer, 'beta', 1) : 1;
  const factor = Float64Array.from(gamma!, (g, c) => g / Math.sqrt(variance![c] + epsilon));
  const w = tensorValues(weight.tensor) as Float32Array;
  const inner = weight.tensor.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const folded = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) folded[i] = w[i] * factor[Math.floor(i / inner) % channels];
  const foldedBias = Float32Array.from(bias, (b, c) => (gemmBeta * b - mean![c]) * factor[c] + beta![c]);
  const newWeight = floatTensor(names.fresh(`${weightName}_bn_folded`), weight.tensor.dims, folded);
  const newBias = floatTensor(names.fresh(`${hasBias ? biasName : `${producer.name || producer.output[0]}_bias`}_bn_folded`), [channels], foldedBias);
  scope.graph.initializer.push(newWeight, newBias);
  replaced.add(weightName);
  if (hasBias) replaced.add(biasName);
  for (const i of [1, 2, 3, 4]) replaced.add(bn.input[i]);
  producer.input[1] = newWeight.name!;
  producer.input[2] = newBias.name!;
  if (producer.opType === 'Gemm') setAttribute(producer, floatAttr('beta', 1));
  scope.graph.valueInfo = scope.graph.valueInfo.filter((v) => v.name !== producer.output[0]);
  producer.output[0] = bn.output[0];
  return true;
}

/** Folds every BatchNormalization it can, in every graph (subgraphs included), in place on `model`. */
export function foldBatchNorms(model: ModelProto, names: NameSource): Folded {
  const replaced = new Set<string>();
  let count = 0;
  for (const scope of graphScopes(model)) {
    const graph = scope.graph;
    const reads = readers(graph);
    const producers = new Map<string, NodeProto>();
    for (const node of graph.node) for (const o of node.output) producers.set(o, node);
    const removed = new Set<NodeProto>();
    for (const node of graph.node) {
      if (node.opType !== 'BatchNormalization' || (node.domain ?? '') !== '') continue;
      const producer = producers.get(node.input[0]);
      if (producer === undefined || !['Conv', 'Gemm', 'ConvTranspose'].includes(producer.opType ?? '') || removed.has(producer)) continue;
      if (reads.get(node.input[0]) !== 1 || producer.output[0] !== node.input[0]) continue;
      if (foldOne(scope, node, producer, names, replaced)) {
        removed.add(node);
        count++;
      }
    }
    graph.node = graph.node.filter((n) => !removed.has(n));
  }
  return { count, replaced };
}
