import { MinnowError } from '@minnow/core';
import { findOperator, normalizeDomain } from '../exec/registry.js';
import { densifySparse } from '../exec/sparse.js';
import { dataTypeName, tensorValues } from '../ir/tensor.js';
import type { HostData } from '../exec/value.js';
import { DataType, type ModelProto, type NodeProto, type ValueInfoProto } from '../ir/types.js';
import { ConstantTensor } from './context.js';
import { runNodes } from './subgraph.js';

/**
 * The model as the importer reads it: one real input, one output, the nodes in topological order,
 * the constants (initialisers, and every node computable from them alone, folded on minnow's
 * executor), and for each activation the nodes that read it on the way to the output. Nodes the
 * output does not depend on are left out (and counted).
 */

/** The default-domain opsets whose operator forms the importer follows. */
export const IMPORT_OPSETS = { min: 7, max: 22 } as const;

/** Ops with subgraphs: not folded here (random ops say so in the executor's table). */
const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan']);

export const describeNode = (node: NodeProto, index: number): string => `node ${node.name ? `'${node.name}'` : `#${index}`} (${node.opType ?? '?'})`;

export class GraphView {
  readonly opset: number;
  readonly input: ValueInfoProto;
  readonly outputName: string;
  /** The live, non-constant nodes in topological order. */
  readonly nodes: readonly NodeProto[];
  readonly constants = new Map<string, ConstantTensor>();
  /** Non-constant nodes the output does not depend on. */
  readonly ignored: number;
  /** Each node's index in the file (messages) and in topological order (growing regions). */
  private readonly fileIndex = new Map<NodeProto, number>();
  private readonly index = new Map<NodeProto, number>();
  private readonly readers = new Map<string, NodeProto[]>();

  constructor(readonly model: ModelProto, foldBackend: string) {
    const graph = model.graph;
    if (graph === undefined) throw new MinnowError('INVALID_MODEL', 'moduleFromOnnx: the model has no graph');
    this.opset = defaultOpset(model);
    for (const t of graph.initializer) this.constants.set(t.name ?? '', constantOf(t.name ?? '', t.dataType ?? DataType.UNDEFINED, t.dims, () => tensorValues(t)));
    for (const s of graph.sparseInitializer) {
      const value = densifySparse(s);
      this.constants.set(s.values?.name ?? '', new ConstantTensor(s.values?.name ?? '', value.shape, value.elemType, value.hostData()));
    }
    const inputs = graph.input.filter((v) => !this.constants.has(v.name ?? ''));
    if (inputs.length !== 1) {
      throw new MinnowError('UNSUPPORTED_OP', `moduleFromOnnx: the graph has ${inputs.length} inputs (${inputs.map((v) => `'${v.name ?? ''}'`).join(', ')}); an nn Sequential takes exactly one`);
    }
    if (graph.output.length !== 1) {
      throw new MinnowError('UNSUPPORTED_OP', `moduleFromOnnx: the graph has ${graph.output.length} outputs (${graph.output.map((v) => `'${v.name ?? ''}'`).join(', ')}); an nn Sequential gives exactly one`);
    }
    this.input = inputs[0];
    this.outputName = graph.output[0].name ?? '';
    const ordered = topologicalOrder(graph.node, new Set([this.input.name ?? '', ...this.constants.keys()]));
    ordered.forEach((node, i) => this.index.set(node, i));
    graph.node.forEach((node, i) => this.fileIndex.set(node, i));

    const constantNodes: NodeProto[] = [];
    const constantNames = new Set(this.constants.keys());
    for (const node of ordered) {
      if (this.isFoldable(node, constantNames)) {
        constantNodes.push(node);
        for (const o of node.output) if (o !== '') constantNames.add(o);
      }
    }
    const live = this.liveNodes(ordered, constantNames);
    this.nodes = ordered.filter((n) => live.has(n));
    this.ignored = ordered.length - constantNodes.length - this.nodes.length;
    for (const node of this.nodes) {
      for (const name of new Set(node.input)) {
        if (name === '' || constantNames.has(name)) continue;
        this.readers.set(name, [...(this.readers.get(name) ?? []), node]);
      }
    }
    const needed = [...new Set(this.nodes.flatMap((n) => n.input).filter((n) => constantNames.has(n) && !this.constants.has(n)))];
    if (needed.length > 0) this.fold(constantNodes, needed, foldBackend);
  }

  label(node: NodeProto): string {
    return describeNode(node, this.fileIndex.get(node) ?? -1);
  }

  /** Position in topological order (for growing a region in order). */
  order(node: NodeProto): number {
    return this.index.get(node) ?? -1;
  }

  /** The live, non-constant nodes that read `value`. */
  readersOf(value: string): readonly NodeProto[] {
    return this.readers.get(value) ?? [];
  }

  isConstant(name: string): boolean {
    return this.constants.has(name);
  }

