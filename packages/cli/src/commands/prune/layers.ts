import { PRUNABLE_OPS } from '@minnow/compress';
import {
  tensorByteLength, tensorElementCount, tensorValues, type GraphProto, type ModelProto, type NodeProto, type SparseTensorProto, type TensorProto,
} from '@minnow/onnx';
import { formatBytes, formatCount, formatTable } from '../../format.js';

/**
 * The per-layer view `minnow prune` prints: every Conv, MatMul and Gemm whose weight is a stored
 * tensor, measured from the model itself (before and after), so the table shows what the written
 * file holds whichever path made it: weights pruned in place, layers shrunk, weights moved to
 * sparse initialisers, or a model fine-tuned and exported again.
 */

/** One weight-carrying layer as stored in a model. */
export interface LayerWeight {
  /** The node's name, or `<graph path>:<op>#<index>` as pruneOnnx's report names it. */
  readonly layer: string;
  readonly op: string;
  readonly weight: string;
  readonly shape: readonly number[];
  readonly params: number;
  readonly zeros: number;
  /** Bytes of the weight's data as stored: raw dense bytes, or values plus indices when sparse. */
  readonly bytes: number;
  readonly storage: 'dense' | 'sparse';
}

/** One row of the before/after table (and of --json's `layers`). */
export interface PruneLayerRow {
  readonly layer: string;
  readonly op: string;
  readonly weight: string;
  readonly shapeBefore: readonly number[];
  readonly shapeAfter: readonly number[];
  readonly paramsBefore: number;
  readonly paramsAfter: number;
  readonly sparsityBefore: number;
  readonly sparsityAfter: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly storage: 'dense' | 'sparse';
  /** Why the layer was left as it was, or what happened to it. */
  readonly note?: string;
}

export interface PruneTotals {
  readonly layers: number;
  readonly paramsBefore: number;
  readonly paramsAfter: number;
  /** Non-zero weights of the layers, before and after. */
  readonly nonZeroBefore: number;
  readonly nonZeroAfter: number;
  readonly sparsityBefore: number;
  readonly sparsityAfter: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

interface Scope {
  readonly graph: GraphProto;
  readonly parent?: Scope;
  readonly path: string;
}

/** The weight a node reads as its second input: an initialiser (dense or sparse), possibly through a Transpose (how exportModule writes a Linear on 3-D input). */
function weightOf(scope: Scope, node: NodeProto, producers: ReadonlyMap<string, NodeProto>): { name: string; dense?: TensorProto; sparse?: SparseTensorProto } | undefined {
  let name = node.input[1] ?? '';
  const via = producers.get(name);
  if (via?.opType === 'Transpose') name = via.input[0] ?? '';
  for (let s: Scope | undefined = scope; s && name; s = s.parent) {
    const dense = s.graph.initializer.find((t) => t.name === name);
    if (dense) return { name, dense };
    const sparse = s.graph.sparseInitializer.find((t) => t.values?.name === name);
    if (sparse) return { name, sparse };
  }
  return undefined;
}

function countZeros(t: TensorProto): number {
  const values = tensorValues(t) as ArrayLike<number | bigint | boolean>;
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0 || values[i] === 0n || values[i] === false) zeros++;
  return zeros;
}

function measure(scope: Scope, node: NodeProto, index: number, producers: ReadonlyMap<string, NodeProto>): LayerWeight | undefined {
  const found = weightOf(scope, node, producers);
  if (!found) return undefined;
  const op = node.opType ?? '';
  const layer = node.name || `${scope.path}:${op}#${index}`;
  if (found.dense) {
    const params = tensorElementCount(found.dense);
    return { layer, op, weight: found.name, shape: [...found.dense.dims], params, zeros: countZeros(found.dense), bytes: tensorByteLength(found.dense), storage: 'dense' };
  }
  const sparse = found.sparse!;
  const params = sparse.dims.reduce((a, b) => a * b, 1);
  const nonZero = sparse.values ? tensorElementCount(sparse.values) : 0;
  const bytes = (sparse.values ? tensorByteLength(sparse.values) : 0) + (sparse.indices ? tensorByteLength(sparse.indices) : 0);
  return { layer, op, weight: found.name, shape: [...sparse.dims], params, zeros: params - nonZero, bytes, storage: 'sparse' };
}

