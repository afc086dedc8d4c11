import { makeTensor } from './ir/tensor.js';
import {
  AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type TensorShapeDimension,
  type ValueInfoProto,
} from './ir/types.js';

/**
 * Builds one ONNX graph in order: hands out value names that are unique in it (ONNX requires each
 * name to have exactly one producer), appends single-output nodes, adds constant initialisers, and
 * wraps the result in a ModelProto. The exporter (nn modules) and the TF.js Layers converter both
 * build their graphs through it and never assemble NodeProto or ModelProto fields themselves.
 */

/** One dim of a value's shape: a size, a named symbolic dim ('batch'), or unknown (null). */
export type ValueDim = number | string | null;

/** What `GraphBuilder.build` wraps around the graph. */
export interface BuildOptions {
  readonly graphName: string;
  readonly docString?: string;
  /** The default-domain opset the nodes are written for. */
  readonly opset: number;
  readonly irVersion: number;
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  /** The model's producer_name and, when given, producer_version. */
  readonly producer: { readonly name: string; readonly version?: string };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  /** The initialiser of each float scalar asked for by `floatScalar`, keyed by its value. */
  private readonly scalars = new Map<string, string>();

  /** A name no other value, initialiser or node has: `hint`, or `hint_1`, `hint_2` ... */
  name(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Claims a name exactly as given (a graph input or output keeping its source name); false when it is taken. */
  claim(name: string): boolean {
    if (this.used.has(name)) return false;
    this.used.add(name);
    return true;
  }

  /** Marks names (graph inputs and outputs, weights' own names) as taken before any are generated. */
  reserve(names: Iterable<string>): void {
    for (const name of names) this.used.add(name);
  }

  /** Appends a node with one output, named from `hint`; returns the output's name. */
  node(opType: string, inputs: readonly string[], hint: string, attributes: AttributeProto[] = []): string {
    const output = this.name(hint);
    this.nodes.push({ opType, name: this.name(`${hint}/${opType}`), input: [...inputs], output: [output], attribute: attributes, metadataProps: [] });
    return output;
  }

  /** An initialiser named from `hint`, holding `rawBytes` (little-endian, as raw_data stores them). */
  initializer(hint: string, dataType: DataType, dims: readonly number[], rawBytes: Uint8Array): string {
    const name = this.name(hint);
    this.initializers.push(makeTensor(name, dataType, dims, rawBytes));
    return name;
  }

  /** A float32 constant initialiser named from `hint`; values are rounded to float32. */
  floats(hint: string, values: ArrayLike<number>, dims: readonly number[]): string {
    return this.initializer(hint, DataType.FLOAT, dims, float32Bytes(values));
  }

  /** A 1-D int64 constant initialiser (a shape, pads, axes). */
  int64s(hint: string, values: readonly number[]): string {
    const bytes = new Uint8Array(values.length * 8);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    return this.initializer(hint, DataType.INT64, [values.length], bytes);
  }

  /** A float32 scalar initialiser, shared by every node that asks for the same value. */
  floatScalar(value: number): string {
    const key = String(value);
    let name = this.scalars.get(key);
    if (name === undefined) {
      name = this.floats(`const_${key}`, [value], []);
      this.scalars.set(key, name);
    }
    return name;
  }

  /**
   * Renames the value `from` to `to` wherever a node produces or reads it, so the last value can
   * carry the graph output's name without an extra Identity node.
   */
  rename(from: string, to: string): void {
    for (const node of this.nodes) {
      node.input = node.input.map((n) => (n === from ? to : n));
      node.output = node.output.map((n) => (n === from ? to : n));
    }
  }

  /** Whether some node produces `name` (graph inputs and initialisers are not produced). */
  produces(name: string): boolean {
    return this.nodes.some((node) => node.output.includes(name));
  }

  /** The model: this graph's nodes and initialisers with the given inputs, outputs and header fields. */
  build(options: BuildOptions): ModelProto {
    const { producer, docString } = options;
    return {
      irVersion: options.irVersion,
      opsetImport: [{ domain: '', version: options.opset }],
      producerName: producer.name,
      ...(producer.version !== undefined && { producerVersion: producer.version }),
      ...(docString !== undefined && { docString }),
      graph: {
        name: options.graphName, node: this.nodes, initializer: this.initializers, sparseInitializer: [], input: [...options.inputs],
        output: [...options.outputs], valueInfo: [], quantizationAnnotation: [], metadataProps: [],
      },
      metadataProps: [],
      trainingInfo: [],
      functions: [],
    };
  }
}

/** A tensor value's ValueInfoProto: known dims as sizes, named ones as dim_param, unknown ones left blank. */
export function tensorValueInfo(name: string, elemType: DataType, shape: readonly ValueDim[]): ValueInfoProto {
  const dim = shape.map((d): TensorShapeDimension => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {}));
  return { name, type: { tensorType: { elemType, shape: { dim } } }, metadataProps: [] };
}

/** Little-endian float32 bytes, as raw_data stores them on every platform (a copy: later edits to `values` do not reach the model). */
export function float32Bytes(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  if (LITTLE_ENDIAN) {
    new Float32Array(bytes.buffer).set(values);
    return bytes;
  }
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/** The repeated fields every AttributeProto has, fresh for each (they are mutable arrays). */
const noValues = (): Pick<AttributeProto, 'floats' | 'ints' | 'strings' | 'tensors' | 'graphs' | 'sparseTensors' | 'typeProtos'> => ({
  floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [],
});

/** AttributeProto builders for the four kinds the converters use. */
export const attr = {
  int: (name: string, value: number): AttributeProto => ({ ...noValues(), name, type: AttributeType.INT, i: BigInt(value) }),
  ints: (name: string, values: readonly number[]): AttributeProto => ({ ...noValues(), name, type: AttributeType.INTS, ints: values.map((v) => BigInt(v)) }),
  /** Rounded to float32 here, as the wire format stores it, so the model in memory is the model written. */
  float: (name: string, value: number): AttributeProto => ({ ...noValues(), name, type: AttributeType.FLOAT, f: Math.fround(value) }),
  string: (name: string, value: string): AttributeProto => ({ ...noValues(), name, type: AttributeType.STRING, s: new TextEncoder().encode(value) }),
};
