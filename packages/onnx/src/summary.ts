import type { GraphProto, ModelProto, TensorProto } from './ir/types.js';
import { dataTypeName, tensorByteLength, tensorElementCount } from './ir/tensor.js';
import { forEachTensor } from './ir/walk.js';

/** What a model holds, at a glance: the figures `minnow inspect` prints and reports compare. */
export interface ModelSummary {
  readonly irVersion: number | undefined;
  readonly producer: string;
  readonly opsets: readonly { domain: string; version: number }[];
  /** Nodes per op type, subgraphs (If/Loop/Scan bodies) and functions included, most frequent first. */
  readonly ops: readonly { op: string; count: number }[];
  readonly nodes: number;
  /** Elements in every stored tensor: initialisers and tensors in attributes (Constant nodes hold weights too). */
  readonly parameters: number;
  readonly tensors: number;
  /** Bytes of stored tensor data by element type. */
  readonly bytesByType: Readonly<Record<string, number>>;
}

function countOps(graph: GraphProto | undefined, counts: Map<string, number>): number {
  let nodes = 0;
  for (const node of graph?.node ?? []) {
    const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType ?? ''}` : node.opType ?? '';
    counts.set(op, (counts.get(op) ?? 0) + 1);
    nodes++;
    for (const a of node.attribute) {
      if (a.g) nodes += countOps(a.g, counts);
      for (const g of a.graphs) nodes += countOps(g, counts);
    }
  }
  return nodes;
}

export function summarizeModel(model: ModelProto): ModelSummary {
  const counts = new Map<string, number>();
  let nodes = countOps(model.graph, counts);
  for (const f of model.functions) nodes += countOps({ node: f.node } as GraphProto, counts);
  let parameters = 0;
  let tensors = 0;
  const bytesByType: Record<string, number> = {};
  forEachTensor(model, (t: TensorProto) => {
    tensors++;
    try {
      parameters += tensorElementCount(t);
      const type = dataTypeName(t.dataType);
      const bytes = type === 'string' ? t.stringData.reduce((n, s) => n + s.length, 0) : tensorByteLength(t);
      bytesByType[type] = (bytesByType[type] ?? 0) + bytes;
    } catch {
      // a tensor of an unknown type or malformed dims: counted, not sized
    }
  });
  return {
    irVersion: model.irVersion,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opsets: model.opsetImport.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version ?? 1 })),
    ops: [...counts].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    nodes,
    parameters,
    tensors,
    bytesByType,
  };
}
