import { MinnowError } from '@minnow/core';
import { DataType, int64ToInt32, tensorValues, type GraphProto, type NodeProto, type ShapeInference, type TensorProto } from '@minnow/onnx';
import { attribute, subgraphs } from '../../quantize/onnx/model-edit.js';
import { axisGroups, axisLength, type ChannelAxis } from './channel-map.js';
import type { ChannelGroups } from './groups.js';
import type { ChannelNorm } from './types.js';

/**
 * The state of tracing channel groups through one ONNX graph (the rules per op are in
 * onnx-rules.ts): which values carry which channels on which axis (flows), and the edits pruning
 * will make (cuts of constant tensors, Reshape shapes, depthwise Conv group counts). Each is
 * recorded while tracing and applied once every group's channels are chosen (onnx-apply.ts), so
 * a group blocked late (by a graph output, say) simply keeps every channel in all of them.
 */

/** A value's channels: on `axis` of a rank-`rank` tensor, laid out as `map` says. */
export interface Flow {
  readonly axis: number;
  readonly rank: number;
  readonly map: ChannelAxis;
}

/** Input `input` of `node`, a constant, is cut along `axis` to the positions `map` keeps. */
export interface Cut {
  readonly node: NodeProto;
  readonly input: number;
  readonly axis: number;
  readonly map: ChannelAxis;
}

/** Entry `index` of a Reshape's constant shape holds the length of `map`'s axis, and must follow it. */
export interface ShapeEdit {
  readonly node: NodeProto;
  readonly index: number;
  readonly map: ChannelAxis;
}

/** A depthwise Conv whose `group` attribute must become the length of `map`'s axis. */
export interface GroupEdit {
  readonly node: NodeProto;
  readonly map: ChannelAxis;
}

type Dims = readonly (number | string | undefined)[];

/** Every name read inside a subgraph of `graph` (If branches, Loop bodies ...): their channels cannot be followed there. */
function subgraphReads(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  const visit = (g: GraphProto): void => {
    for (const node of g.node) {
      for (const i of node.input) names.add(i);
      for (const sub of subgraphs(node)) visit(sub.graph);
    }
    for (const o of g.output) names.add(o.name ?? '');
  };
  for (const node of graph.node) for (const sub of subgraphs(node)) visit(sub.graph);
  return names;
}

/**
 * The main graph's nodes in an order where each comes after the nodes it reads (ONNX asks files to
 * be sorted so, but not every writer obeys); a cycle is an INVALID_MODEL error.
 */
export function topologicalOrder(graph: GraphProto): NodeProto[] {
  const producer = new Map<string, number>();
  graph.node.forEach((node, i) => node.output.forEach((o) => o !== '' && producer.set(o, i)));
  // Kahn's algorithm, taking ready nodes in file order (iterative: graphs can be thousands of nodes deep).
  const waiting = graph.node.map(() => 0);
  const readers: number[][] = graph.node.map(() => []);
  graph.node.forEach((node, i) => {
    for (const p of new Set(node.input.flatMap((name) => (producer.has(name) ? [producer.get(name)!] : [])))) {
      waiting[i]++;
      readers[p].push(i);
    }
  });
  const ready = graph.node.flatMap((_, i) => (waiting[i] === 0 ? [i] : []));
  const order: NodeProto[] = [];
  for (let k = 0; k < ready.length; k++) {
    const i = ready[k];
    order.push(graph.node[i]);
    for (const r of readers[i]) if (--waiting[r] === 0) ready.push(r);
  }
  if (order.length !== graph.node.length) {
    const stuck = graph.node.find((_, i) => waiting[i] > 0)!;
    throw new MinnowError('INVALID_MODEL', `pruneChannelsOnnx: the graph has a cycle through node '${stuck.name || stuck.output[0]}'`);
  }
  return order;
}

export class OnnxTrace {
  readonly flows = new Map<string, Flow>();
  readonly cuts: Cut[] = [];
  readonly shapeEdits: ShapeEdit[] = [];
  readonly groupEdits: GroupEdit[] = [];
  private readonly initializers = new Map<string, TensorProto>();
  private readonly constantNodes = new Map<string, TensorProto>();

