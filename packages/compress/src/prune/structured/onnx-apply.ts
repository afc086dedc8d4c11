import { DataType, makeTensor, tensorElementCount, type GraphProto, type NodeProto, type TensorProto } from '@minnow/onnx';
import { floatTensor, intAttr, intAttribute, setAttribute, subgraphs, type NameSource } from '../../quantize/onnx/model-edit.js';
import { axisGroups, gatherAxis, keptPositions } from './channel-map.js';
import type { Cut, OnnxTrace } from './onnx-trace.js';
import type { CountChange, StructuredLayerReport } from './types.js';

/**
 * Writes the chosen channels into the (copied) graph: every cut constant becomes a new, smaller
 * initialiser read by its node in place of the old one (a constant two nodes read is cut for each
 * on its own), Reshape shapes and depthwise Conv group counts follow the channel counts, the old
 * constants nothing reads any more are dropped, and so are the value_info shapes pruning changed.
 */

type KeptOf = (group: number) => readonly number[] | undefined;

const int64Tensor = (name: string, values: readonly number[]): TensorProto => {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return makeTensor(name, DataType.INT64, [values.length], bytes);
};

export function applyEdits(graph: GraphProto, trace: OnnxTrace, keptOf: KeptOf, names: NameSource): void {
  const replaced = new Set<string>();
  const byInput = new Map<NodeProto, Map<number, Cut[]>>();
  for (const cut of trace.cuts) {
    const inputs = byInput.get(cut.node) ?? new Map<number, Cut[]>();
    inputs.set(cut.input, [...(inputs.get(cut.input) ?? []), cut]);
    byInput.set(cut.node, inputs);
  }
  for (const [node, inputs] of byInput) {
    for (const [input, cuts] of inputs) {
      const name = node.input[input];
      let cut = { values: trace.floats(name)!, dims: [...trace.constant(name)!.dims] };
      let changed = false;
      for (const c of cuts) {
        const positions = keptPositions(c.map, keptOf);
        if (positions.length === cut.dims[c.axis]) continue;
        cut = gatherAxis(cut.values, cut.dims, c.axis, positions);
        changed = true;
      }
      if (!changed) continue;
      const tensor = floatTensor(names.fresh(`${name}_pruned`), cut.dims, cut.values);
      graph.initializer.push(tensor);
      replaced.add(name);
      node.input[input] = tensor.name!;
    }
  }
  for (const edit of trace.shapeEdits) {
    const shape = trace.ints(edit.node.input[1])!;
    const length = keptPositions(edit.map, keptOf).length;
    if (shape[edit.index] === length) continue;
    shape[edit.index] = length;
    const tensor = int64Tensor(names.fresh(`${edit.node.input[1]}_pruned`), shape);
    graph.initializer.push(tensor);
    replaced.add(edit.node.input[1]);
    edit.node.input[1] = tensor.name!;
  }
  for (const edit of trace.groupEdits) {
    const length = keptPositions(edit.map, keptOf).length;
    if (intAttribute(edit.node, 'group', 1) !== length) setAttribute(edit.node, intAttr('group', length));
  }
  dropUnread(graph, replaced);
  const changed = new Set<string>();
  for (const [name, flow] of trace.flows) if (axisGroups(flow.map).some((g) => keptOf(g) !== undefined)) changed.add(name);
  graph.valueInfo = graph.valueInfo.filter((v) => !changed.has(v.name ?? ''));
}

/** Removes the `replaced` initialisers and Constant nodes that no node (of any subgraph) and no graph output reads any more. */
function dropUnread(graph: GraphProto, replaced: ReadonlySet<string>): void {
  const read = new Set<string>();
  const visit = (g: GraphProto): void => {
    for (const node of g.node) {
      for (const i of node.input) read.add(i);
      for (const sub of subgraphs(node)) visit(sub.graph);
    }
    for (const o of g.output) read.add(o.name ?? '');
  };
  visit(graph);
  const gone = (name: string): boolean => replaced.has(name) && !read.has(name);
  graph.initializer = graph.initializer.filter((t) => !gone(t.name ?? ''));
  graph.node = graph.node.filter((n) => n.opType !== 'Constant' || (n.domain ?? '') !== '' || !n.output.every(gone));
}

/** Elements in the graph's initialisers. */
export function initializerElements(graph: GraphProto): number {
  return graph.initializer.reduce((n, t) => n + tensorElementCount(t), 0);
}

/** Channels and weight elements of one layer, from its constant inputs. */
interface LayerShape {
  readonly inputs: number;
  readonly outputs: number;
  readonly params: number;
}

type Constants = (name: string) => TensorProto | undefined;

/** A weight layer's shape, or (`cut` given) the channels of the constant cut; undefined for other nodes. */
function layerShape(node: NodeProto, inputs: readonly string[], constant: Constants, cut: Cut | undefined): LayerShape | undefined {
  const params = inputs.reduce((n, name) => {
    const t = name === '' ? undefined : constant(name);
    return n + (t ? tensorElementCount(t) : 0);
  }, 0);
  const d = inputs[1] ? constant(inputs[1])?.dims : undefined;
  if (node.opType === 'Conv' && d?.length) return { inputs: d[1] * intAttribute(node, 'group', 1), outputs: d[0], params };
  if (node.opType === 'Gemm' && d?.length === 2) return intAttribute(node, 'transB', 0) ? { inputs: d[1], outputs: d[0], params } : { inputs: d[0], outputs: d[1], params };
  if (node.opType === 'MatMul' && d?.length === 2) return { inputs: d[0], outputs: d[1], params };
  if (!cut) return undefined;
  const channels = constant(inputs[cut.input])?.dims[cut.axis] ?? 0;
  return { inputs: channels, outputs: channels, params };
}

/**
 * A report row for every Conv, Gemm and MatMul with a constant weight, and every other node that
 * had a constant cut (BatchNormalization, a bias Add): `before` is measured on the node's inputs
 * as they were (`inputsBefore`), `after` on the pruned graph's.
 */
export function layerReports(
  nodes: readonly NodeProto[], trace: OnnxTrace, inputsBefore: ReadonlyMap<NodeProto, readonly string[]>, graph: GraphProto,
): StructuredLayerReport[] {
  const current = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const before: Constants = (name) => trace.constant(name);
  const after: Constants = (name) => current.get(name) ?? trace.constant(name);
  const firstCut = new Map<NodeProto, Cut>();
  for (const c of trace.cuts) if (!firstCut.has(c.node)) firstCut.set(c.node, c);
  const rows: StructuredLayerReport[] = [];
  for (const node of nodes) {
    const cut = firstCut.get(node);
    const a = layerShape(node, inputsBefore.get(node) ?? node.input, before, cut);
    const b = layerShape(node, node.input, after, cut);
    if (!a || !b) continue;
    const change = (k: keyof LayerShape): CountChange => ({ before: a[k], after: b[k] });
    rows.push({ layer: trace.label(node), op: node.opType ?? '', inChannels: change('inputs'), outChannels: change('outputs'), params: change('params') });
  }
  return rows;
}
