import { AttributeType, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from '../../ir/types.js';
import { freeNames } from '../graph.js';

/**
 * What a rewrite needs to know about one graph: who produces and who reads each value (nodes,
 * subgraphs reading it from the enclosing scope, the graph's outputs), which values are constants
 * (initialisers, here or in enclosing graphs, and Constant nodes holding a tensor), and fresh names
 * for the values and initialisers a rewrite adds.
 */
export class GraphIndex {
  private readonly producers = new Map<string, NodeProto>();
  private readonly nodeReaders = new Map<string, NodeProto[]>();
  /** Values read by something other than a node's own inputs: graph outputs and subgraph captures. */
  private readonly pinned = new Set<string>();
  private readonly constants = new Map<string, TensorProto>();
  /** Initialisers a rewrite adds, in order. */
  readonly addedInitializers: TensorProto[] = [];

  constructor(readonly graph: GraphProto, outerConstants: ReadonlyMap<string, TensorProto>, private readonly usedNames: Set<string>) {
    for (const [name, t] of outerConstants) this.constants.set(name, t);
    // A graph input shadows an enclosing constant of the same name.
    for (const v of graph.input) this.constants.delete(v.name ?? '');
    for (const t of graph.initializer) this.constants.set(t.name ?? '', t);
    for (const node of graph.node) {
      for (const o of node.output) if (o !== '') this.producers.set(o, node);
      // A node reading a value twice is listed twice: it is then no value's sole reader.
      for (const i of node.input) {
        if (i === '') continue;
        const readers = this.nodeReaders.get(i);
        if (readers === undefined) this.nodeReaders.set(i, [node]);
        else readers.push(node);
      }
      for (const a of node.attribute) for (const g of [...(a.g ? [a.g] : []), ...a.graphs]) for (const n of freeNames(g)) this.pinned.add(n);
      const value = constantNodeTensor(node);
      if (value !== undefined && node.output[0]) this.constants.set(node.output[0], value);
    }
    for (const v of graph.output) this.pinned.add(v.name ?? '');
  }

  /** Constants visible here: what subgraphs of this graph see from outside. */
  get visibleConstants(): ReadonlyMap<string, TensorProto> {
    return this.constants;
  }

  producer(name: string): NodeProto | undefined {
    return this.producers.get(name);
  }

  constant(name: string): TensorProto | undefined {
    return name === '' ? undefined : this.constants.get(name);
  }

  /** The one node that reads `name`, once, when nothing else sees it (no other reader, not a graph output, not captured by a subgraph). */
  soleReader(name: string): NodeProto | undefined {
    const readers = this.nodeReaders.get(name) ?? [];
    return readers.length === 1 && !this.pinned.has(name) ? readers[0] : undefined;
  }

  /** Whether anything still reads `name` once the nodes in `removed` are gone. */
  isRead(name: string, removed: ReadonlySet<NodeProto>): boolean {
    return this.pinned.has(name) || (this.nodeReaders.get(name) ?? []).some((n) => !removed.has(n));
  }

  /** A name no value, node or initialiser of the model uses yet, built from `base`. */
  freshName(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  /** Adds `tensor` as an initialiser under a fresh name built from `base`; returns the name. */
  addInitializer(base: string, tensor: TensorProto): string {
    const name = this.freshName(base);
    const named = { ...tensor, name };
    this.addedInitializers.push(named);
    this.constants.set(name, named);
    return name;
  }
}

/** The tensor a Constant node of the default domain holds in its `value` attribute, if that is how it is given. */
function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  if (node.opType !== 'Constant' || (node.domain !== undefined && node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  const value = node.attribute.find((a) => a.name === 'value');
  return node.attribute.length === 1 && value?.t !== undefined ? value.t : undefined;
}

/** Every name a model's graphs use (values, initialisers, nodes), so added names never collide. */
export function namesIn(graph: GraphProto, into = new Set<string>()): Set<string> {
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) into.add(v.name ?? '');
  for (const t of graph.initializer) into.add(t.name ?? '');
  for (const s of graph.sparseInitializer) into.add(s.values?.name ?? '');
  for (const node of graph.node) {
    if (node.name) into.add(node.name);
    for (const n of [...node.input, ...node.output]) into.add(n);
    for (const a of node.attribute) for (const g of [...(a.g ? [a.g] : []), ...a.graphs]) namesIn(g, into);
  }
  return into;
}

const ATTRIBUTE_FIELDS = { floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };

export const intAttribute = (name: string, value: number): AttributeProto => ({ ...ATTRIBUTE_FIELDS, name, type: AttributeType.INT, i: BigInt(value) });

/** A node of the default domain. */
export function makeNode(opType: string, name: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto {
  return { opType, name, input, output, attribute, domain: '', metadataProps: [] };
}