/** Every Conv/MatMul/Gemm with a stored weight, in graph order, subgraphs (If, Loop bodies) after the node that holds them. */
export function layerWeights(model: ModelProto): LayerWeight[] {
  const out: LayerWeight[] = [];
  const visit = (scope: Scope): void => {
    const producers = new Map<string, NodeProto>();
    for (const node of scope.graph.node) for (const o of node.output) producers.set(o, node);
    scope.graph.node.forEach((node, index) => {
      if (PRUNABLE_OPS.includes(node.opType ?? '') && ((node.domain ?? '') === '' || node.domain === 'ai.onnx')) {
        const row = measure(scope, node, index, producers);
        if (row) out.push(row);
      }
      for (const a of node.attribute) {
        for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) visit({ graph: g, parent: scope, path: `${scope.path}/${node.name || `${node.opType ?? '?'}#${index}`}.${a.name ?? ''}` });
      }
    });
  };
  if (model.graph) visit({ graph: model.graph, path: 'main' });
  return out;
}

/** Parameters of the whole model: the elements of every initialiser, dense or sparse, in every graph. */
export function modelParameters(model: ModelProto): number {
  let n = 0;
  const visit = (graph: GraphProto): void => {
    for (const t of graph.initializer) n += tensorElementCount(t);
    for (const s of graph.sparseInitializer) n += s.dims.reduce((a, b) => a * b, 1);
    for (const node of graph.node) for (const a of node.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) visit(g);
  };
  if (model.graph) visit(model.graph);
  return n;
}

/**
 * The table rows: before and after paired by position (pruning changes no layer's place: pruneOnnx
 * and pruneChannelsOnnx edit the graph in place, and a fine-tuned model is exported layer for
 * layer), named as in the input model. `notes` are keyed by the input model's layer names.
 */
export function pairLayers(before: readonly LayerWeight[], after: readonly LayerWeight[], notes: ReadonlyMap<string, string>): PruneLayerRow[] {
  const rows: PruneLayerRow[] = [];
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    const b = before[i];
    const a = after[i];
    const row = b ?? a;
    const note = notes.get(row.layer) ?? (b === undefined ? 'not in the input model' : a === undefined ? 'not in the output model' : undefined);
    rows.push({
      layer: row.layer,
      op: row.op,
      weight: row.weight,
      shapeBefore: b?.shape ?? [],
      shapeAfter: a?.shape ?? [],
      paramsBefore: b?.params ?? 0,
      paramsAfter: a?.params ?? 0,
      sparsityBefore: b && b.params ? b.zeros / b.params : 0,
      sparsityAfter: a && a.params ? a.zeros / a.params : 0,
      bytesBefore: b?.bytes ?? 0,
      bytesAfter: a?.bytes ?? 0,
      storage: a?.storage ?? 'dense',
      ...(note === undefined ? {} : { note }),
    });
  }
  return rows;
}

export function pruneTotals(rows: readonly PruneLayerRow[]): PruneTotals {
  const sum = (f: (r: PruneLayerRow) => number): number => rows.reduce((s, r) => s + f(r), 0);
  const paramsBefore = sum((r) => r.paramsBefore);
  const paramsAfter = sum((r) => r.paramsAfter);
  const nonZeroBefore = sum((r) => Math.round(r.paramsBefore * (1 - r.sparsityBefore)));
  const nonZeroAfter = sum((r) => Math.round(r.paramsAfter * (1 - r.sparsityAfter)));
  return {
    layers: rows.length, paramsBefore, paramsAfter, nonZeroBefore, nonZeroAfter,
    sparsityBefore: paramsBefore ? 1 - nonZeroBefore / paramsBefore : 0,
    sparsityAfter: paramsAfter ? 1 - nonZeroAfter / paramsAfter : 0,
    bytesBefore: sum((r) => r.bytesBefore), bytesAfter: sum((r) => r.bytesAfter),
  };
}

const COLUMNS = ['layer', 'op', 'weight shape', 'params before', 'params after', 'sparsity before', 'sparsity after', 'bytes before', 'bytes after', 'note'];
const NUMERIC = ['params before', 'params after', 'sparsity before', 'sparsity after', 'bytes before', 'bytes after'];

export const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;
const dims = (shape: readonly number[]): string => (shape.length === 0 ? '-' : shape.join('x'));

/** The rows as an aligned table with a totals line (weights, non-zeros and bytes of the layers). */
export function formatPruneTable(rows: readonly PruneLayerRow[]): string {
  const cells = rows.map((r) => [
    r.layer,
    r.op,
    dims(r.shapeBefore) === dims(r.shapeAfter) ? dims(r.shapeAfter) : `${dims(r.shapeBefore)} -> ${dims(r.shapeAfter)}`,
    formatCount(r.paramsBefore),
    formatCount(r.paramsAfter),
    percent(r.sparsityBefore),
    percent(r.sparsityAfter),
    formatBytes(r.bytesBefore),
    `${formatBytes(r.bytesAfter)}${r.storage === 'sparse' ? ' (sparse)' : ''}`,
    r.note ?? '',
  ]);
  const t = pruneTotals(rows);
  const fewer = t.nonZeroAfter > 0 ? `, ${(t.nonZeroBefore / t.nonZeroAfter).toFixed(2)}x fewer non-zero weights` : '';
  const totals = [
    'total', '', '', formatCount(t.paramsBefore), formatCount(t.paramsAfter), percent(t.sparsityBefore), percent(t.sparsityAfter),
    formatBytes(t.bytesBefore), formatBytes(t.bytesAfter), `${t.layers} layers${fewer}`,
  ];
  return formatTable(COLUMNS, cells, { numeric: NUMERIC, totals });
}