  constructor(
    readonly graph: GraphProto,
    private readonly shapes: ShapeInference,
    readonly groups: ChannelGroups,
    readonly norm: ChannelNorm,
    readonly opset: number,
  ) {
    // An initialiser that is also a graph input is only a default the caller may override: not a constant.
    const inputs = new Set(graph.input.map((v) => v.name ?? ''));
    for (const t of graph.initializer) if (!inputs.has(t.name ?? '')) this.initializers.set(t.name ?? '', t);
    for (const node of graph.node) {
      const value = node.opType === 'Constant' && (node.domain ?? '') === '' ? attribute(node, 'value')?.t : undefined;
      if (value !== undefined && node.output[0]) this.constantNodes.set(node.output[0], value);
    }
  }

  /** How nodes are named in reports and messages. */
  label(node: NodeProto): string {
    return node.name || `${node.opType ?? '?'}(${node.output[0] ?? ''})`;
  }

  /** The constant tensor a name holds (an initialiser or a Constant node's output), if it is one. */
  constant(name: string | undefined): TensorProto | undefined {
    if (name === undefined || name === '') return undefined;
    return this.initializers.get(name) ?? this.constantNodes.get(name);
  }

  /** A constant's float32 values, or undefined when the name is no float32 constant. */
  floats(name: string | undefined): Float32Array | undefined {
    const t = this.constant(name);
    return t?.dataType === DataType.FLOAT ? (tensorValues(t) as Float32Array) : undefined;
  }

  /** A constant integer list (Reshape shapes, axes inputs), or undefined. */
  ints(name: string | undefined): number[] | undefined {
    const t = this.constant(name);
    if (t === undefined || (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32)) return undefined;
    const values = tensorValues(t);
    return [...(t.dataType === DataType.INT64 ? int64ToInt32(values as BigInt64Array, `'${name}'`) : (values as Int32Array))];
  }

  /** A value's dims: a constant's own, else what shape inference found (undefined when unknown). */
  dims(name: string): Dims | undefined {
    const t = this.constant(name);
    return t !== undefined ? t.dims : this.shapes.values.get(name)?.dims;
  }

  rank(name: string): number | undefined {
    return this.dims(name)?.length;
  }

  flow(name: string | undefined): Flow | undefined {
    return name ? this.flows.get(name) : undefined;
  }

  setFlow(name: string | undefined, flow: Flow | undefined): void {
    if (name && flow) this.flows.set(name, flow);
  }

  /** Blocks every group in `flow` (a no-op without one). */
  block(flow: Flow | undefined, reason: string): void {
    if (flow) for (const g of axisGroups(flow.map)) this.groups.block(g, reason);
  }

  /** Blocks the groups of every traced input of `node`. */
  blockInputs(node: NodeProto, reason: string): void {
    for (const name of node.input) this.block(this.flow(name), reason);
  }

  follow(flow: Flow, node: NodeProto): void {
    for (const g of axisGroups(flow.map)) this.groups.follow(g, this.label(node));
  }

  /**
   * Records that constant input `input` of `node` loses the positions `map` drops along `axis`.
   * A missing, non-float32 or wrongly sized constant blocks the groups instead; returns whether
   * the cut was recorded.
   */
  cut(node: NodeProto, input: number, axis: number, map: ChannelAxis): boolean {
    const name = node.input[input];
    const t = this.constant(name);
    const where = `input ${input} of ${node.opType} '${this.label(node)}'`;
    const reason = t === undefined ? `${where} is not a constant`
      : t.dataType !== DataType.FLOAT ? `${where} ('${name}') is not float32`
      : t.dims[axis] !== axisLength(map) ? `${where} ('${name}') has ${t.dims[axis]} entries on axis ${axis}, the channels ${axisLength(map)}`
      : undefined;
    if (reason !== undefined) {
      for (const g of axisGroups(map)) this.groups.block(g, reason);
      return false;
    }
    for (const g of axisGroups(map)) this.groups.follow(g, this.label(node));
    this.cuts.push({ node, input, axis, map });
    return true;
  }

  /** At the end: channels that leave the graph, or are read inside a subgraph, stay. */
  finish(): void {
    for (const o of this.graph.output) this.block(this.flow(o.name), `'${o.name ?? ''}' is a graph output`);
    for (const name of subgraphReads(this.graph)) this.block(this.flow(name), `'${name}' is read inside a subgraph`);
  }
}