  /** Whether the node is in the default domain, deterministic, with no subgraph, and reads only constants. */
  private isFoldable(node: NodeProto, constants: ReadonlySet<string>): boolean {
    if (normalizeDomain(node.domain) !== '' || CONTROL_FLOW.has(node.opType ?? '')) return false;
    if (node.attribute.some((a) => a.g !== undefined || a.graphs.length > 0)) return false;
    const def = findOperator('', node.opType ?? '');
    if (def === undefined || def.foldable === false) return false;
    return node.input.every((i) => i === '' || constants.has(i));
  }

  /** Non-constant nodes the graph output depends on, walking back from it. */
  private liveNodes(ordered: readonly NodeProto[], constants: ReadonlySet<string>): Set<NodeProto> {
    const producer = new Map<string, NodeProto>();
    for (const node of ordered) for (const o of node.output) if (o !== '') producer.set(o, node);
    const live = new Set<NodeProto>();
    const pending = [this.outputName];
    while (pending.length > 0) {
      const name = pending.pop() as string;
      if (constants.has(name)) continue;
      const node = producer.get(name);
      if (node === undefined || live.has(node)) continue;
      live.add(node);
      pending.push(...node.input.filter((i) => i !== ''));
    }
    return live;
  }

  /** Evaluates the constant nodes the chain's values depend on, once, and keeps the values it reads. */
  private fold(allConstantNodes: readonly NodeProto[], needed: readonly string[], backend: string): void {
    const producer = new Map<string, NodeProto>();
    for (const node of allConstantNodes) for (const o of node.output) producer.set(o, node);
    const used = new Set<NodeProto>();
    const pending = [...needed];
    while (pending.length > 0) {
      const node = producer.get(pending.pop() as string);
      if (node === undefined || used.has(node)) continue;
      used.add(node);
      pending.push(...node.input);
    }
    const constantNodes = allConstantNodes.filter((n) => used.has(n));
    const read = new Set(constantNodes.flatMap((n) => n.input));
    const initialisers = [...this.constants.values()].filter((c) => read.has(c.name));
    let folded: Map<string, ConstantTensor>;
    try {
      folded = runNodes(this.model, constantNodes, initialisers, [], needed, backend);
    } catch (error) {
      if (!(error instanceof MinnowError)) throw error;
      throw new MinnowError(error.code, `moduleFromOnnx: folding the constant nodes (${constantNodes.length}) failed: ${error.message}`, { cause: error });
    }
    for (const [name, value] of folded) this.constants.set(name, value);
  }
}

function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => normalizeDomain(o.domain) === '');
  const opset = entry?.version ?? 1;
  if (opset < IMPORT_OPSETS.min || opset > IMPORT_OPSETS.max) {
    throw new MinnowError('UNSUPPORTED_OP', `moduleFromOnnx: the model imports opset ${opset} of the default domain; the importer reads opsets ${IMPORT_OPSETS.min} to ${IMPORT_OPSETS.max}`);
  }
  return opset;
}

function constantOf(name: string, elemType: number, dims: readonly number[], values: () => ReturnType<typeof tensorValues>): ConstantTensor {
  const data = values();
  if (Array.isArray(data)) throw new MinnowError('UNSUPPORTED_DTYPE', `moduleFromOnnx: initialiser '${name}' holds strings (${dataTypeName(elemType)})`);
  return new ConstantTensor(name, dims, elemType, data as HostData);
}

/** Kahn's algorithm keeping the file's order among ready nodes; an unknown input or a cycle is INVALID_MODEL naming the node. */
function topologicalOrder(nodes: readonly NodeProto[], defined: ReadonlySet<string>): NodeProto[] {
  const producer = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const o of node.output) {
      if (o === '') continue;
      if (producer.has(o) || defined.has(o)) throw new MinnowError('INVALID_MODEL', `moduleFromOnnx: ${describeNode(node, i)} writes '${o}', which is already defined`);
      producer.set(o, i);
    }
  });
  const waiting = nodes.map(() => 0);
  const readers = new Map<number, number[]>();
  nodes.forEach((node, i) => {
    for (const name of new Set(node.input)) {
      if (name === '') continue;
      const from = producer.get(name);
      if (from === undefined) {
        if (!defined.has(name)) throw new MinnowError('INVALID_MODEL', `moduleFromOnnx: ${describeNode(node, i)} reads '${name}', which no node produces and is not an input or initialiser`);
        continue;
      }
      waiting[i]++;
      readers.set(from, [...(readers.get(from) ?? []), i]);
    }
  });
  const order: NodeProto[] = [];
  const ready = nodes.map((_, i) => i).filter((i) => waiting[i] === 0);
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift() as number;
    order.push(nodes[i]);
    for (const r of readers.get(i) ?? []) if (--waiting[r] === 0) ready.push(r);
  }
  if (order.length < nodes.length) {
    const stuck = nodes.map((n, i) => (waiting[i] > 0 ? describeNode(n, i) : '')).filter(Boolean);
    throw new MinnowError('INVALID_MODEL', `moduleFromOnnx: the nodes form a cycle (${stuck.slice(0, 5).join(', ')})`);
  }
  return order;
}
