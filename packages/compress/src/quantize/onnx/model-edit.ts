import { MinnowError } from '@minnow/core';
import {
  AttributeType, DataType, makeTensor, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto,
} from '@minnow/onnx';

/**
 * The small toolkit the graph transforms share: a structural copy of a model (so the caller's
 * model is never changed), graph scopes (a subgraph sees its parents' initialisers), fresh names,
 * and builders for nodes, attributes and tensors.
 */

/** One graph of the model and the graph that encloses it (undefined for the main graph). */
export interface GraphScope {
  readonly graph: GraphProto;
  readonly parent: GraphScope | undefined;
  /** A readable path for messages and report rows: `main`, `main/node_cond__1.then_branch`. */
  readonly path: string;
}

function cloneGraph(graph: GraphProto): GraphProto {
  return {
    ...graph,
    node: graph.node.map(cloneNode),
    initializer: [...graph.initializer],
    sparseInitializer: [...graph.sparseInitializer],
    input: [...graph.input],
    output: [...graph.output],
    valueInfo: [...graph.valueInfo],
    quantizationAnnotation: [...graph.quantizationAnnotation],
    metadataProps: [...graph.metadataProps],
  };
}

function cloneNode(node: NodeProto): NodeProto {
  return {
    ...node,
    input: [...node.input],
    output: [...node.output],
    metadataProps: [...node.metadataProps],
    attribute: node.attribute.map((a) => ({ ...a, g: a.g && cloneGraph(a.g), graphs: a.graphs.map(cloneGraph) })),
  };
}

/**
 * A copy of the model's structure (graphs, nodes, attributes, lists) that can be edited freely.
 * Tensors are shared, not copied: the transforms replace tensors, they never write into one.
 */
export function cloneModel(model: ModelProto): ModelProto {
  if (model.graph === undefined) throw new MinnowError('INVALID_MODEL', 'quantize: the model has no graph');
  return { ...model, opsetImport: model.opsetImport.map((o) => ({ ...o })), graph: cloneGraph(model.graph) };
}

/** The graphs held in a node's attributes (If branches, Loop and Scan bodies), with the attribute's name. */
export function subgraphs(node: NodeProto): { name: string; graph: GraphProto }[] {
  const out: { name: string; graph: GraphProto }[] = [];
  for (const a of node.attribute) {
    if (a.g) out.push({ name: a.name ?? '', graph: a.g });
    a.graphs.forEach((g, i) => out.push({ name: `${a.name ?? ''}[${i}]`, graph: g }));
  }
  return out;
}

/** Every graph of the model, parents before the subgraphs they hold. */
export function graphScopes(model: ModelProto): GraphScope[] {
  const out: GraphScope[] = [];
  const visit = (graph: GraphProto, parent: GraphScope | undefined, path: string): void => {
    const scope: GraphScope = { graph, parent, path };
    out.push(scope);
    graph.node.forEach((node, index) => {
      for (const sub of subgraphs(node)) visit(sub.graph, scope, `${path}/${node.name || `${node.opType ?? '?'}#${index}`}.${sub.name}`);
    });
  };
  visit(model.graph!, undefined, 'main');
  return out;
}

/**
 * The initialiser `name` resolves to from inside `scope`, and the scope that holds it; undefined
 * when the name is a graph input or node output on the way out (those shadow outer initialisers).
 */
export function findInitializer(scope: GraphScope, name: string): { tensor: TensorProto; owner: GraphScope } | undefined {
  for (let s: GraphScope | undefined = scope; s !== undefined; s = s.parent) {
    const tensor = s.graph.initializer.find((t) => t.name === name);
    if (tensor !== undefined) return { tensor, owner: s };
    if (s.graph.input.some((v) => v.name === name) || s.graph.node.some((n) => n.output.includes(name))) return undefined;
  }
  return undefined;
}

/** Hands out names no graph of the model uses yet (value, initialiser and node names share one pool). */
export class NameSource {
  private readonly used = new Set<string>();

  constructor(model: ModelProto) {
    for (const { graph } of graphScopes(model)) {
      for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) this.used.add(v.name ?? '');
      for (const t of graph.initializer) this.used.add(t.name ?? '');
      for (const node of graph.node) {
        this.used.add(node.name ?? '');
        for (const n of [...node.input, ...node.output]) this.used.add(n);
      }
    }
  }

  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

// ------------------------------------------------------------------------------------------------
// attributes

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a?.i === undefined ? fallback : Number(a.i);
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  return attribute(node, name)?.f ?? fallback;
}

const emptyAttribute = (name: string, type: number): AttributeProto => ({
  name, type, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [],
});

export const intAttr = (name: string, value: number): AttributeProto => ({ ...emptyAttribute(name, AttributeType.INT), i: BigInt(value) });
export const floatAttr = (name: string, value: number): AttributeProto => ({ ...emptyAttribute(name, AttributeType.FLOAT), f: value });

/** Sets (or replaces) an attribute on a node. */
export function setAttribute(node: NodeProto, attr: AttributeProto): void {
  node.attribute = [...node.attribute.filter((a) => a.name !== attr.name), attr];
}

export function makeNode(opType: string, input: readonly string[], output: readonly string[], name: string, attribute: AttributeProto[] = [], domain?: string): NodeProto {
  return { opType, input: [...input], output: [...output], name, attribute, metadataProps: [], ...(domain ? { domain } : {}) };
}

// ------------------------------------------------------------------------------------------------
// tensors

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export const floatTensor = (name: string, dims: readonly number[], values: Float32Array): TensorProto =>
  makeTensor(name, DataType.FLOAT, dims, bytesOf(values));
export const int32Tensor = (name: string, dims: readonly number[], values: Int32Array): TensorProto =>
  makeTensor(name, DataType.INT32, dims, bytesOf(values));

/** A zero point of ONNX type `dataType` (int8, uint8, int16, uint16, int4, uint4) holding `values`. */
export function zeroPointTensor(name: string, dataType: number, dims: readonly number[], values: ArrayLike<number>, pack: (v: ArrayLike<number>, signed: boolean) => Uint8Array): TensorProto {
  if (dataType === DataType.INT4 || dataType === DataType.UINT4) return makeTensor(name, dataType, dims, pack(values, dataType === DataType.INT4));
  const bytes = dataType === DataType.INT8 ? bytesOf(Int8Array.from(values))
    : dataType === DataType.UINT16 ? bytesOf(Uint16Array.from(values))
    : dataType === DataType.INT16 ? bytesOf(Int16Array.from(values))
    : Uint8Array.from(values);
  return makeTensor(name, dataType, dims, bytes);
}
